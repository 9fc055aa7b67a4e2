"""``earnet export``: a model as ONNX, or a trained run's stage as a model bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER

EXAMPLES = """examples:
  earnet export drive --format onnx --out drive.onnx
  earnet export drive_av --format onnx --out drive_av.onnx   # with the artery/vein outputs
  earnet export runs/drive --stage stage2-correct --format bundle --out my_drive.safetensors
  earnet segment photo.jpg --model my_drive.safetensors
  earnet-onnx drive.onnx photo.jpg --out results    # segment without PyTorch

The ONNX graph takes RGB in [0, 1] of shape (N, 3, H, W), any H, W >= 32 (normalisation
and padding are inside it), and returns the vessel probability (N, 1, H, W) and, for
two-stage models, the error attention, and for A/V bundles (drive_av) the artery and
vein probabilities (earnet-onnx --av labels them as 'earnet segment --av'). The file's metadata_props hold the contract, the
threshold and the training FOV diameter; photographs should be rescaled to that diameter
and masked to their FOV, which earnet-onnx (earnet.runtime) does."""


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
