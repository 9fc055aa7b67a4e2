"""What ``earnet sweep`` and ``earnet summarize`` cost around the training they run.

Measures, each in a fresh process: the dry run of an experiment (parse, validate, plan),
a sweep whose runs are all finished (the skip path), ``earnet summarize`` over many run
folders, and with ``--train`` the wall clock of the tiny synthetic experiment with
``--jobs 1`` and ``--jobs 2`` (1 thread per job).

    python benchmarks/bench_sweep.py --train        # writes benchmarks/results/sweep.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "experiments" / "synthetic-tiny.yaml"


def timed(args: list[str], repeat: int = 3) -> float:
    """Best wall-clock seconds of ``earnet ARGS`` over ``repeat`` fresh processes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "earnet", *args], env=env, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def fake_runs(folder: Path, count: int) -> None:
    """``count`` run folders with the files summarize reads (two stages each)."""
    for index in range(count):
        run = folder / f"r{index}"
        for stage in ("stage1", "stage2-correct"):
            (run / stage).mkdir(parents=True)
            (run / stage / "stage.json").write_text(json.dumps({"best_val_f1": 0.8, "train_seconds": 60,
                                                                 "parameters": 1000}))
            (run / "test" / stage).mkdir(parents=True)
            (run / "test" / stage / "metrics.json").write_text(json.dumps(
                {"pooled": {"f1": 0.8 + index * 1e-4}, "mean": {"f1": 0.8}}))
        (run / "config.yaml").write_text(f"dataset: drive\nlr: {0.001 * (1 + index % 5)}\nseed: {index // 5}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true", help="also time the tiny experiment with 1 and 2 jobs")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "sweep.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    rows: dict[str, float] = {}
    try:
        rows["earnet --help"] = timed(["--help"])
        rows["sweep -n (drive.yaml, 1 run, 5 commands)"] = timed(["sweep", str(ROOT / "experiments" / "drive.yaml"),
                                                                 "-n"])
        rows["sweep -n (synthetic-tiny.yaml, 4 runs)"] = timed(["sweep", str(TINY), "-n", "--out",
                                                              str(work / "tiny")])
        fake_runs(work / "many", 100)
        rows["summarize 100 runs (200 rows, 20 groups)"] = timed(["summarize", str(work / "many")])
        if args.train:
            for jobs in (1, 2):
                out = work / f"train{jobs}"
                rows[f"sweep synthetic-tiny.yaml --jobs {jobs} (4 runs)"] = timed(
                    ["sweep", str(TINY), "--out", str(out), "--jobs", str(jobs)], repeat=1)
            rows["sweep synthetic-tiny.yaml, all finished (skip)"] = timed(["sweep", str(TINY), "--out",
                                                                            str(work / "train2")])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    document = {"command": "python benchmarks/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                "date": datetime.date.today().isoformat(), "machine": {"cores": os.cpu_count(),
                                                                     "load_average_at_end": os.getloadavg()},
                "seconds": rows}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(document, indent=2) + "\n")
    for name, seconds in rows.items():
        print(f"{seconds:8.2f} s  {name}")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
