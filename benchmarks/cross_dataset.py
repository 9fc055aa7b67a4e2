"""Score models on every dataset's test split the way a user runs them: `earnet segment`
on the test photographs (FOV derived, the resolution rule, the model's own threshold),
then `earnet evaluate` inside the dataset's FOV masks against the first observer.

A model trained on one dataset and scored on another gives the cross-dataset table;
the threshold is always the one the model recorded (chosen on its own validation
images), never one fitted to the target dataset.

    python benchmarks/cross_dataset.py --model drive-base=runs/drive-base.safetensors \\
        --model all --datasets drive,chase_db1,stare --root ../shared/data \\
        --work runs/cross --results benchmarks/results/cross_dataset.json

Each `--model` is `LABEL=BUNDLE` or a bundled model's name. Results: one record per
(model, dataset) with pooled and mean F1/AUC and the command, date and machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from results_file import labelled_model, read_records, upsert, write_results

from earnet.data.registry import DATASETS, get_dataset

REPORTED = ("f1", "auc_roc", "acc", "se", "sp", "mcc")


def earnet(*args: str) -> None:
    """Run an earnet command as a user would (fails loudly)."""
    subprocess.run([sys.executable, "-m", "earnet", *args], check=True, stdout=subprocess.DEVNULL)


def score(model: str, dataset: str, root: Path, work: Path) -> dict[str, object]:
    """Segment ``dataset``'s test photographs with ``model`` and evaluate them."""
    data_root = root / DATASETS[dataset].folder_name
    images = [str(files.image) for files in get_dataset(dataset, root=data_root, split="test").files]
    predictions, evaluation = work / "predictions", work / "evaluation"
    earnet("segment", *images, "--model", model, "--out", str(predictions), "--no-progress")
    earnet("evaluate", dataset, "--root", str(data_root), "--predictions", str(predictions), "--out", str(evaluation))
    metrics = json.loads((evaluation / "metrics.json").read_text())
    return {"pooled": {k: metrics["pooled"][k] for k in REPORTED}, "mean_f1": metrics["mean"]["f1"],
            "std_f1": metrics["std"]["f1"], "images": len(images)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=BUNDLE|NAME")
    parser.add_argument("--datasets", default="drive,chase_db1,stare")
    parser.add_argument("--root", type=Path, default=Path("../shared/data"), help="folder holding DRIVE/, CHASEDB1/, …")
    parser.add_argument("--work", type=Path, default=Path("runs/cross"), help="where predictions are written")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()

    records = read_records(args.results)
    for item in args.model:
        label, model = labelled_model(item)
        for dataset in args.datasets.split(","):
            record = score(model, dataset, args.root, args.work / label / dataset)
            records = upsert(records, {"model": label, "bundle": model, "dataset": dataset, **record}, "model", "dataset")
            print(f"{label:>24} on {dataset:<10} F1 {record['pooled']['f1']:.4f}  AUC {record['pooled']['auc_roc']:.4f}",
                  flush=True)
    write_results(args.results, protocol="test split; `earnet segment` (derived FOV, resolution rule, the model's "
                  "threshold) then `earnet evaluate` inside the dataset's FOV against the first observer; pooled over "
                  "pixels", records=records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
