"""Which validation threshold rule transfers to a camera a model never saw?

For each multi-dataset run (e.g. leave-one-dataset-out), the threshold is chosen on the run's
validation images two ways: ``pooled`` (best F1 over all validation pixels: the dataset with the
most pixels decides) and ``balanced`` (best mean of the per-dataset F1s: each camera counts once).
Both are then scored on the *training* images of the dataset the run never saw (no test image is
read), beside the best threshold there (``oracle``). Full-size maps through the segment path
(the derived FOV, the resolution rule), no TTA; thresholds on a 0.01 grid.

    python benchmarks/threshold_rule_probe.py --root ../shared/data \\
        --run runs/leave-one-out-chase_db1/s0:chase_db1 --run runs/leave-one-out-drive/s0:drive \\
        --results benchmarks/results/threshold_balanced_probe.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from results_file import write_results
from validation import validation_samples

from earnet.config import TrainConfig
from earnet.data.registry import DATASETS
from earnet.engine.run import Run, dataset_split
from earnet.segment import Segmenter, load_segmenter
from earnet.types import Sample

GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
Counts = tuple[np.ndarray, np.ndarray, int]  # true positives and false positives per grid threshold, positives


def grid_counts(probability: np.ndarray, label: np.ndarray, fov: np.ndarray) -> Counts:
    """True and false positives at each grid threshold inside ``fov``, and the positives."""
    p, positive = probability[fov], label[fov].astype(bool)
    return (np.array([(p[positive] >= t).sum() for t in GRID]), np.array([(p[~positive] >= t).sum() for t in GRID]),
            int(positive.sum()))


def add(a: Counts | None, b: Counts) -> Counts:
    """Counts summed (``a`` may be the empty start)."""
    return b if a is None else (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def f1(counts: Counts) -> np.ndarray:
    """F1 at each grid threshold."""
    tp, fp, positives = counts
    return 2 * tp / np.maximum(2 * tp + fp + (positives - tp), 1)


def source_of(sample_id: str, names: list[str]) -> str:
    """The dataset a combined dataset's sample id comes from (its prefix)."""
    return max((n for n in names if sample_id.startswith(n + "_")), key=len, default=names[0])


def counts_over(segmenter: Segmenter, samples: list[Sample]) -> Counts | None:
    """Grid counts summed over ``samples``, each segmented as ``earnet segment`` does."""
    total = None
    for sample in samples:
        result = segmenter.segment(sample.image, attention=False)
        total = add(total, grid_counts(result.probability, sample.label, result.fov))
    return total


def probe(run: Path, unseen: str, root: Path) -> dict:
    """Both rules' thresholds on ``run``'s validation images, scored on ``unseen``'s training images."""
    segmenter = load_segmenter(run, tta="none")
    names = Run(run).config().dataset.split("+")
    per_source: dict[str, list[Sample]] = {}
    for sample in validation_samples(run):
        per_source.setdefault(source_of(sample.id, names), []).append(sample)
    by_source = {name: counts_over(segmenter, samples) for name, samples in per_source.items()}
    pooled = None
    for counts in by_source.values():
        pooled = add(pooled, counts)
    t_pooled = GRID[int(np.argmax(f1(pooled)))]
    t_balanced = GRID[int(np.argmax(np.mean([f1(c) for c in by_source.values()], axis=0)))]
    unseen_f1 = f1(counts_over(segmenter, list(dataset_split(
        TrainConfig(dataset=unseen, root=str(root / DATASETS[unseen].folder_name)), "train"))))
    at = {float(t): float(v) for t, v in zip(GRID, unseen_f1)}
    return {"run": str(run), "unseen": unseen, "own_threshold": round(segmenter.threshold, 3),
            "validation_images": {k: len(v) for k, v in per_source.items()},
            "pooled": {"threshold": float(t_pooled), "unseen_f1": at[float(t_pooled)]},
            "balanced": {"threshold": float(t_balanced), "unseen_f1": at[float(t_balanced)]},
            "oracle": {"threshold": float(GRID[int(np.argmax(unseen_f1))]), "unseen_f1": float(unseen_f1.max())}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, help="RUN:UNSEEN_DATASET")
    parser.add_argument("--root", type=Path, required=True, help="folder holding DRIVE/, CHASEDB1/, STARE/")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    records = []
    for item in args.run:
        run, unseen = item.rsplit(":", 1)
        record = probe(Path(run), unseen, args.root)
        records.append(record)
        print(f"{run}: pooled {record['pooled']['threshold']:.2f} -> {record['pooled']['unseen_f1']:.4f}, "
              f"balanced {record['balanced']['threshold']:.2f} -> {record['balanced']['unseen_f1']:.4f}, "
              f"oracle {record['oracle']['threshold']:.2f} -> {record['oracle']['unseen_f1']:.4f}", flush=True)
    write_results(args.results, records=records, protocol="unseen dataset's training images; validation threshold rules "
                  "pooled vs per-dataset balanced; full-size segment path, no TTA")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
