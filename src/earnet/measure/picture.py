"""The per-image picture: the skeleton coloured by calibre or tortuosity over the mask.

Branch points are red rings, end points small white dots; a colour bar with its range
is drawn under the image. Pixels, not a matplotlib figure, so a 3504x2336 picture
costs a fraction of a second.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from skimage.draw import circle_perimeter, disk

from earnet.measure.vessels import VesselMeasurements

MASK_GRAY = 70
BAR_HEIGHT = 28
COLOUR_BY = {"calibre": ("calibre", "px"), "tortuosity": ("distance_factor", "arc/chord")}


def _lut() -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def render(mask: np.ndarray, result: VesselMeasurements, colour_by: str = "calibre") -> np.ndarray:
    """RGB ``uint8`` picture ``(H + bar, W, 3)``."""
    attribute, unit = COLOUR_BY[colour_by]
    h, w = mask.shape
    picture = np.zeros((h, w, 3), dtype=np.uint8)
    picture[mask] = MASK_GRAY
    values = np.array([getattr(s, attribute) for s in result.segments], dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(np.percentile(finite, 2)), float(np.percentile(finite, 98))) if finite.size else (0.0, 1.0)
    if colour_by == "tortuosity":
        low = 1.0
    high = max(high, low + 1e-6)
    lut = _lut()
    thick = max(1, round(min(h, w) / 1000))  # thicker lines on large images so they stay visible
    if result.graph.paths:
        index = np.clip((values - low) / (high - low), 0, 1)
        colours = np.where(np.isfinite(values)[:, None], lut[np.nan_to_num(index * 255).astype(int)], (255, 0, 255))
        pixels = np.concatenate(result.graph.paths)
        per_pixel = np.repeat(colours, [len(p) for p in result.graph.paths], axis=0).astype(np.uint8)
        for dr in range(-thick + 1, thick):
            for dc in range(-thick + 1, thick):
                picture[np.clip(pixels[:, 0] + dr, 0, h - 1), np.clip(pixels[:, 1] + dc, 0, w - 1)] = per_pixel
        picture[pixels[:, 0], pixels[:, 1]] = per_pixel
    for r, c in result.end_points:
        picture[disk((r, c), 1.5 * thick, shape=(h, w))] = 255
    for r, c in result.branch_points:
        for radius in range(3 * thick, 3 * thick + thick):
            rr, cc = circle_perimeter(int(round(r)), int(round(c)), radius, shape=(h, w))
            picture[rr, cc] = (255, 40, 40)
    return np.concatenate([picture, _bar(w, lut, low, high, f"{colour_by} ({unit})")], axis=0)


def _bar(width: int, lut: np.ndarray, low: float, high: float, label: str) -> np.ndarray:
    bar = np.zeros((BAR_HEIGHT, width, 3), dtype=np.uint8)
    left, right = width // 4, width - width // 4
    if right - left > 1:
        bar[4:12, left:right] = lut[np.linspace(0, 255, right - left).astype(int)]
    image = Image.fromarray(bar)
    draw = ImageDraw.Draw(image)
    draw.text((max(2, left - 40), 2), f"{low:.3g}", fill=(255, 255, 255))
    draw.text((right + 4, 2), f"{high:.3g}", fill=(255, 255, 255))
    draw.text((left, 14), f"{label}; red rings: branch points; white: end points", fill=(255, 255, 255))
    return np.asarray(image)
