"""Does EAR-Net's stage 2 pay beyond the noise, and beyond simply training longer?

For each stage-1 run (one seed), three numbers are paired on the same validation split
and the same test images: stage 1, each stage-2 variant trained on top of it, and a
*control*: the same stage 1 trained for as many more epochs as stage 2 (``earnet train
--stage 1 --init RUN --epochs N --lr STAGE2_LR``, in CONTROL_ROOT/<run name>). The gain of
a variant is its score minus its own stage 1's; mean ± sample std over the runs (n − 1).

    python benchmarks/stage2_gain.py runs/drive-camera-augment/*-s[01] --control-root runs/drive-stage1-more \\
        --results benchmarks/results/stage2_gain_wnet_drive.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from results_file import write_results

METRICS = ("val_f1", "test_f1", "test_auc_roc")


def scores(run: Path, stage: str) -> dict[str, float] | None:
    """Best validation F1 and pooled test F1 / AUC of one stage of a run folder (None if not tested)."""
    info, test = run / stage / "stage.json", run / "test" / stage / "metrics.json"
    if not (info.is_file() and test.is_file()):
        return None
    pooled = json.loads(test.read_text())["pooled"]
    return {"val_f1": json.loads(info.read_text())["best_val_f1"], "test_f1": pooled["f1"],
            "test_auc_roc": pooled["auc_roc"]}


def summary(values: list[float]) -> dict[str, float | int | None]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values), "positive": sum(v > 0 for v in values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders with a tested stage 1")
    parser.add_argument("--control-root", type=Path, help="folder holding one control run per run name")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    gains: dict[str, dict[str, list[float]]] = {}
    per_run = []
    for run in args.runs:
        base = scores(run, "stage1")
        if base is None:
            continue
        arms = {p.name: scores(run, p.name) for p in sorted(run.glob("stage2-*"))}
        if args.control_root:
            arms["control: stage 1 trained longer"] = scores(args.control_root / run.name, "stage1")
        row = {"run": run.name, "stage1": base}
        for arm, value in arms.items():
            if value is None:
                continue
            row[arm] = value
            for metric in METRICS:
                gains.setdefault(arm, {m: [] for m in METRICS})[metric].append(value[metric] - base[metric])
        per_run.append(row)
    table = {arm: {metric: summary(values) for metric, values in by_metric.items()}
             for arm, by_metric in gains.items()}
    for arm, by_metric in table.items():
        cells = "  ".join(f"{m} {s['mean']:+.4f} ± {s['std'] or float('nan'):.4f} ({s['positive']}/{s['n']} > 0)"
                          for m, s in by_metric.items())
        print(f"{arm:<34} {cells}")
    write_results(args.results, protocol="gain = arm minus its own run's stage 1 (same split, same test images); "
                  "mean ± sample std over runs; val_f1 = best validation F1, test = pooled over the test split",
                  gains=table, runs=per_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
