"""Plots and pictures: ROC/PR curves, overlays, TP/FP/FN maps."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from earnet.io import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pyplot():  # noqa: ANN202
    """matplotlib's pyplot on the file-only Agg backend, imported when first plotting
    (it costs ~0.5 s, which commands that draw nothing should not pay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Figure, path: Path) -> None:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue())


def plot_curve(x: np.ndarray, y: np.ndarray, path: Path, *, kind: str, title: str, area: float) -> None:
    """Save a ROC (``kind="roc"``) or precision-recall (``kind="pr"``) curve as PNG."""
    figure, axes = _pyplot().subplots(figsize=(4.5, 4.5))
    axes.plot(x, y, lw=1.5, label=f"{'AUC' if kind == 'roc' else 'AP'} = {area:.4f}")
    if kind == "roc":
        axes.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
        axes.set(xlabel="false positive rate (1 - Sp)", ylabel="true positive rate (Se)")
    else:
        axes.set(xlabel="recall (Se)", ylabel="precision")
    axes.set(xlim=(0, 1), ylim=(0, 1.01), title=title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right" if kind == "roc" else "lower left")
    _save(figure, path)


def overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (0, 255, 64),
            alpha: float = 0.6) -> np.ndarray:
    """Composite ``mask`` over an RGB ``image`` in ``colour`` (vessels over the fundus)."""
    out = image.copy()  # only the vessel pixels are blended: memory stays near the image's own size
    blended = (1 - alpha) * image[mask].astype(np.float32) + alpha * np.asarray(colour, np.float32)
    out[mask] = blended.round().astype(np.uint8)
    return out


def error_colours(prediction: np.ndarray, label: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """RGB map: TP white, FP red, FN blue, TN black; outside the FOV dark grey."""
    out = np.zeros((*label.shape, 3), dtype=np.uint8)
    out[~fov] = (40, 40, 40)
    out[prediction & label & fov] = (255, 255, 255)
    out[prediction & ~label & fov] = (255, 40, 40)
    out[~prediction & label & fov] = (40, 120, 255)
    return out


def av_overlay(image: np.ndarray, colours: np.ndarray, alpha: float = 0.7) -> np.ndarray:
    """Composite an A/V colour map (black = nothing) over an RGB ``image``."""
    out = image.astype(np.float32).copy()
    drawn = colours.any(axis=-1)
    out[drawn] = (1 - alpha) * out[drawn] + alpha * colours[drawn].astype(np.float32)
    return out.round().astype(np.uint8)
