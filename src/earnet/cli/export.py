"""``earnet export``: a model as ONNX, or a trained run's stage as a model bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER

EXAMPLES = """examples:
  earnet export drive --format onnx --out drive.onnx
  earnet export runs/drive --stage stage2-correct --format bundle --out my_drive.safetensors
  earnet segment photo.jpg --model my_drive.safetensors

The ONNX graph takes RGB in [0, 1] of shape (1, 3, H, W), H and W multiples of 32, at
the model's training resolution (see the .json written beside it), and returns the
vessel probability (1, 1, H, W)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet export``."""
    parser = subparsers.add_parser("export", help="export a model to ONNX, or a run's stage to a bundle",
                                   description="Export a model.", epilog=EXAMPLES,
                                   formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("model", metavar="MODEL",
                        help="bundled model name, bundle path or run folder (onnx); run folder (bundle)")
    parser.add_argument("--format", choices=("onnx", "bundle"), default="onnx", help="output format")
    parser.add_argument("--stage", default="stage1", help="the run's stage to bundle (bundle format)")
    parser.add_argument("--out", type=Path, required=True, help="output file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and say where."""
    from earnet.export import bundle_from_run, export_onnx

    if args.format == "onnx":
        out = export_onnx(args.model, args.out)
    else:
        out = bundle_from_run(Path(args.model), args.stage, args.out)
    print(f"wrote {out}")
    return 0
