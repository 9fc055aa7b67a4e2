"""``earnet errors``: the error maps that supervise EAR-Net's stage 2."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER
from earnet.engine.run import Run

EXAMPLES = """examples:
  earnet errors runs/drive               # out-of-fold (k fold models, k = config 'folds')
  earnet errors runs/drive --in-sample   # stage 1 predicts its own training images (the paper)

Writes RUN/errors-oof/maps/ (or errors-in_sample/maps/): for every training image
<id>_error.png (FP or FN), <id>_fp.png, <id>_fn.png inside the FOV, and
<id>_stage1.png (16-bit stage-1 probability, the 'correct' refinement's input)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet errors``."""
    parser = subparsers.add_parser("errors", help="make stage-1 error maps of the training images",
                                   description="Make the error maps of a run's training images.",
                                   epilog=EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("run", metavar="RUN", type=Path, help="run folder with a trained stage 1")
    parser.add_argument("--in-sample", action="store_true",
                        help="use stage 1's predictions on its own training images (as in the paper)")
    parser.add_argument("--resume", action="store_true", help="reuse finished fold models")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Make the maps; print the mean error fraction."""
    from earnet.engine.pipeline import run_errors

    out = run_errors(Run(args.run), in_sample=args.in_sample or None, resume=args.resume,
                     progress=not args.no_progress)
    info = json.loads((out / "errors.json").read_text())
    print(f"{info['mode']} error maps of {len(info['error_fraction_in_fov'])} images in {out / 'maps'}; "
          f"mean error fraction inside the FOV {info['mean_error_fraction']:.4f}")
    return 0
