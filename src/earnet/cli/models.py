"""``earnet models``: the pretrained models shipped with earnet."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet models``."""
    parser = subparsers.add_parser("models", help="list the bundled pretrained models and their test metrics",
                                   description="List the pretrained models shipped with earnet.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per bundled model, then the per-dataset test F1 of multi-dataset models.

    TTA is the model's default test-time augmentation (bundle metadata ``tta``).
    test F1 / AUC are pooled over the test splits of the datasets a model was trained on
    (for ``drive+chase_db1+stare``, all 38 test images); A/V acc: artery/vein accuracy on
    RITE test, for A/V bundles.
    """
    from earnet.bundle import (  # imports torch: only when listing
        bundled_models,
        read_bundle_metadata,
    )

    models = bundled_models()
    if not models:
        print("no bundled models in this installation")
        return 0
    by_dataset: list[str] = []
    rows = [("name", "backbone", "refinement", "TTA", "trained on", "test F1", "AUC", "A/V acc", "size")]
    for name, path in models.items():
        meta = read_bundle_metadata(path)
        metrics = meta.get("test_metrics", {})
        scores = [format(metrics[k], ".4f") if isinstance(metrics.get(k), float) else "-" for k in ("f1", "auc_roc")]
        av = meta.get("av") if isinstance(meta.get("av"), dict) else {}
        av_acc = av.get("test_metrics", {}).get("acc")
        trained_on = meta.get("dataset", "?") + (f" + {av.get('dataset', '?')} (A/V)" if av else "")
        rows.append((name, meta["backbone"], meta["refinement"], meta.get("tta", "none"), trained_on, *scores,
                     format(av_acc, ".4f") if isinstance(av_acc, float) else "-", f"{path.stat().st_size / 1e6:.2f}MB"))
        per_dataset = meta.get("test_metrics_by_dataset")
        if isinstance(per_dataset, dict) and per_dataset:
            by_dataset.append(f"  {name}: " + ", ".join(
                f"{dataset} {scores['f1']:.4f}" for dataset, scores in per_dataset.items()
                if isinstance(scores, dict) and isinstance(scores.get("f1"), float)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i < 5 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print("\nTTA: the test-time augmentation a model runs with by default, its threshold and test metrics "
          "measured so (flip: 4 passes, ~3x the time; --tta none for the fast path)")
    print("test F1 and AUC: pooled over the test splits of the datasets each model was trained on")
    if by_dataset:
        print("test F1 by dataset (the same test images, each dataset alone):")
        print("\n".join(by_dataset))
    return 0
