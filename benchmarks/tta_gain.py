"""Does test-time augmentation pay for its time? Scored on validation images only.

For each run, its stage segments the run's own validation images (``split.json``:
training images held out, never trained on, never test) with ``--tta none``, ``flip``
and ``ms``, the way ``earnet segment`` does (derived FOV, the resolution rule, the
run's threshold). Reported: pooled F1 and AUC-ROC inside the derived FOV, and the
median seconds per image (relative cost; absolute timings belong to bench_segment.py).

    python benchmarks/tta_gain.py runs/drive-camera-augment/*-s0 runs/drive-camera-augment/*-s1 \\
        --results benchmarks/results/tta_gain.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from results_file import write_results
from validation import score, validation_samples

from earnet.segment import load_segmenter

MODES = ("none", "flip", "ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--stage", default="stage1")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                        help="TTA modes to compare; the first is the baseline (default: none flip ms)")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    records = []
    for run in args.runs:
        samples = validation_samples(run)
        for tta in args.modes:
            pooled, seconds = score(load_segmenter(run, tta=tta, stage=args.stage), samples)
            record = {"run": str(run), "stage": args.stage, "tta": tta, "f1": pooled["f1"],
                      "auc_roc": pooled["auc_roc"], "seconds_per_image": float(np.median(seconds)),
                      "images": len(seconds)}
            records.append(record)
            print(f"{run.name:>28} tta {tta:<4} F1 {record['f1']:.4f} AUC {record['auc_roc']:.4f} "
                  f"{record['seconds_per_image']:.2f} s/image", flush=True)
    count = len(args.modes)
    gains = {tta: [r["f1"] - base["f1"] for r, base in zip(records[i::count], records[0::count])]
             for i, tta in enumerate(args.modes) if i > 0}
    document = write_results(
        args.results, protocol="each run's own validation images (split.json), derived FOV, the run's threshold; "
        "pooled F1/AUC-ROC; seconds are medians under whatever load the machine had (relative only)",
        f1_gain_mean={tta: float(np.mean(v)) for tta, v in gains.items()},
        f1_gain_std={tta: float(np.std(v, ddof=1)) if len(v) > 1 else None for tta, v in gains.items()},
        records=records)
    print(json.dumps({k: document[k] for k in ("f1_gain_mean", "f1_gain_std")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
