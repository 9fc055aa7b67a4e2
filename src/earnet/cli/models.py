"""``earnet models``: the pretrained models shipped with earnet."""

from __future__ import annotations

import argparse

from earnet.bundle import bundled_models, read_bundle_metadata


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet models``."""
    parser = subparsers.add_parser("models", help="list the bundled pretrained models and their test metrics",
                                   description="List the pretrained models shipped with earnet.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per bundled model."""
    models = bundled_models()
    if not models:
        print("no bundled models in this installation")
        return 0
    print(f"{'name':<12}{'backbone':<10}{'refinement':<12}{'trained on':<12}{'test F1':>8}{'AUC':>8}{'size':>9}")
    for name, path in models.items():
        meta = read_bundle_metadata(path)
        metrics = meta.get("test_metrics", {})
        f1, auc = metrics.get("f1"), metrics.get("auc_roc")
        print(f"{name:<12}{meta['backbone']:<10}{meta['refinement']:<12}{meta.get('dataset', '?'):<12}"
              f"{f1 if f1 is None else format(f1, '.4f'):>8}{auc if auc is None else format(auc, '.4f'):>8}"
              f"{path.stat().st_size / 1e6:>7.2f}MB")
    return 0
