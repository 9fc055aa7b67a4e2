"""``earnet predict``: a run's probability maps for a dataset split."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER, add_dataset_arguments
from earnet.exceptions import InputError

EXAMPLES = """examples:
  earnet predict runs/drive drive --root data/DRIVE --split test --out preds/drive
  earnet evaluate drive --root data/DRIVE --predictions preds/drive
  earnet predict runs/drive drive --root data/DRIVE --stage stage1 --out preds/drive-s1

Writes <id>_prob.png (16-bit probability), <id>_mask.png (at the stage's saved
threshold) and <id>_overlay.png, plus <id>_attention.png for a stage-2 model. The
images go through the same segmenter as 'earnet segment --model RUN --stage STAGE'
(the dataset's FOV masks, the run's resolution rule), so the maps are identical."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet predict``."""
    parser = subparsers.add_parser("predict", help="write a run's probability maps for a dataset split",
                                   description="Predict a dataset split with a trained run.",
                                   epilog=EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("run", metavar="RUN", type=Path, help="run folder")
    add_dataset_arguments(parser)
    parser.add_argument("--out", metavar="DIR", type=Path, required=True, help="output folder")
    parser.add_argument("--stage", help="stage1 or a stage2-* folder of the run (default: the last stage 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--tta", default="none", choices=("none", "flip", "ms"),
                        help="test-time augmentation: flips, or multi-scale 0.5/1/2")
    parser.add_argument("--tile", type=int, default=1024, help="tile side in pixels (default: 1024)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict every image of the split."""
    from earnet.data.registry import get_dataset
    from earnet.io import exclusive_folder
    from earnet.manifest import write_manifest
    from earnet.output_maps import write_maps
    from earnet.segment import load_segmenter

    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder")
    if not args.run.is_dir():
        raise InputError(args.run, "run folder not found")
    segmenter = load_segmenter(args.run, device=args.device, tta=args.tta, tile=args.tile, stage=args.stage)
    stage = segmenter.metadata["stage"]
    dataset = get_dataset(args.dataset, args.root, args.split)
    with exclusive_folder(args.out):
        for sample in dataset:
            result = segmenter.segment(sample.image, fov=sample.fov)
            write_maps(args.out / sample.id, sample.image, result)
        write_manifest(args.out, segmenter.threshold, {"run": str(args.run), "stage": stage}, list(dataset.ids),
                       {"tta": args.tta, "tile": args.tile})
    print(f"{stage}: wrote {len(dataset)} probability maps to {args.out} (threshold {segmenter.threshold:.4f})")
    return 0
