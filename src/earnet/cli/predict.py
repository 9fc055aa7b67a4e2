"""``earnet predict``: a run's probability maps for a dataset split."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER, add_dataset_arguments
from earnet.data.registry import get_dataset
from earnet.engine.run import Run
from earnet.exceptions import EarnetError, InputError

EXAMPLES = """examples:
  earnet predict runs/drive drive --root data/DRIVE --split test --out preds/drive
  earnet evaluate drive --root data/DRIVE --predictions preds/drive
  earnet predict runs/drive drive --root data/DRIVE --stage stage1 --out preds/drive-s1

Writes <id>_prob.png (16-bit probability), <id>_mask.png (at the stage's saved
threshold) and <id>_overlay.png, plus <id>_attention.png for a stage-2 model."""


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
    parser.add_argument("--tta", default="none", choices=("none", "flip"), help="test-time augmentation")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Predict every image of the split."""
    from earnet.data.resolution import scale_factor
    from earnet.engine.pipeline import stage_predictor, trained_stages
    from earnet.engine.report import write_prediction_images
    from earnet.manifest import write_manifest

    run_folder = Run(args.run)
    config = run_folder.config()
    stages = trained_stages(run_folder)
    if not stages:
        raise InputError(args.run, "run has no finished stage")
    stage = args.stage or stages[-1]
    if stage not in stages:
        raise EarnetError(f"run {args.run} has no stage {stage!r}; finished: {', '.join(stages)}")
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder")
    predictor, threshold = stage_predictor(run_folder, stage, device=args.device, tta=args.tta)
    dataset = get_dataset(args.dataset, args.root, args.split)
    for sample in dataset:
        factor = scale_factor(sample.fov, config.fov_diameter) if config.fov_diameter else 1.0
        prediction = predictor.predict_scaled(sample.image, factor)
        prediction.probability[~sample.fov] = 0  # nothing is vessel outside the field of view
        write_prediction_images(args.out, sample.id, sample.image, prediction, threshold)
    write_manifest(args.out, threshold, {"run": str(args.run), "stage": stage}, list(dataset.ids), {"tta": args.tta})
    print(f"{stage}: wrote {len(dataset)} probability maps to {args.out} (threshold {threshold:.4f})")
    return 0
