"""``earnet fit`` and ``earnet train``: EAR-Net end to end, or one stage at a time."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER
from earnet.config import (
    TrainConfig,
    add_config_arguments,
    config_from_args,
    dataset_defaults,
    set_explicitly,
)
from earnet.data.registry import list_datasets
from earnet.engine.run import Run, open_run
from earnet.evaluate import format_table
from earnet.exceptions import EarnetError, InputError

FIT_EXAMPLES = """examples:
  earnet fit synthetic --out runs/synthetic                 # generated data, ~4 min on 2 cores
  earnet fit drive --root data/DRIVE --out runs/drive
  earnet fit drive --root data/DRIVE --out runs/drive --refinement paper --in-sample   # as in the paper
  earnet fit drive --root data/DRIVE --out runs/drive --resume                         # continue a killed run
  earnet fit drive --root data/DRIVE --out runs/drive-gpu --accelerator gpu --devices 4 --strategy ddp
  earnet fit rite --root data --out runs/rite       # artery/vein; data/ holds RITE/ and DRIVE/

Stages: stage 1 (segmenter) -> error maps (out-of-fold by default: k fold models
each predict the images they did not see) -> stage 2 (error-attention refiner) ->
test metrics of both stages (rite: one artery/vein model, then its test
A/V metrics). The best epoch and the decision threshold are chosen
on validation images carved from the training split; the test split is used once,
at the end. Defaults per dataset are in earnet/configs/DATASET.yaml; --config FILE
and the flags below override them."""

TRAIN_EXAMPLES = """examples:
  earnet train --stage 1 --dataset drive --root data/DRIVE --out runs/drive
  earnet errors runs/drive
  earnet train --stage 2 --out runs/drive                      # refinement from the config (correct)
  earnet train --stage 2 --out runs/drive --refinement paper   # the authors' modulation
  earnet train --stage 2 --out runs/drive --refinement paper --test   # and evaluate it on the test split
  earnet train --stage 2 --out runs/drive --error-guidance crops      # earnet's error-guided crops"""


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="RUN", type=Path, required=True, help="run folder")
    parser.add_argument("--config", metavar="FILE.yaml", help="configuration file (flags override it)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (for logs)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet fit`` and ``earnet train``."""
    fit = subparsers.add_parser("fit", help="train EAR-Net end to end (stage 1, error maps, stage 2, test)",
                                description="Train all EAR-Net stages into one run folder and evaluate them "
                                            "on the test split.",
                                epilog=FIT_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    fit.add_argument("dataset", metavar="DATASET", help=f"one of: {', '.join(list_datasets())}")
    fit.add_argument("--root", metavar="PATH", help="dataset folder (not needed for synthetic)")
    _add_common(fit)
    add_config_arguments(fit, skip=("dataset", "root"))
    fit.set_defaults(func=run_fit)

    train = subparsers.add_parser("train", help="train one stage of a run",
                                  description="Train stage 1 (creating the run) or stage 2 (on a run with "
                                              "stage 1 and error maps).",
                                  epilog=TRAIN_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    train.add_argument("--stage", type=int, choices=(1, 2), required=True, help="1: segmenter, 2: refiner")
    train.add_argument("--test", action="store_true",
                       help="then evaluate the trained stage on the test split (RUN/test/<stage>/, as fit does)")
    _add_common(train)
    add_config_arguments(train)
    train.set_defaults(func=run_train)


def _config(args: argparse.Namespace, dataset: str) -> TrainConfig:
    config = config_from_args(args, dataset_defaults(dataset))
    if config.init and config.dataset != "rite" and not set_explicitly(args, "backbone"):
        from earnet.engine.pipeline import init_backbone

        config.backbone = init_backbone(config.init) or config.backbone  # --init general: its backbone
    if config.dataset != "synthetic" and not config.root:
        raise EarnetError(f"dataset {config.dataset} needs --root (the folder you downloaded it to)")
    return config


def preflight(config: TrainConfig, out: Path, resume: bool) -> None:
    """Refuse to start a run (and create nothing) if its dataset fails ``earnet data check`` or
    ``--init`` names weights that cannot start it, or ``--teacher`` a model that cannot be loaded."""
    from earnet.data.check import check_dataset

    if config.init and config.dataset != "rite" and not resume:
        from earnet.engine.pipeline import initial_weights

        initial_weights(config.init, config.backbone)
    if config.teacher and not resume:
        from earnet.segment import load_segmenter

        load_segmenter(config.teacher)  # an unknown or unreadable teacher fails before the run folder exists
    if resume or config.dataset == "synthetic":
        return
    report = check_dataset(config.dataset, config.root)
    if report.problems:
        more = f" (and {len(report.problems) - 1} more; run 'earnet data check')" if len(report.problems) > 1 else ""
        raise EarnetError(f"dataset check failed: {report.problems[0]}{more}")


def run_fit(args: argparse.Namespace) -> int:
    """All stages, then print the test tables."""
    from earnet.engine.fit import fit

    args.cfg_dataset, args.cfg_root = args.dataset, args.root
    config = _resumed_config(args) or _config(args, args.dataset)
    preflight(config, args.out, args.resume)
    if config.dataset == "rite":
        from earnet.av_evaluate import format_av_table
        from earnet.engine.av_fit import fit_av

        av_result = fit_av(config, args.out, resume=args.resume, progress=not args.no_progress)
        print(f"\n[av] A/V on RITE {av_result.protocol['split']} ({av_result.protocol['images']} images)")
        print(format_av_table(av_result))
        print(f"\nrun folder: {args.out}")
        return 0
    results = fit(config, args.out, resume=args.resume, progress=not args.no_progress)
    for stage_name, result in results.items():
        print(f"\n[{stage_name}]")
        print(format_table(result))
    print(f"\nrun folder: {args.out}")
    return 0


def _resumed_config(args: argparse.Namespace) -> TrainConfig | None:
    """On --resume, the saved config with this command's flags applied (checked by open_run)."""
    if args.resume and Run(args.out).config_file.exists():
        return config_from_args(args, Run(args.out).config())
    return None


STAGE2_FLAGS = ("refinement", "in_sample", "error_guidance")
"""The configuration flags ``train --stage 2`` applies; the rest come from the run's config.yaml."""


def _refuse_unapplied_stage2_flags(args: argparse.Namespace, run: Run) -> None:
    """Stage 2 trains with its run's saved configuration: a flag that would be silently
    ignored (``--stage2-epochs 10`` on a run saved with 15) is an error instead."""
    given = [key[4:] for key, value in vars(args).items()
             if key.startswith("cfg_") and value is not None and key[4:] not in STAGE2_FLAGS]
    if args.config:
        given.insert(0, "config")
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise InputError(run.config_file, f"{flag} is not applied by 'train --stage 2', which trains with this "
                                          f"run's saved configuration (only --refinement, --in-sample and "
                                          f"--error-guidance choose the variant); edit config.yaml or start a new run")


def run_train(args: argparse.Namespace) -> int:
    """Train one stage."""
    from earnet.engine.pipeline import run_stage1, run_stage2

    if args.stage == 1:
        config = _resumed_config(args) or _config(args, args.cfg_dataset or "synthetic")
        preflight(config, args.out, args.resume)
        run = open_run(args.out, config, args.resume)
        result = run_stage1(run, resume=args.resume, progress=not args.no_progress)
    else:
        run = Run(args.out)
        saved = run.config()
        _refuse_unapplied_stage2_flags(args, run)
        result = run_stage2(run, refinement=args.cfg_refinement or saved.refinement,
                            in_sample=(args.cfg_in_sample.lower() in ("1", "true", "yes")) if args.cfg_in_sample
                            else saved.in_sample, resume=args.resume, progress=not args.no_progress,
                            guidance=args.cfg_error_guidance or saved.error_guidance)
    print(f"stage {args.stage}: best validation F1 {result.best_score:.4f}, {result.seconds:.0f} s, "
          f"{result.parameters:,} parameters -> {result.weights}")
    if args.test:
        from earnet.engine.report import evaluate_stage

        stage_name = result.weights.parent.name
        print(f"\n[{stage_name}]")
        print(format_table(evaluate_stage(run, stage_name)))
    return 0
