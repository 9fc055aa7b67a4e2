"""``earnet evaluate``: score any method's saved predictions with the field's protocol."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER, add_dataset_arguments
from earnet.cli.evaluate_av import is_av_dataset, run_av
from earnet.data.registry import get_dataset
from earnet.evaluate import (
    EVALUATION_POLICIES,
    evaluate,
    folder_predictor,
    format_table,
    observer2_predictor,
    resolve_threshold,
    write_report,
)
from earnet.thresholds import TRAIN_F1, parse_threshold

EXAMPLES = """examples:
  # a method's probability maps (01_test.png, 01_test_prob.png or 01_test.npy ...)
  earnet evaluate drive --root data/DRIVE --predictions my_method/
  # maps written by earnet segment/predict are scored at their model's threshold
  earnet segment data/DRIVE/test/images --model drive --out out/drive-test
  earnet evaluate drive --root data/DRIVE --predictions out/drive-test
  # threshold chosen on the TRAINING split's predictions (same folder), then applied to test
  earnet evaluate drive --root data/DRIVE --predictions my_method/ --threshold train-f1
  # the human baseline: the second observer scored against the first
  earnet evaluate drive --root data/DRIVE --observer 2
  # whole-image numbers, as some papers report them
  earnet evaluate chase_db1 --root data/CHASEDB1 --predictions p/ --whole-image
  # artery/vein: files of 'earnet segment --av' against RITE (ROOT holds RITE/ and DRIVE/)
  earnet evaluate rite --root data --predictions out/rite-test

Metrics: acc, se, sp, precision, f1 (= Dice), iou, mcc, auc_roc, auc_pr, cldice;
pooled over all pixels of the split, and mean/std over images. Writes
OUT/metrics.json, OUT/per_image.csv, OUT/roc.png, OUT/pr.png. For rite: A/V
accuracy, se, sp (artery positive) on the reference's artery/vein pixels, the same
on the pixels also predicted vessel, coverage, and F1 of the artery and vein maps."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet evaluate``."""
    parser = subparsers.add_parser("evaluate", help="score saved predictions against a dataset",
                                   description="Score saved probability or binary maps of any method against "
                                               "a dataset's first observer, inside the FOV by default.",
                                   epilog=EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    add_dataset_arguments(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--predictions", metavar="DIR", type=Path,
                        help="folder of predictions named by image id (PNG 8/16-bit, TIFF or .npy)")
    source.add_argument("--observer", type=int, choices=[2],
                        help="evaluate the dataset's second observer instead (human baseline)")
    parser.add_argument("--threshold", default="model",
                        help="'model' (default): the threshold recorded in the folder's predictions.json by "
                             "earnet segment/predict (the model's own, chosen on its validation images), "
                             "else 0.5; a value in (0, 1]; or 'train-f1': maximise pooled F1 on the training "
                             "split's predictions ('auto' is a deprecated synonym)")
    parser.add_argument("--whole-image", action="store_true",
                        help="count every pixel, not only those inside the FOV mask")
    parser.add_argument("--out", metavar="DIR", type=Path,
                        help="where to write the report (default: evaluation/DATASET-SPLIT[-observer2])")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the report."""
    if is_av_dataset(args.dataset):
        return run_av(args)
    policy = parse_threshold(args.threshold, EVALUATION_POLICIES, auto=TRAIN_F1)
    use_fov = not args.whole_image
    dataset = get_dataset(args.dataset, args.root, args.split)
    predict = observer2_predictor(dataset) if args.observer else folder_predictor(dataset, args.predictions)
    threshold = resolve_threshold(policy, dataset, None if args.observer else args.predictions, use_fov, args.root)
    result = evaluate(dataset, predict, threshold.value, use_fov, threshold.source)
    suffix = "-observer2" if args.observer else ""
    out = args.out or Path("evaluation") / f"{dataset.name}-{dataset.split.replace('/', '-')}{suffix}"
    paths = write_report(result, out)
    print(format_table(result))
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0
