"""A/V evaluation of a RITE split: per-image and pooled scores, reports and prediction files.

Predictions are the files ``earnet segment --av`` writes, matched to the dataset by id:
``<id>_artery_prob.png`` and ``<id>_vein_prob.png`` (16-bit probabilities) and
``<id>_av.png`` (RITE's colour code: red artery, blue vein, green crossing; any
non-black pixel is a predicted vessel).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from earnet.av_metrics import SCORE_KEYS, add_counts, av_counts, av_scores
from earnet.data.base import VesselDataset
from earnet.data.layout import index_by_stem
from earnet.data.rite import ARTERY, CROSSING, VEIN, read_av_label
from earnet.exceptions import EarnetError, InputError
from earnet.io import probability_to_uint16, read_probability, write_png, write_text
from earnet.types import Sample

AV_SUFFIXES = ("_artery_prob", "_vein_prob", "_av")
AV_COLOURS = {ARTERY: (255, 0, 0), VEIN: (0, 0, 255), CROSSING: (0, 255, 0)}

AVMaps = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Artery probability, vein probability, predicted classes."""


@dataclass
class AVEvaluation:
    """Scores of one split: pooled (counts summed), mean/std over images, per image."""

    pooled: dict[str, float]
    mean: dict[str, float]
    std: dict[str, float]
    per_image: dict[str, dict[str, float]]
    counts: dict[str, dict[str, int]]
    protocol: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict (NaN as ``null``)."""
        clean = lambda d: {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}  # noqa: E731
        return {"protocol": self.protocol, "pooled": clean(self.pooled), "mean": clean(self.mean),
                "std": clean(self.std), "per_image": {k: clean(v) for k, v in self.per_image.items()}}


def av_colour_map(classes: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` picture of A/V classes in RITE's colour code."""
    picture = np.zeros((*classes.shape, 3), dtype=np.uint8)
    for value, colour in AV_COLOURS.items():
        picture[classes == value] = colour
    return picture


def write_av_maps(folder: Path, stem: str, artery: np.ndarray, vein: np.ndarray, classes: np.ndarray) -> list[Path]:
    """Write ``<stem>_artery_prob.png``, ``<stem>_vein_prob.png`` (16-bit) and ``<stem>_av.png``."""
    paths = [folder / f"{stem}{suffix}.png" for suffix in AV_SUFFIXES]
    write_png(paths[0], probability_to_uint16(artery))
    write_png(paths[1], probability_to_uint16(vein))
    write_png(paths[2], av_colour_map(classes))
    return paths


def folder_av_predictor(folder: Path, dataset: VesselDataset) -> Callable[[Sample], AVMaps]:
    """Read each sample's A/V prediction files from ``folder`` (all must be there)."""
    if not folder.is_dir():
        raise InputError(folder, "predictions folder not found")
    files = index_by_stem(folder)
    missing = [f"{i}{s}.png" for i in dataset.ids for s in AV_SUFFIXES if f"{i}{s}" not in files]
    if missing:
        raise InputError(folder, f"no A/V prediction for {len(missing)} file(s), e.g. {missing[0]} "
                                 "(write them with 'earnet segment --av')")

    def predict(sample: Sample) -> AVMaps:
        shape = sample.image.shape[:2]
        artery, vein = (read_probability(files[f"{sample.id}{s}"]) for s in AV_SUFFIXES[:2])
        for path, array in ((files[f"{sample.id}_artery_prob"], artery), (files[f"{sample.id}_vein_prob"], vein)):
            if array.shape != shape:
                raise InputError(path, f"is {array.shape[1]}x{array.shape[0]} but the image is {shape[1]}x{shape[0]}")
        return artery, vein, read_av_label(files[f"{sample.id}_av"], shape)

    return predict


def evaluate_av(dataset: VesselDataset, predict: Callable[[Sample], AVMaps],
                protocol: dict[str, object] | None = None) -> AVEvaluation:
    """Score every sample of an A/V dataset (all predictions are computed before returning)."""
    counts: dict[str, dict[str, int]] = {}
    for sample in dataset:
        if sample.av is None:
            raise EarnetError(f"dataset {dataset.name} has no artery/vein labels (use rite)")
        artery, vein, classes = predict(sample)
        counts[sample.id] = av_counts(artery, vein, classes, sample.av, sample.fov)
    per_image = {k: av_scores(v) for k, v in counts.items()}
    table = np.array([[scores[k] for k in SCORE_KEYS] for scores in per_image.values()], dtype=float)
    with warnings.catch_warnings():  # a score that is NaN for every image stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = dict(zip(SCORE_KEYS, np.nanmean(table, axis=0).tolist()))
        std = dict(zip(SCORE_KEYS, np.nanstd(table, axis=0).tolist()))
    base = {"dataset": dataset.name, "split": dataset.split, "images": len(counts),
            "positive_class": "artery", "reference": "RITE (test: traced on DRIVE's 2nd observer)",
            "gt_pixels": "reference artery or vein pixels in the FOV (crossings and uncertain left out)",
            "decision": "artery where p_artery >= p_vein"}
    return AVEvaluation(av_scores(add_counts(counts.values())), mean, std, per_image, counts,
                        {**base, **(protocol or {})})


def write_av_report(result: AVEvaluation, out: Path) -> list[Path]:
    """``metrics.json`` and ``per_image.csv`` in ``out``."""
    metrics = out / "metrics.json"
    write_text(metrics, json.dumps(result.to_json(), indent=2) + "\n")
    lines = ["id," + ",".join(SCORE_KEYS)]
    for image_id, scores in result.per_image.items():
        lines.append(image_id + "," + ",".join("" if math.isnan(scores[k]) else f"{scores[k]:.6f}"
                                                for k in SCORE_KEYS))
    per_image = out / "per_image.csv"
    write_text(per_image, "\n".join(lines) + "\n")
    return [metrics, per_image]


def format_av_table(result: AVEvaluation) -> str:
    """A small text table: pooled and mean ± std of each score."""
    rows = [f"{'metric':<14}{'pooled':>9}{'mean':>9}{'std':>9}"]
    for key in SCORE_KEYS:
        rows.append(f"{key:<14}{result.pooled[key]:>9.4f}{result.mean[key]:>9.4f}{result.std[key]:>9.4f}")
    return "\n".join(rows)
