"""``earnet fit rite``: train the artery/vein model, pick its epoch on validation, test once.

Run folder::

    RUN/config.yaml, revision.txt, split.json   as for vessel runs (validation carved from train)
    RUN/av/                  checkpoints/, logs/ (CSV, TensorBoard), model.safetensors, stage.json
    RUN/test/av/             metrics.json, per_image.csv, images/<id>_{artery_prob,vein_prob,av}.png
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import torch

from earnet.av_bundle import load_av_model, save_av_model
from earnet.av_evaluate import AVEvaluation, evaluate_av, write_av_maps, write_av_report
from earnet.av_metrics import av_label_map
from earnet.config import TrainConfig
from earnet.data.fov import fov_diameter
from earnet.data.resolution import resize_tensor, scale_factor
from earnet.data.rite import av_targets, thin_vessels
from earnet.engine.av_task import MONITOR, THIN, VESSEL_INPUT, AVTask
from earnet.engine.datamodule import ImageTensors, VesselDataModule, to_image_tensors
from earnet.engine.loop import Fitted, fit_and_export
from earnet.engine.pipeline import inference_device
from earnet.engine.run import Run, dataset_split, open_run, train_val_ids
from earnet.exceptions import InputError
from earnet.inference.av import AVPredictor
from earnet.io import write_text
from earnet.models.av import GROWN_MODULES, create_av_model
from earnet.models.registry import count_parameters
from earnet.types import Sample

VESSEL_THRESHOLD = 0.5


def vessel_probabilities(config: TrainConfig, samples: list[Sample]) -> dict[str, np.ndarray | None]:
    """The probability of ``config.av_vessel_model`` per sample id, for A/V models with a vessel
    input (``None`` each otherwise): the map the model gets at inference and in the ONNX
    graph, the vessel network's output at the working scale before the FOV cut (the
    shipped ``drive_av`` was trained on the map cut to the FOV: BENCHMARKS.md).
    """
    if not create_av_model(config.backbone).vessel_input:
        return {s.id: None for s in samples}
    if not config.av_vessel_model:
        raise InputError(config.backbone, "this A/V model needs a vessel model's probability: set av_vessel_model "
                                          "(e.g. --av-vessel-model general)")
    from earnet.segment import load_segmenter

    segmenter = load_segmenter(config.av_vessel_model)
    maps: dict[str, np.ndarray | None] = {}
    for sample in samples:
        result = segmenter.segment(sample.image, sample.fov, keep_working=True)
        maps[sample.id] = result.working_probability if result.working_probability is not None else result.probability
    return maps


def _tensors(sample: Sample, diameter: float | None = None, vessel: np.ndarray | None = None,
             thin: bool = False) -> ImageTensors:
    """A training image's tensors, resized so its FOV is ``diameter`` px wide (``None``: as it is).

    The A/V targets are resampled as fractions (soft targets, not thresholded): a thin
    vessel that covers half a pixel at the smaller scale still says which type it is.
    ``vessel`` (a vessel model's probability) becomes the map ``vessel_input``; ``thin`` adds
    the map of thin reference vessels (``av_thin_weight``), found at the label's own scale.
    """
    assert sample.av is not None
    targets = av_targets(sample.av)
    extra = {k: targets[k] for k in ("artery", "vein", "known")}
    if thin:
        extra[THIN] = thin_vessels(sample.av)
    if vessel is not None:
        extra[VESSEL_INPUT] = vessel
    tensors = to_image_tensors(sample, extra)
    factor = scale_factor(sample.fov, diameter)
    if factor == 1.0:
        return tensors
    image = resize_tensor(tensors.image, factor, "bicubic").clamp_(0, 1)
    maps = {key: resize_tensor(value, factor, "bilinear") for key, value in tensors.maps.items()}
    maps["fov"] = (maps["fov"] >= 0.5).float()
    return ImageTensors(tensors.id, image, maps)


def train_av(config: TrainConfig, out: Path, train: list[Sample], val: list[Sample], resume: bool = False,
             progress: bool = True, extra_callbacks: list[L.Callback] | None = None) -> Path:
    """Train into ``out`` and export the best validation epoch as ``out/model.safetensors``.

    The loop (checkpoints, resume, history, clock) is :mod:`earnet.engine.loop`, as for
    the vessel stages; a finished model (weights and ``stage.json``) is not re-entered.
    """
    weights = out / "model.safetensors"
    if resume and weights.is_file() and (out / "stage.json").is_file():
        return weights
    L.seed_everything(config.seed, workers=True, verbose=False)
    task = AVTask(config.to_dict())
    earlier_seconds = 0.0
    if config.init:
        init, init_meta = load_av_model(config.init)
        if sorted(init_meta.get("val_ids", [])) != sorted(s.id for s in val):
            raise InputError(config.init, "was trained with other validation images "
                                          f"({init_meta.get('val_ids')}); continuing from it would leak them")
        missing, unexpected = task.model.load_state_dict(init.state_dict(), strict=False)
        # a model may grow from a trained one: only modules that start at zero may be missing
        if unexpected or any(not key.startswith(GROWN_MODULES) for key in missing):
            raise InputError(config.init, f"is a {init_meta.get('backbone')} model; a {config.backbone} "
                                          "cannot start from it")
        earlier_seconds = float(init_meta.get("train_seconds", 0.0))
    task.model.to(memory_format=torch.channels_last)
    vessel = vessel_probabilities(config, train + val)
    data = VesselDataModule([_tensors(s, config.fov_diameter, vessel[s.id], config.av_thin_weight > 0) for s in train],
                            [_tensors(s, None, vessel[s.id]) for s in val], config.crop,
                            config.samples_per_epoch, config.batch_size, config.augment, config.seed,
                            config.num_workers, config.camera_augment)

    def export(fitted: Fitted) -> None:
        diameter = config.fov_diameter or float(np.median([fov_diameter(s.fov) for s in train]))
        meta = {"backbone": config.backbone, "dataset": config.dataset, "val_av_score": fitted.score,
                "val_ids": [s.id for s in val], "fov_diameter": float(diameter),
                "vessel_threshold": VESSEL_THRESHOLD, "train_seconds": fitted.seconds + earlier_seconds,
                "init": config.init, "vessel_model": config.av_vessel_model if task.model.vessel_input else None}
        save_av_model(fitted.model, weights, meta)
        write_text(out / "stage.json", json.dumps({"best_val_av_score": fitted.score, "train_seconds": fitted.seconds,
                                                   "parameters": count_parameters(fitted.model)},
                                                  indent=2, allow_nan=False) + "\n")

    fit_and_export(task, data, config, out, epochs=config.epochs, monitor=MONITOR, resume=resume,
                   progress=progress, extra_callbacks=extra_callbacks, export=export)
    return weights


def evaluate_av_run(run: Run, split: str = "test", device: str | None = None) -> AVEvaluation:
    """Evaluate the run's A/V model on ``split`` (its own vessel map at 0.5) into ``RUN/<split>/av``;
    ``device``: default, the run's own (its training GPU, if any)."""
    config = run.config()
    model, meta = load_av_model(run.path / "av" / "model.safetensors")
    predictor = AVPredictor(model, device=device or inference_device(config))
    out = run.path / split / "av"
    samples = list(dataset_split(config, split))
    vessel = vessel_probabilities(config, samples)

    def predict(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        maps = predictor.predict_scaled(sample.image, scale_factor(sample.fov, meta["fov_diameter"]), vessel[sample.id])
        for array in (maps.artery, maps.vein, maps.vessel):
            array[~sample.fov] = 0
        classes = av_label_map(maps.artery, maps.vein, maps.vessel >= meta["vessel_threshold"])
        write_av_maps(out / "images", sample.id, maps.artery, maps.vein, classes)
        return maps.artery, maps.vein, classes

    result = evaluate_av(dataset_split(config, split), predict,
                         {"model": "A/V model of the run, its own vessel map at 0.5", "run": str(run.path)})
    write_av_report(result, out)
    return result


def fit_av(config: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> AVEvaluation:
    """Train on RITE's training images (validation carved out), then evaluate on its test images."""
    run = open_run(out, config, resume)
    train_ids, val_ids = train_val_ids(run, config)
    dataset = dataset_split(config, "train")
    samples = {s.id: s for s in dataset}
    train_av(config, run.path / "av", [samples[i] for i in train_ids], [samples[i] for i in val_ids],
             resume=resume, progress=progress)
    return evaluate_av_run(run)
