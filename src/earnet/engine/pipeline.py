"""EAR-Net end to end: stage 1, error maps, stage 2, test evaluation.

Each step reads what the previous one wrote into the run folder, so the steps can
also be run one at a time (``earnet train --stage 1``, ``earnet errors``,
``earnet train --stage 2``) and a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from earnet.config import CHOICES, TrainConfig
from earnet.data.resolution import rescale_sample, scale_factor
from earnet.engine.datamodule import ImageTensors, to_image_tensors
from earnet.engine.run import (
    WEIGHTS,
    Run,
    assign_folds,
    dataset_split,
    read_threshold,
    train_val_ids,
    write_threshold,
)
from earnet.engine.stage import StageResult, train_stage
from earnet.error_maps import ERROR_KINDS, error_maps
from earnet.exceptions import EarnetError, InputError
from earnet.inference.predictor import Predictor
from earnet.io import (
    probability_to_uint16,
    read_binary,
    read_probability,
    write_png,
    write_text,
)
from earnet.model_file import load_model, read_metadata
from earnet.thresholds import VALIDATION, best_f1_over, parse_threshold, source_dataset
from earnet.types import Sample


def inference_device(config: TrainConfig) -> str:
    """Where a run's own inference (thresholds, error maps, test) goes: the training accelerator's
    GPU when it trains on one, else the CPU."""
    if config.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _samples(config: TrainConfig, ids: list[str], rescale: bool = True) -> list[Sample]:
    """Training-split samples with these ids, at the run's resolution (``fov_diameter``), or
    as the dataset has them (``rescale=False``)."""
    dataset = dataset_split(config, "train")
    wanted = set(ids)
    samples = [dataset[i] for i, sample_id in enumerate(dataset.ids) if sample_id in wanted]
    return _at_run_scale(config, samples) if rescale else samples


def _at_run_scale(config: TrainConfig, samples: list[Sample]) -> list[Sample]:
    """``samples`` brought to the run's FOV diameter (as they are without one)."""
    return [rescale_sample(s, config.fov_diameter) for s in samples] if config.fov_diameter else samples


def choose_threshold(config: TrainConfig, predictor: Predictor, val: list[Sample]) -> float:
    """The configured threshold policy: a number, or ``validation`` (best F1 on validation images,
    predicted as given; from several datasets, the best mean of their F1s)."""
    policy = parse_threshold(config.threshold, (VALIDATION,), auto=VALIDATION, what="threshold")
    if policy.value is not None:
        return policy.value
    return best_f1_over(val, lambda sample: predictor(sample.image).probability, group=source_dataset(config.dataset))


def full_size_probability(predictor: Predictor, sample: Sample, fov_diameter: float | None) -> np.ndarray:
    """``sample``'s probability the way ``earnet segment`` and a run's test step make it: the
    photograph brought to ``fov_diameter`` (the resolution rule), the map brought back to its size."""
    return predictor.predict_scaled(sample.image, scale_factor(sample.fov, fov_diameter), attention=False).probability


def _rule(config: TrainConfig) -> str:
    return ", mean of per-dataset F1" if source_dataset(config.dataset) else ""


def _finish_stage(config: TrainConfig, folder: Path, predictor: Predictor, val: list[Sample],
                  val_full_size: list[Sample] | None = None) -> float:
    """Choose the stage's threshold and record it (once: a finished stage keeps its threshold).

    With ``val_full_size`` (the validation images as the dataset has them), the threshold is
    chosen on full-size maps against full-size labels, where it is applied (``earnet segment``,
    the test step); the best one at the working scale is kept as ``working_threshold`` for the
    error maps of the rescaled training images. The two differ: bilinear upsampling moves a
    contour at level t inward for t > 0.5 and outward for t < 0.5, so a threshold chosen at
    0.83x (STARE at a 540-px FOV) of .855 gave F1 .847 at full size against .876 at .65.
    """
    if (folder / "threshold.json").is_file():
        return read_threshold(folder)
    fixed = parse_threshold(config.threshold, (VALIDATION,), auto=VALIDATION, what="threshold").value is not None
    working = choose_threshold(config, predictor, val)
    resampled = bool(config.fov_diameter) and any(scale_factor(s.fov, config.fov_diameter) != 1.0
                                                  for s in val_full_size or [])
    if fixed or not resampled:
        write_threshold(folder, working, "fixed" if fixed else "validation split" + _rule(config))
        return working
    threshold = best_f1_over(val_full_size, lambda s: full_size_probability(predictor, s, config.fov_diameter),
                             group=source_dataset(config.dataset))
    write_threshold(folder, threshold, "validation split, full size" + _rule(config), working=working)
    return threshold


def init_backbone(source: str | Path) -> str | None:
    """The backbone of ``--init``'s weights (a run folder, a stage's or a bundle file, a bundle
    name), so ``--init general`` needs no ``--backbone``; ``None`` where it cannot be read
    (:func:`initial_weights` then reports the problem)."""
    from earnet.bundle import read_bundle_metadata, resolve

    path = Path(source)
    try:
        if path.is_dir():
            return Run(path).config().backbone
        meta = read_metadata(path, "weights file") if path.is_file() else read_bundle_metadata(resolve(source))
    except EarnetError:
        return None
    backbone = meta.get("backbone")
    return backbone if isinstance(backbone, str) else None


def initial_weights(source: str | Path, backbone: str) -> dict[str, torch.Tensor]:
    """Stage-1 weights to start training from (``--init``): a bundle (name or file), a run
    folder (its stage 1) or a stage's ``model.safetensors``; refused unless every layer
    fits ``backbone``."""
    from earnet.inference.loader import load_trained_model
    from earnet.models.registry import create_model

    path = Path(source)
    meta = read_metadata(path, "weights file") if path.is_file() else {}
    if path.is_file() and "format" not in meta:  # a stage's own weights, not a bundle
        if meta.get("refinement", "none") != "none":
            raise InputError(path, "is a stage-2 model; --init takes a stage 1 (or a bundle or run folder)")
        model = load_model(path)
    else:
        model = load_trained_model(source, "stage1" if path.is_dir() else None).stage1
    state = model.state_dict()
    expected = create_model(backbone).state_dict()
    if {k: v.shape for k, v in state.items()} != {k: v.shape for k, v in expected.items()}:
        raise InputError(source, f"its stage 1 does not have the layers of backbone {backbone!r}")
    return state


def stage1_training_tensors(config: TrainConfig, samples: list[Sample], stage_dir: Path,
                            resume: bool = False) -> list[ImageTensors]:
    """Stage-1 training images as tensors; with ``config.teacher`` each carries the teacher's
    probability (``maps["teacher"]``), which the task blends into the label (distillation).

    The samples are already at the run's FOV diameter, so the teacher (whose own resolution
    rule applies) segments them inside their FOV as ``earnet segment --mask`` would. A finished
    stage is not re-entered, so its teacher is not run again. Fold models (out-of-fold error
    maps) get no teacher, as they get no ``--init``: it saw their held-out images.
    """
    if not config.teacher or (resume and (stage_dir / WEIGHTS).is_file()):
        return [to_image_tensors(s) for s in samples]
    from earnet.segment import load_segmenter

    teacher = load_segmenter(config.teacher)
    return [to_image_tensors(s, {"teacher": teacher.segment(s.image, fov=s.fov, attention=False).probability})
            for s in samples]


def run_stage1(run: Run, resume: bool = False, progress: bool = True) -> StageResult:
    """Train the segmenter on the training images (validation carved out), from ``config.init``'s
    weights if given (fold models for out-of-fold error maps always start from scratch)."""
    config = run.config()
    train_ids, val_ids = train_val_ids(run, config)
    val_full_size = _samples(config, val_ids, rescale=False)  # read once: the threshold is chosen at full size
    train, val = _samples(config, train_ids), _at_run_scale(config, val_full_size)
    run.record_fov_diameter()
    init = initial_weights(config.init, config.backbone) if config.init else None
    result = train_stage(config, run.stage1, 1, stage1_training_tensors(config, train, run.stage1, resume),
                         [to_image_tensors(s) for s in val], config.epochs, init=init, resume=resume,
                         progress=progress)
    _finish_stage(config, run.stage1, Predictor(load_model(result.weights), device=inference_device(config)), val,
                  val_full_size)
    return result


def run_errors(run: Run, in_sample: bool | None = None, resume: bool = False, progress: bool = True) -> Path:
    """Write the error maps (and stage-1 probabilities) of every training image.

    Out-of-fold (default): the training images are split into ``config.folds``
    folds and a stage-1 model trained on the other folds predicts each fold. With
    ``in_sample`` the stage-1 model predicts its own training images (the paper).
    """
    config = run.config()
    in_sample = config.in_sample if in_sample is None else in_sample
    device = inference_device(config)
    if not run.weights("stage1").exists():
        raise InputError(run.stage1, "no stage-1 model; run 'earnet train --stage 1' first")
    out = run.errors(in_sample)
    maps_dir = out / "maps"
    train_ids, val_ids = train_val_ids(run, config)
    train, val = _samples(config, train_ids), _samples(config, val_ids)
    if in_sample:
        groups = [(Predictor(load_model(run.weights("stage1")), device=device), run.working_threshold("stage1"), train)]
        assignment: dict[str, int] = {}
    else:
        assignment = assign_folds(train_ids, config.folds, config.seed)
        groups = []
        for fold in range(config.folds):
            fold_dir = run.fold(fold)
            held_out = [s for s in train if assignment[s.id] == fold]
            rest = [to_image_tensors(s) for s in train if assignment[s.id] != fold]
            result = train_stage(config, fold_dir, 1, rest, [to_image_tensors(s) for s in val],
                                 config.fold_epochs or config.epochs, resume=resume, progress=progress)
            predictor = Predictor(load_model(result.weights), device=device)
            threshold = _finish_stage(config, fold_dir, predictor, val)
            groups.append((predictor, threshold, held_out))
    fractions = {}
    for predictor, threshold, samples in groups:
        for sample in samples:
            probability = predictor(sample.image).probability
            maps = error_maps(probability >= threshold, sample.label, sample.fov)
            for kind in ERROR_KINDS:
                write_png(maps_dir / f"{sample.id}_{kind}.png", maps[kind])
            write_png(maps_dir / f"{sample.id}_stage1.png", probability_to_uint16(probability))
            fractions[sample.id] = float(maps["error"][sample.fov].mean())
    info = {"mode": "in_sample" if in_sample else "out_of_fold", "folds": None if in_sample else config.folds,
            "fold_of": assignment, "error_fraction_in_fov": fractions,
            "mean_error_fraction": float(np.mean(list(fractions.values())))}
    write_text(out / "errors.json", json.dumps(info, indent=2) + "\n")
    return out


def _with_maps(sample: Sample, maps_dir: Path) -> ImageTensors:
    error_path = maps_dir / f"{sample.id}_error.png"
    if not error_path.is_file():
        raise InputError(error_path, "error map missing; run 'earnet errors RUN' first")
    extra = {"error": read_binary(error_path, "error map"),
             "stage1": read_probability(maps_dir / f"{sample.id}_stage1.png")}
    return to_image_tensors(sample, extra)


def run_stage2(run: Run, refinement: str | None = None, in_sample: bool | None = None, resume: bool = False,
               progress: bool = True, guidance: str | None = None) -> StageResult:
    """Fine-tune stage 1 with the error-attention head on the saved error maps.

    ``guidance`` (default: the config's ``error_guidance``) also steers training by the
    error maps: ``crops`` centres half the crops on errors, ``loss`` weighs them 3x.
    """
    config = run.config()
    refinement = refinement or config.refinement
    guidance = guidance or config.error_guidance
    if guidance not in CHOICES["error_guidance"]:
        raise EarnetError(f"error guidance must be one of {', '.join(CHOICES['error_guidance'])}, got {guidance!r}")
    in_sample = config.in_sample if in_sample is None else in_sample
    if refinement not in ("paper", "correct"):
        raise EarnetError(f"stage 2 refinement must be paper or correct, got {refinement!r}")
    maps_dir = run.errors(in_sample) / "maps"
    if not maps_dir.is_dir():
        raise InputError(maps_dir, "no error maps; run 'earnet errors RUN"
                         + (" --in-sample" if in_sample else "") + "' first")
    stage1 = load_model(run.weights("stage1"))
    device = inference_device(config)
    stage1_predictor = Predictor(stage1, device=device)
    train_ids, val_ids = train_val_ids(run, config)
    train = [_with_maps(s, maps_dir) for s in _samples(config, train_ids)]
    val_full_size = _samples(config, val_ids, rescale=False)
    val_samples = _at_run_scale(config, val_full_size)
    # Validation images were never trained on: stage 1's own prediction is honest there.
    val = [to_image_tensors(s, {"stage1": stage1_predictor(s.image).probability}) for s in val_samples]
    stage_config = TrainConfig(**{**config.to_dict(), "refinement": refinement, "error_guidance": guidance})
    out = run.stage2(refinement, in_sample, guidance)
    result = train_stage(stage_config, out, 2, train, val, config.stage2_epochs,
                         init=stage1.state_dict(), resume=resume, progress=progress)
    _finish_stage(config, out, Predictor(stage1, load_model(result.weights), device=device), val_samples,
                  val_full_size)
    return result
