"""Train an experiment's runs with ``earnet sweep`` and record their table for BENCHMARKS.md.

The experiments behind BENCHMARKS.md are files in ``experiments/``; this script runs one
(``earnet sweep``: finished runs are skipped, interrupted ones resume), tabulates it
(``earnet summarize``: each stage of each run, mean ± std over seeds) and writes
``benchmarks/results/<experiment>.json`` with the table, the command, the code revision and
the machine. ``python benchmarks/make_table.py`` puts the table into BENCHMARKS.md.

    python benchmarks/train_benchmark.py experiments/drive.yaml --jobs 2
    python benchmarks/train_benchmark.py experiments/synthetic-tiny.yaml --results /tmp/tiny.json

The same table without this script: ``earnet sweep EXP && earnet summarize runs/<experiment>``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

from earnet.cli.main import main as earnet
from earnet.engine.run import git_revision
from earnet.io import write_text
from earnet.sweep.experiment import load_experiment
from earnet.sweep.summary import find_runs, read_run, render, summarize

RESULTS = Path(__file__).parent / "results"
METRICS = ["val_f1", "test_f1", "test_auc_roc", "test_acc", "test_se", "test_sp", "test_mcc", "test_f1_mean",
           "params", "train_min"]


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    import torch

    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", type=Path, help="experiment file (experiments/*.yaml)")
    parser.add_argument("--jobs", help="runs at once (earnet sweep --jobs)")
    parser.add_argument("--threads-per-job", default="1", help="threads of each run (earnet sweep)")
    parser.add_argument("--results", type=Path, help="results file (default: benchmarks/results/<experiment>.json)")
    args = parser.parse_args()

    experiment = load_experiment(args.experiment)
    sweep = ["sweep", str(args.experiment), "--threads-per-job", args.threads_per_job]
    code = earnet(sweep + (["--jobs", args.jobs] if args.jobs else []))
    if code != 0:
        print(f"earnet sweep failed (exit {code}); no results written", file=sys.stderr)
        return code
    records = [record for run in find_runs([experiment.out]) for record in read_run(run)]
    table = summarize(records, METRICS)
    revisions = sorted({(run / "revision.txt").read_text().strip() for run in find_runs([experiment.out])
                        if (run / "revision.txt").is_file()})
    document = {"kind": "earnet-sweep-results", "experiment": experiment.name, "dataset": experiment.dataset,
                "split": "test", "protocol": "FOV-masked, first observer, threshold chosen on validation images "
                "carved from the training split; test metrics pooled over test pixels (test_f1_mean: mean over "
                "images); rows: mean ± sample std over the runs (seeds) of a setting",
                "command": f"earnet sweep {args.experiment} && earnet summarize {experiment.out}",
                "date": datetime.date.today().isoformat(), "revision": git_revision(), "run_revisions": revisions,
                "machine": machine(), "summary": json.loads(render(table, "json")),
                "markdown": render(table, "markdown")}
    out = args.results or RESULTS / f"{experiment.name}.json"
    write_text(out, json.dumps(document, indent=2) + "\n")
    print(render(table), end="")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
