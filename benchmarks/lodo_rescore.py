"""Leave-one-dataset-out runs scored on the unseen dataset's test split at two thresholds: the
one the run chose (pooled over its validation pixels, the rule until session 11) and the one the
current rule chooses on the same validation images (best mean of the per-dataset F1s). Both are
chosen without the unseen dataset; full-size maps through the segment path, no TTA (``--tta flip``:
both thresholds chosen and applied with flips; the run's own threshold was chosen without them).

    python benchmarks/lodo_rescore.py --root ../shared/data \\
        --run runs/leave-one-out-chase_db1/s0:chase_db1 ... --results benchmarks/results/lodo_rescore.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from results_file import write_results
from validation import rule_threshold

from earnet.config import TrainConfig
from earnet.data.registry import DATASETS
from earnet.engine.run import dataset_split
from earnet.metrics import MetricAccumulator
from earnet.segment import load_segmenter


def rescore(run: Path, unseen: str, root: Path, tta: str = "none") -> dict:
    """The run's own and the balanced rule's threshold, and the unseen test split's pooled F1 at each."""
    segmenter = load_segmenter(run, tta=tta)
    balanced, _, _ = rule_threshold(segmenter, run)
    own = MetricAccumulator(segmenter.threshold)
    new = MetricAccumulator(balanced)
    test = dataset_split(TrainConfig(dataset=unseen, root=str(root / DATASETS[unseen].folder_name)), "test")
    for sample in test:
        probability = segmenter.segment(sample.image, fov=sample.fov, attention=False).probability
        own.add(sample.id, probability, sample.label, sample.fov)
        new.add(sample.id, probability, sample.label, sample.fov)
    return {"run": str(run), "unseen": unseen, "tta": tta, "own_threshold": segmenter.threshold, "balanced_threshold": balanced,
            "own": {k: own.pooled()[k] for k in ("f1", "auc_roc")}, "balanced": {k: new.pooled()[k] for k in ("f1", "auc_roc")}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, help="RUN:UNSEEN_DATASET")
    parser.add_argument("--root", type=Path, required=True, help="folder holding DRIVE/, CHASEDB1/, STARE/")
    parser.add_argument("--tta", default="none", choices=("none", "flip"), help="test-time augmentation (default: none)")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    records = []
    for item in args.run:
        run, unseen = item.rsplit(":", 1)
        record = rescore(Path(run), unseen, args.root, args.tta)
        records.append(record)
        print(f"{run}: own {record['own_threshold']:.3f} -> F1 {record['own']['f1']:.4f}, balanced "
              f"{record['balanced_threshold']:.3f} -> F1 {record['balanced']['f1']:.4f}", flush=True)
    write_results(args.results, records=records, protocol="unseen dataset's test split (dataset FOV masks), pooled; "
                  "thresholds from the run's validation images only; full-size segment path, TTA " + args.tta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
