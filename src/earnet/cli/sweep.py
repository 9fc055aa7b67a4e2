"""``earnet sweep``: run every run of an experiment file, a few at a time, resuming what was cut short."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER
from earnet.exceptions import EarnetError, InputError

EXAMPLES = """examples:
  earnet sweep experiments/synthetic-tiny.yaml -n          # print each run's commands and folder
  earnet sweep experiments/synthetic-tiny.yaml             # run them, cores / threads-per-job at a time
  earnet sweep experiments/drive.yaml --jobs 2 --threads-per-job 1
  earnet sweep experiments/drive.yaml --emit slurm > drive.sbatch && sbatch drive.sbatch
  earnet summarize runs/synthetic-tiny                     # the table of the finished runs

An experiment file names the dataset, the command (fit, or stage1), fixed overrides
('set'), a grid of values and/or a list of override sets ('runs'), and extra stage-2
variants; see experiments/*.yaml. Runs go to runs/<experiment>/<swept values>-s<seed>.
A run whose test metrics exist is skipped; a started one continues with --resume; a
failed one is reported with its log (runs/<experiment>/logs/<run>.log) and the others
go on. Interrupt it at any time and run the same command again."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet sweep``."""
    parser = subparsers.add_parser("sweep", help="run an experiment file: a grid of training runs",
                                   description="Expand an experiment file into runs and run the unfinished "
                                               "ones as parallel earnet subprocesses.",
                                   epilog=EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("experiment", metavar="EXPERIMENT.yaml", type=Path, help="experiment file")
    parser.add_argument("-n", "--dry-run", action="store_true",
                        help="print each run's status, folder and commands; run nothing")
    parser.add_argument("--jobs", type=_positive, metavar="N",
                        help="runs at once (default: available cores // threads per job)")
    parser.add_argument("--threads-per-job", type=_positive, default=1, metavar="T",
                        help="OMP/torch threads of each run (default: 1)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="parent folder of the runs (default: the file's "
                                                                "'out', else runs/<experiment>)")
    parser.add_argument("--only", metavar="TEXT", help="only the runs whose name contains TEXT")
    parser.add_argument("--emit", choices=("commands", "slurm"),
                        help="print the unfinished runs for a scheduler instead of running them: one shell "
                             "line per run, or a Slurm job-array script (each step skipped when done, else "
                             "resumed, so it can be submitted again)")
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Dry run, emit, or run the experiment."""
    from earnet.sweep.experiment import load_experiment
    from earnet.sweep.plan import plan_experiment, resubmittable_line, shell_line
    from earnet.sweep.runner import Sweep, default_jobs

    experiment = load_experiment(args.experiment, args.out)
    plans = plan_experiment(experiment)
    if args.only:
        plans = [plan for plan in plans if args.only in plan.name]
        if not plans:
            raise EarnetError(f"--only {args.only!r} matches none of the runs of {args.experiment}")
    threads = args.threads_per_job
    if args.dry_run:
        for plan in plans:
            status = plan.status()
            print(f"# {plan.name} [{status}] -> {plan.out}")
            if status != "done":
                print(shell_line(plan.pending(), threads))
        counts = {s: sum(p.status() == s for p in plans) for s in ("done", "partial", "new")}
        print(f"# {len(plans)} runs: {counts['done']} finished, {counts['partial']} to resume, "
              f"{counts['new']} to start (nothing was run)")
        return 0
    if args.emit:
        lines = [resubmittable_line(plan, threads) for plan in plans if plan.status() != "done"]
        print(_slurm_script(experiment.name, lines, threads) if args.emit == "slurm" else "\n".join(lines))
        return 0
    if experiment.root and not Path(experiment.root).exists():
        # checked only here: a dry run or an emitted script may be meant for another machine
        raise InputError(experiment.path, f"root: {experiment.root} not found (paths are relative to the current "
                                          "folder)")
    jobs = args.jobs or default_jobs(threads)
    sweep = Sweep(plans, experiment.out / "logs", jobs, threads)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        outcomes = sweep.run()
    except KeyboardInterrupt:
        print(f"earnet: sweep interrupted; its runs were stopped. Run 'earnet sweep {args.experiment}' again "
              "to finish what is missing.", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [o for o in outcomes if o.status == "failed"]
    ran = sum(o.status == "done" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    busy = sum(o.status == "busy" for o in outcomes)
    print(f"sweep: {ran} finished now, {skipped} were already finished, {len(failed)} failed"
          + (f", {busy} left to the process already running them" if busy else ""))
    for outcome in failed:
        print(f"  failed: {outcome.name}: {outcome.message} (log: {outcome.log})")
    print(f"table: earnet summarize {shlex.quote(str(experiment.out))}")
    return 1 if failed else 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _slurm_script(name: str, lines: list[str], threads: int) -> str:
    """A Slurm job array with one task per unfinished run."""
    if not lines:
        return "# every run of this experiment has finished"
    cases = "\n".join(f"  {i}) {line} ;;" for i, line in enumerate(lines))
    return f"""#!/bin/bash
#SBATCH --job-name=earnet-{name}
#SBATCH --array=0-{len(lines) - 1}
#SBATCH --cpus-per-task={threads}
#SBATCH --output=earnet-{name}-%a.log
# Made by 'earnet sweep --emit slurm'. Submit it again after a failure or a time-out: runs resume.
set -euo pipefail
case "$SLURM_ARRAY_TASK_ID" in
{cases}
esac
"""
