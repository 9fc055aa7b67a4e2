"""Decision thresholds: the policies, their one parser, and the one best-F1 chooser.

A policy is named by what it is:

``model``
    the threshold the model chose on its own validation images (stored with a run's
    stage, a bundle, and in ``predictions.json`` beside maps the model wrote);
``validation``
    (training) choose it on the run's validation images: pooled best F1; where they come
    from several datasets, the best *mean* of the per-dataset F1s, so each camera counts
    once (pooled, the one with the most pixels decides; BENCHMARKS "Leave-one-dataset-out");
``train-f1``
    (evaluation) choose it on the **training** split's predictions: pooled best F1,
    then apply it to the split being evaluated;
a number in (0, 1]
    used as it is.

``auto`` is accepted as a deprecated synonym of each context's former meaning.
Thresholds are never chosen on the split being evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from earnet.exceptions import EarnetError
from earnet.types import Sample

MODEL, VALIDATION, TRAIN_F1, FIXED = "model", "validation", "train-f1", "fixed"


@dataclass(frozen=True)
class ThresholdPolicy:
    """A parsed threshold: a named policy, or ``fixed`` with its ``value``."""

    name: str
    value: float | None = None

    def __str__(self) -> str:
        return f"{self.value:g}" if self.name == FIXED else self.name


def parse_threshold(text: str | float, policies: tuple[str, ...], auto: str | None = None,
                    what: str = "--threshold") -> ThresholdPolicy:
    """Parse ``text`` as one of ``policies`` or a number in (0, 1] (``auto`` means policy ``auto``)."""
    if isinstance(text, str):
        word = text.strip().lower()
        if word == "auto" and auto is not None:
            word = auto
        if word in policies:
            return ThresholdPolicy(word)
    try:
        value = float(text)
    except (TypeError, ValueError):
        names = ", ".join(repr(p) for p in policies)
        raise EarnetError(f"{what} must be {names} or a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:  # NaN fails too
        raise EarnetError(f"{what} must be in (0, 1], got {text!r}")
    return ThresholdPolicy(FIXED, value)


def best_f1_over(samples: Iterable[Sample], predict: Callable[[Sample], np.ndarray], use_fov: bool = True,
                 group: Callable[[Sample], str] | None = None) -> float:
    """The threshold maximising pooled F1 of ``predict`` over ``samples`` (inside their FOVs);
    with ``group`` (e.g. a sample's dataset), the best mean of the groups' pooled F1s."""
    from earnet.metrics import best_mean_f1_threshold

    scores: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[np.ndarray]] = {}
    for sample in samples:
        key = group(sample) if group else ""
        probability = predict(sample)
        mask = sample.fov if use_fov else np.ones_like(sample.fov)
        scores.setdefault(key, []).append(probability[mask])
        labels.setdefault(key, []).append(sample.label[mask])
    if not scores:
        raise EarnetError("no images to choose a threshold on")
    return best_mean_f1_threshold([(np.concatenate(scores[k]), np.concatenate(labels[k])) for k in scores])


def source_dataset(dataset: str) -> Callable[[Sample], str] | None:
    """For a combined dataset (``drive+stare``), the dataset each sample comes from (its id's
    prefix); ``None`` for a single dataset."""
    names = sorted(dataset.split("+"), key=len, reverse=True)
    if len(names) < 2:
        return None
    return lambda sample: next((n for n in names if sample.id.startswith(n + "_")), "")


def training_split(split: str) -> str:
    """The training split paired with ``split`` (``test`` → ``train``, ``loo3/test`` → ``loo3/train``)."""
    if split == "all" or split.endswith("train"):
        raise EarnetError(f"--threshold train-f1 is chosen on the training split; it cannot be used to "
                          f"evaluate the {split} split")
    return split.replace("/test", "/train") if "/" in split else "train"
