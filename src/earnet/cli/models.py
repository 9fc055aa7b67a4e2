"""``earnet models``: the pretrained models shipped with earnet."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet models``."""
    parser = subparsers.add_parser("models", help="list the bundled pretrained models and their test metrics",
                                   description="List the pretrained models shipped with earnet.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per bundled model (A/V acc: artery/vein accuracy on RITE test, for A/V bundles)."""
    from earnet.bundle import (  # imports torch: only when listing
        bundled_models,
        read_bundle_metadata,
    )

    models = bundled_models()
    if not models:
        print("no bundled models in this installation")
        return 0
    rows = [("name", "backbone", "refinement", "trained on", "test F1", "AUC", "A/V acc", "size")]
    for name, path in models.items():
        meta = read_bundle_metadata(path)
        metrics = meta.get("test_metrics", {})
        scores = [format(metrics[k], ".4f") if isinstance(metrics.get(k), float) else "-" for k in ("f1", "auc_roc")]
        av = meta.get("av") if isinstance(meta.get("av"), dict) else {}
        av_acc = av.get("test_metrics", {}).get("acc")
        trained_on = meta.get("dataset", "?") + (f" + {av.get('dataset', '?')} (A/V)" if av else "")
        rows.append((name, meta["backbone"], meta["refinement"], trained_on, *scores,
                     format(av_acc, ".4f") if isinstance(av_acc, float) else "-", f"{path.stat().st_size / 1e6:.2f}MB"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i < 4 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    return 0
