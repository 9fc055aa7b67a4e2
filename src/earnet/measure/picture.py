"""The per-image picture: the skeleton coloured by calibre or tortuosity over the mask.

Branch points are red rings, end points small white dots; a colour bar with its range
is drawn under the image. Pixels, not a matplotlib figure, and a palette PNG (one byte
per pixel): encoding a 3504x2336 RGB PNG alone took ~0.3 s, the palette image ~0.03 s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from skimage.draw import circle_perimeter, disk

from earnet.io import PNG_COMPRESS_LEVEL, atomic_write
from earnet.measure.vessels import VesselMeasurements

MASK_GRAY = 70
BAR_HEIGHT = 28
COLOUR_BY = {"calibre": ("calibre", "px"), "tortuosity": ("distance_factor", "arc/chord")}
BLACK, GRAY, WHITE, RED, MAGENTA = range(5)
FIXED = ((0, 0, 0), (MASK_GRAY,) * 3, (255, 255, 255), (255, 40, 40), (255, 0, 255))
"""Palette entries 0-4: background, vessel mask, end points and text, branch points, segments without a value."""
LEVELS = 256 - len(FIXED)
"""Palette entries 5-255: the colour scale (viridis at 251 levels)."""

VIRIDIS = bytes.fromhex(
    "44015444025544035745055845065a45085b46095c460b5e460c5f460e61470f62471163471265471466471567471669"
    "47186a48196b481a6c481c6e481d6f481e70482071482172482273482374472575472676472777472878472a79472b7a"
    "472c7b462d7c462f7c46307d46317e45327f45347f453580453681443781443982433a83433b83433c84423d84423e85"
    "4240854141864142864043874044873f45873f47883e48883e49893d4a893d4b893d4c893c4d8a3c4e8a3b508a3b518a"
    "3a528b3a538b39548b39558b38568b38578c37588c37598c365a8c365b8c355c8c355d8c345e8d345f8d33608d33618d"
    "32628d32638d31648d31658d31668d30678d30688d2f698d2f6a8d2e6b8e2e6c8e2e6d8e2d6e8e2d6f8e2c708e2c718e"
    "2c728e2b738e2b748e2a758e2a768e2a778e29788e29798e287a8e287a8e287b8e277c8e277d8e277e8e267f8e26808e"
    "26818e25828e25838d24848d24858d24868d23878d23888d23898d22898d228a8d228b8d218c8d218d8c218e8c208f8c"
    "20908c20918c1f928c1f938b1f948b1f958b1f968b1e978a1e988a1e998a1e998a1e9a891e9b891e9c891e9d881e9e88"
    "1e9f881ea0871fa1871fa2861fa38620a48520a58521a68521a78422a78423a88323a98224aa8225ab8126ac8127ad80"
    "28ae7f29af7f2ab07e2bb17d2cb17d2eb27c2fb37b30b47a32b57a33b67935b77836b87738b97639b9763bba753dbb74"
    "3ebc7340bd7242be7144be7045bf6f47c06e49c16d4bc26c4dc26b4fc36951c46853c56755c66657c66559c7645bc862"
    "5ec96160c96062ca5f64cb5d67cc5c69cc5b6bcd596dce5870ce5672cf5574d05477d05279d1517cd24f7ed24e81d34c"
    "83d34b86d44988d5478bd5468dd64490d64392d74195d73f97d83e9ad83c9dd93a9fd938a2da37a5da35a7db33aadb32"
    "addc30afdc2eb2dd2cb5dd2bb7dd29bade27bdde26bfdf24c2df22c5df21c7e01fcae01ecde01dcfe11cd2e11bd4e11a"
    "d7e219dae218dce218dfe318e1e318e4e318e7e419e9e419ece41aeee51bf1e51cf3e51ef6e61ff8e621fae622fde724"
)
"""matplotlib's viridis (CC0) as 256 RGB bytes: importing matplotlib for it cost ~0.3 s per process
(a test checks the table against matplotlib)."""


def _lut() -> np.ndarray:
    return np.frombuffer(VIRIDIS, dtype=np.uint8).reshape(256, 3)


def palette() -> np.ndarray:
    """``(256, 3)`` RGB: the fixed colours, then the colour scale."""
    scale = _lut()[np.linspace(0, 255, LEVELS).round().astype(int)]
    return np.concatenate([np.array(FIXED, dtype=np.uint8), scale])


def render_indexed(mask: np.ndarray, result: VesselMeasurements, colour_by: str = "calibre") -> np.ndarray:
    """Palette indices ``uint8`` ``(H + bar, W)`` of the picture (colours: :func:`palette`)."""
    attribute, unit = COLOUR_BY[colour_by]
    h, w = mask.shape
    canvas = np.empty((h + BAR_HEIGHT, w), dtype=np.uint8)
    picture = canvas[:h]
    np.multiply(mask, np.uint8(GRAY), out=picture)
    values = np.array([getattr(s, attribute) for s in result.segments], dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(np.percentile(finite, 2)), float(np.percentile(finite, 98))) if finite.size else (0.0, 1.0)
    if colour_by == "tortuosity":
        low = 1.0
    high = max(high, low + 1e-6)
    thick = max(1, round(min(h, w) / 1000))  # thicker lines on large images so they stay visible
    if result.graph.paths:
        index = np.clip((values - low) / (high - low), 0, 1)
        colours = np.where(np.isfinite(values), len(FIXED) + np.nan_to_num(index * (LEVELS - 1)).round(), MAGENTA)
        pixels = np.concatenate(result.graph.paths)
        per_pixel = np.repeat(colours.astype(np.uint8), [len(p) for p in result.graph.paths])
        for dr in range(-thick + 1, thick):
            for dc in range(-thick + 1, thick):
                picture[np.clip(pixels[:, 0] + dr, 0, h - 1), np.clip(pixels[:, 1] + dc, 0, w - 1)] = per_pixel
        picture[pixels[:, 0], pixels[:, 1]] = per_pixel
    for r, c in result.end_points:
        picture[disk((r, c), 1.5 * thick, shape=(h, w))] = WHITE
    for r, c in result.branch_points:
        for radius in range(3 * thick, 3 * thick + thick):
            rr, cc = circle_perimeter(round(r), round(c), radius, shape=(h, w))
            picture[rr, cc] = RED
    canvas[h:] = _bar(w, low, high, f"{colour_by} ({unit})")
    return canvas


def render(mask: np.ndarray, result: VesselMeasurements, colour_by: str = "calibre") -> np.ndarray:
    """The picture as RGB ``uint8`` ``(H + bar, W, 3)``."""
    return palette()[render_indexed(mask, result, colour_by)]


def write(path: Path, mask: np.ndarray, result: VesselMeasurements, colour_by: str = "calibre") -> None:
    """Write the picture as a palette PNG, atomically."""
    image = Image.fromarray(render_indexed(mask, result, colour_by), mode="P")
    image.putpalette(palette().tobytes())
    with atomic_write(path) as handle:
        image.save(handle, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def _bar(width: int, low: float, high: float, label: str) -> np.ndarray:
    bar = np.zeros((BAR_HEIGHT, width), dtype=np.uint8)
    left, right = width // 4, width - width // 4
    if right - left > 1:
        bar[4:12, left:right] = len(FIXED) + np.linspace(0, LEVELS - 1, right - left).round().astype(np.uint8)
    text = Image.new("L", (width, BAR_HEIGHT))
    draw = ImageDraw.Draw(text)
    draw.text((max(2, left - 40), 2), f"{low:.3g}", fill=255)
    draw.text((right + 4, 2), f"{high:.3g}", fill=255)
    draw.text((left, 14), f"{label}; red rings: branch points; white: end points", fill=255)
    bar[np.asarray(text) >= 128] = WHITE
    return bar
