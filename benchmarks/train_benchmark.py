"""Train and evaluate EAR-Net variants on a dataset's standard split; record the numbers.

Variants: stage 1 alone; stage 2 ``correct`` and ``paper`` on out-of-fold error maps;
and (``--in-sample``) both modes on in-sample error maps as in the authors' code.
Every stage is selected on validation images carved from the training split and
evaluated once on the test split (FOV-masked, threshold chosen on validation).

    python benchmarks/train_benchmark.py drive --root ../shared/data/DRIVE --out runs/bench-drive --in-sample
    python benchmarks/train_benchmark.py stare --root ../shared/data/STARE --out runs/bench-stare \\
        --set epochs=20 --set fold_epochs=6
    python benchmarks/train_benchmark.py drive+chase_db1+stare --root ../shared/data --out runs/bench-all \\
        --variants correct-in_sample,paper-in_sample

Results go to benchmarks/results/<dataset>.json (a re-run resumes the run folder).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from earnet.config import config_from_dict, dataset_defaults
from earnet.engine.pipeline import run_errors, run_stage1, run_stage2
from earnet.engine.report import evaluate_stage
from earnet.engine.run import Run, dataset_split, git_revision, open_run
from earnet.inference.loader import from_run
from earnet.inference.predictor import Predictor
from earnet.models.registry import count_parameters

RESULTS = Path(__file__).parent / "results"
VARIANTS = {"correct": (False, "correct"), "paper": (False, "paper"),
            "correct-in_sample": (True, "correct"), "paper-in_sample": (True, "paper")}
REPORTED = ("f1", "auc_roc", "acc", "se", "sp", "mcc", "auc_pr", "iou", "cldice", "precision")


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def seconds_per_image(run: Run, stage_name: str, images: list) -> float:
    """Mean inference time per test image (first image excluded as warm-up)."""
    trained = from_run(run, stage_name)
    predictor = Predictor(trained.stage1, trained.stage2)
    predictor(images[0])
    start = time.perf_counter()
    for image in images[1:]:
        predictor(image)
    return (time.perf_counter() - start) / max(1, len(images) - 1)


def stage_record(run: Run, stage_name: str, images: list, extra_seconds: float = 0.0) -> dict[str, object]:
    """Test metrics, size and timings of one trained stage."""
    result = evaluate_stage(run, stage_name)
    stage = json.loads((run.path / stage_name / "stage.json").read_text())
    stage1 = json.loads((run.stage1 / "stage.json").read_text())
    train_seconds = stage["train_seconds"] + (0 if stage_name == "stage1" else stage1["train_seconds"] + extra_seconds)
    trained = from_run(run, stage_name)
    threshold = trained.threshold
    models = [trained.stage1] + ([trained.stage2] if trained.stage2 is not None else [])
    return {"pooled": {k: result.pooled[k] for k in REPORTED}, "mean": {k: result.mean[k] for k in REPORTED},
            "std": {k: result.std[k] for k in REPORTED}, "threshold": threshold,
            "parameters": sum(count_parameters(m) for m in models),
            "train_seconds_total": train_seconds, "train_seconds_stage": stage["train_seconds"],
            "best_val_f1": stage["best_val_f1"], "seconds_per_image": seconds_per_image(run, stage_name, images)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--root")
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed if it exists)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--in-sample", action="store_true", help="also the paper's in-sample error maps")
    parser.add_argument("--stage1-only", action="store_true", help="train and record stage 1 alone")
    parser.add_argument("--variants", type=_variants, help="comma-separated stage-2 variants to train instead, "
                        "from " + ", ".join(VARIANTS))
    parser.add_argument("--results", type=Path, help="results file (default: benchmarks/results/DATASET.json)")
    args = parser.parse_args()

    values = {**dataset_defaults(args.dataset).to_dict(), "root": args.root}
    values.update(dict(item.split("=", 1) for item in args.set))
    config = config_from_dict(values, "benchmark")
    run = open_run(args.out, config, resume=True)
    images = [s.image for s in dataset_split(config, "test")]
    records: dict[str, object] = {}

    run_stage1(run, resume=True, progress=False)
    records["stage1"] = stage_record(run, "stage1", images)
    print("stage1", records["stage1"]["pooled"], flush=True)
    variants = [(False, "correct"), (False, "paper")] + ([(True, "paper"), (True, "correct")] if args.in_sample else [])
    if args.variants is not None:
        variants = args.variants
    if args.stage1_only:
        variants = []
    errors_seconds: dict[bool, float] = {}
    for in_sample, mode in variants:
        if in_sample not in errors_seconds:
            start = time.time()
            run_errors(run, in_sample=in_sample, resume=True, progress=False)
            errors_seconds[in_sample] = _errors_training_seconds(run, in_sample) or time.time() - start
        result = run_stage2(run, refinement=mode, in_sample=in_sample, resume=True, progress=False)
        name = result.weights.parent.name
        records[name] = stage_record(run, name, images, errors_seconds[in_sample])
        records[name]["errors"] = "in_sample" if in_sample else "out_of_fold"
        print(name, records[name]["pooled"], flush=True)

    out = args.results or RESULTS / f"{config.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"dataset": config.dataset, "split": "test", "protocol": "FOV-masked, first observer, threshold "
                "chosen on validation images carved from the training split; pooled over test pixels",
                "command": "python " + " ".join(sys.argv), "date": datetime.date.today().isoformat(),
                "revision": git_revision(), "machine": machine(), "config": config.to_dict(), "variants": records}
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _variants(text: str) -> list[tuple[bool, str]]:
    """``correct,paper-in_sample`` -> [(False, "correct"), (True, "paper")]."""
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    return [VARIANTS[name] for name in chosen]


def _errors_training_seconds(run: Run, in_sample: bool) -> float:
    """Training time of the fold models behind out-of-fold error maps (0 for in-sample)."""
    folds = run.errors(in_sample) / "folds"
    return sum(json.loads(p.read_text())["train_seconds"] for p in folds.glob("fold*/stage.json"))


if __name__ == "__main__":
    sys.exit(main())
