"""``earnet summarize``: one table over run folders, mean ± std over seeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER
from earnet.exceptions import EarnetError

EXAMPLES = """examples:
  earnet summarize runs/synthetic-tiny                           # every run below the folder
  earnet summarize runs/drive runs/drive-wide --sort test_f1 --descending
  earnet summarize runs/drive --format markdown --out drive.md   # as in BENCHMARKS.md
  earnet summarize runs/drive --no-group --metrics val_f1,test_f1,test_mcc

Rows: each trained stage of each run (stage1, stage2-correct, ...). Settings are the
config keys that differ between the runs (not seed or root) and the stage; rows with
the same settings are grouped as mean ± sample standard deviation (n - 1) over their
runs ('runs' counts them). Metrics: val_f1 (best validation F1, RUN/<stage>/stage.json),
test_<m> pooled over the test pixels and test_<m>_mean averaged over test images
(RUN/test/<stage>/metrics.json), train_min (a refiner's includes stage 1 and the fold
models), params, and <m>_gain for val_f1, test_f1, test_auc_roc, test_f1_mean: a refiner's
value minus its own run's stage 1 value (paired per seed, so stage 1's seed noise cancels)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet summarize``."""
    from earnet.sweep.summary import FORMATS

    parser = subparsers.add_parser("summarize", help="tabulate runs: settings, validation and test metrics",
                                   description="One table over run folders: swept settings, validation and "
                                               "test metrics, grouped over seeds as mean ± std.",
                                   epilog=EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("runs", metavar="RUNS", type=Path, nargs="+", help="run folders or folders holding runs")
    parser.add_argument("--metrics", metavar="M,M", help="metric columns (default: val_f1,test_f1,test_f1_gain,"
                                                         "test_auc_roc,test_se,test_sp,test_f1_mean,train_min)")
    parser.add_argument("--by", metavar="KEY,KEY", help="group by these config keys (default: those that differ)")
    parser.add_argument("--no-group", action="store_true", help="one row per run and stage")
    parser.add_argument("--stage", metavar="NAME", action="append",
                        help="only these stages (repeatable; e.g. stage1, stage2-correct)")
    parser.add_argument("--sort", metavar="COLUMN", help="sort rows by this column")
    parser.add_argument("--descending", action="store_true", help="largest first")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--digits", type=int, default=4, help="decimals (default: 4)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write the table here instead of printing it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Collect, group, sort and print (or write) the table."""
    from earnet.io import write_text
    from earnet.sweep.summary import find_runs, read_run, render, summarize

    records = [record for path in find_runs(args.runs) for record in read_run(path)]
    if args.stage:
        records = [r for r in records if r.stage in args.stage]
    if not records:
        raise EarnetError("no trained stages to summarize" + (f" among stages {', '.join(args.stage)}"
                                                              if args.stage else ""))
    split = (lambda text: [t.strip() for t in text.split(",") if t.strip()])  # noqa: E731
    try:
        table = summarize(records, split(args.metrics) if args.metrics else None,
                          [k for k in split(args.by) if k != "stage"] if args.by else None,
                          group=not args.no_group, sort=args.sort, descending=args.descending)
    except ValueError as error:
        raise EarnetError(str(error)) from None
    text = render(table, args.format, args.digits)
    if args.out:
        write_text(args.out, text)
        print(f"wrote {args.out} ({len(table.rows)} rows from {len({r.run for r in records})} runs)")
    else:
        print(text, end="")
    return 0
