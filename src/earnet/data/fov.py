"""Field-of-view (FOV) masks derived from the photograph.

DRIVE and HRF ship official FOV masks; CHASE_DB1, STARE and most users' photos do
not. The camera's field of view is the bright disc of the photograph against a
near-black surround, so it is found from the red channel (the brightest channel of
fundus images, and the one least affected by vessels):

1. threshold the red channel 15 % of the way from the surround's level (median of
   the darkest corner; STARE's surround is dark green-grey, not black) to the bright
   level (99th percentile), which adapts to exposure and ignores a few saturated
   pixels, after a 3x3 median that suppresses sensor noise and JPEG ringing at the
   rim (computed as a vote: the median of 9 values exceeds a threshold exactly when
   at least 5 of them do, which is ~20x cheaper than filtering the image);
3. keep the largest connected component (drops text overlays and dust);
4. take its convex hull: the camera's aperture is convex (a disc, sometimes cut
   flat at top and bottom), and the hull restores rims that uneven illumination
   leaves too dark to threshold (seen on CHASE_DB1) as well as dark lesions;
5. erode by one pixel so the rim's partial-volume pixels stay outside.

On DRIVE this agrees with the official masks at IoU > 0.97 (tested on every image).

Only numpy is needed (labelling, the corner median and the hull are written here and
tested against scipy), so the PyTorch-free ONNX runtime (:mod:`earnet.runtime`) derives
exactly the same masks as ``earnet segment``. Full-size work runs in strips of
:data:`ROWS` rows, so a very large photograph needs little more than its own bytes
and the mask (no full-size integer temporaries).
"""

from __future__ import annotations

import numpy as np

RED_FRACTION = 0.15
"""Threshold position between the background's and the FOV's red level."""
MIN_MARGIN = 8.0
"""The threshold sits at least this far (0..255) above the background's red level."""
CORNER = 0.03
"""Side of the corner patches that sample the background, as a fraction of the image."""
ROWS = 128
"""Rows per strip for the full-size passes (memory is a strip's, the result is the same)."""


def derive_fov(image: np.ndarray, fraction: float = RED_FRACTION) -> np.ndarray:
    """Derive the FOV mask of an RGB ``uint8`` fundus photograph.

    Args:
        image: ``(H, W, 3)`` RGB image.
        fraction: where the threshold sits between the background level (darkest
            corner) and the bright level (99th percentile) of the red channel.

    Returns:
        ``bool`` mask ``(H, W)``; all ``False`` if nothing bright enough is found.
    """
    red = image[..., 0]
    background = _background_level(red)
    bright = _percentile_uint8(red, 99) if red.dtype == np.uint8 else float(np.percentile(red, 99))
    threshold = background + max(MIN_MARGIN, fraction * (bright - background))
    inside = _median_above(red, threshold)
    height, width = inside.shape
    runs = _largest_runs(inside)
    del inside
    if runs[0].size == 0:
        return np.zeros((height, width), dtype=bool)
    lower, upper = _hull_rows_of_runs(*runs, height, width)
    return _rows_to_mask(*_erode_rows(lower, upper, width), width)


def _percentile_uint8(channel: np.ndarray, q: float) -> float:
    """``np.percentile(channel, q, method="lower")`` of ``uint8`` data, from its histogram (no sort)."""
    counts = np.zeros(256, dtype=np.int64)
    for top in range(0, channel.shape[0], ROWS):  # bincount casts to int64: in strips
        counts += np.bincount(channel[top:top + ROWS].ravel(), minlength=256)
    counts = np.cumsum(counts)
    return float(np.searchsorted(counts, q / 100 * (counts[-1] - 1), side="right"))


def _median_above(channel: np.ndarray, threshold: float) -> np.ndarray:
    """``median_filter(channel, 3) > threshold`` (edges replicated), by counting votes (in strips)."""
    height, width = channel.shape
    out = np.empty((height, width), dtype=bool)
    for top in range(0, height, ROWS):
        bottom = min(height, top + ROWS)
        above = channel[max(0, top - 1):bottom + 1] > threshold  # the strip and its neighbouring rows
        pad_rows = (int(top == 0), int(bottom == height))  # image edges are replicated
        above = np.pad(above, (pad_rows, (1, 1)), mode="edge").astype(np.uint8)
        rows = bottom - top
        votes = np.zeros((rows, width), dtype=np.uint8)
        for dy in range(3):
            for dx in range(3):
                votes += above[dy:dy + rows, dx:dx + width]
        out[top:bottom] = votes >= 5
    return out


def _background_level(red: np.ndarray) -> float:
    """Median of the median-filtered red of the darkest image corner (the surround outside the aperture)."""
    h, w = red.shape
    k = max(3, int(CORNER * min(h, w)))
    corners = (red[:k, :k], red[:k, -k:], red[-k:, :k], red[-k:, -k:])
    return min(float(np.median(_median3(c))) for c in corners)


def _median3(patch: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.median_filter(patch, size=3)`` (mode ``reflect``: edges mirrored)."""
    padded = np.pad(patch, 1, mode="symmetric")
    height, width = patch.shape
    shifted = [padded[dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)]
    return np.median(np.stack(shifted), axis=0).astype(patch.dtype)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of ``mask`` (ties: the first in raster order),
    as ``scipy.ndimage.label`` + ``argmax`` of the sizes would pick it."""
    height, width = mask.shape
    rows, starts, ends = _largest_runs(mask)
    out = np.zeros((height, width), dtype=bool)
    for top in range(0, height, ROWS):
        bottom = min(height, top + ROWS)
        chosen = (rows >= top) & (rows < bottom)
        edges = np.zeros((bottom - top, width + 1), dtype=np.int32)
        np.add.at(edges, (rows[chosen] - top, starts[chosen]), 1)
        np.add.at(edges, (rows[chosen] - top, ends[chosen] + 1), -1)
        out[top:bottom] = np.cumsum(edges, axis=1)[:, :width] > 0
    return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, first and last column (inclusive) of every horizontal run of ``mask``, in raster order."""
    height, width = mask.shape
    rows, starts, ends = [], [], []
    for top in range(0, height, ROWS):
        strip = mask[top:top + ROWS]
        padded = np.zeros((strip.shape[0], width + 2), dtype=np.int8)
        padded[:, 1:-1] = strip
        change = np.diff(padded, axis=1)
        strip_rows, strip_starts = np.nonzero(change == 1)
        rows.append(strip_rows + top)
        starts.append(strip_starts)
        ends.append(np.nonzero(change == -1)[1] - 1)
    return np.concatenate(rows), np.concatenate(starts), np.concatenate(ends)


def _largest_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs (as :func:`_runs`) of the largest 4-connected component of ``mask``.

    Components are found on horizontal runs, not pixels: runs on neighbouring rows that
    share a column are joined, and run labels settle by min-propagation with pointer
    jumping. A FOV mask has a few runs per row, so this costs a few milliseconds.
    """
    width = mask.shape[1]
    run_rows, run_starts, run_ends = _runs(mask)
    count = run_rows.size
    if count == 0:
        return run_rows, run_starts, run_ends
    # Runs of the next row that share a column with a run form a contiguous range of run
    # indices (runs are disjoint and in raster order): find its ends by binary search.
    stride = width + 1
    start_keys, end_keys = run_rows * stride + run_starts, run_rows * stride + run_ends
    lo = np.searchsorted(end_keys, (run_rows + 1) * stride + run_starts, side="left")
    hi = np.searchsorted(start_keys, (run_rows + 1) * stride + run_ends, side="right")
    counts = np.maximum(hi - lo, 0)
    first = np.repeat(np.arange(count), counts)
    second = np.repeat(lo, counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    label = np.arange(count)
    if first.size:
        while True:
            low = np.minimum(label[first], label[second])
            previous = label.copy()
            np.minimum.at(label, first, low)
            np.minimum.at(label, second, low)
            label = label[label]  # pointer jumping: follow chains to their root
            if np.array_equal(label, previous):
                break
    sizes = np.bincount(label, weights=run_ends - run_starts + 1, minlength=count)
    keep = label == int(np.argmax(sizes))  # roots are each component's first run, in raster order
    return run_rows[keep], run_starts[keep], run_ends[keep]


_DIAMOND = np.array([[-0.5, 0.0], [0.5, 0.0], [0.0, -0.5], [0.0, 0.5]])


def _hull_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last column inside the convex hull of ``mask`` on every row (first > last: none).

    Pixels count as the diamond of their edge midpoints, as in scikit-image's
    ``convex_hull_image`` (tested equal); the hull is filled row by row from its
    half-planes instead of testing every pixel against the polygon (~0.2 s a DRIVE image).
    """
    height, width = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    band = mask[rows]
    return _hull_rows_of_extremes(rows, band.argmax(axis=1), width - 1 - band[:, ::-1].argmax(axis=1),
                                  height, width)


def _hull_rows_of_runs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, height: int,
                       width: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_hull_rows` of the mask made of these runs (raster order), without drawing it."""
    unique, first = np.unique(rows, return_index=True)
    last = np.r_[first[1:], rows.size] - 1
    return _hull_rows_of_extremes(unique, starts[first], ends[last], height, width)


def _hull_rows_of_extremes(rows: np.ndarray, left: np.ndarray, right: np.ndarray, height: int,
                           width: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_hull_rows` from each non-empty row's first and last column inside."""
    if rows.size == 0:
        return np.zeros(height, np.int64), np.full(height, -1, np.int64)
    extremes = sorted(set(zip(rows.tolist(), left.tolist())) | set(zip(rows.tolist(), right.tolist())))
    # hull(P + diamond) = hull(vertices of hull(P)) + diamond, so the pixel hull comes first
    corners = np.array(_convex_vertices(extremes), dtype=np.float64)
    normal_y, normal_x, offset = _hull_equations((corners[:, None, :] + _DIAMOND).reshape(-1, 2)).T
    # inside: normal_y*y + normal_x*x + offset <= 0; rows x edges at a time (a strip of rows)
    tolerance = 1e-9
    lower, upper = np.empty(height), np.empty(height)
    feasible = np.empty(height, dtype=bool)
    for top in range(0, height, ROWS):
        strip = slice(top, top + ROWS)
        y = np.arange(top, min(height, top + ROWS), dtype=np.float64)[:, None]
        bound = -(offset + normal_y * y)  # normal_x * x <= bound
        with np.errstate(divide="ignore", invalid="ignore"):
            limit = bound / normal_x
        upper[strip] = np.where(normal_x > tolerance, limit, np.inf).min(axis=1)
        lower[strip] = np.where(normal_x < -tolerance, limit, -np.inf).max(axis=1)
        feasible[strip] = np.all((np.abs(normal_x) > tolerance) | (bound >= -tolerance), axis=1)
    first = np.clip(np.ceil(lower - tolerance), 0, width).astype(np.int64)
    last = np.clip(np.floor(upper + tolerance), -1, width - 1).astype(np.int64)
    return np.where(feasible, first, 0), np.where(feasible, last, -1)


def _convex_vertices(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Vertices of the convex hull of distinct ``(y, x)`` points sorted by y then x,
    counter-clockwise (Andrew's monotone chain; collinear points are dropped)."""
    if len(points) < 3:
        return list(points)

    def chain(ordered: list[tuple[float, float]]) -> list[tuple[float, float]]:
        kept: list[tuple[float, float]] = []  # plain floats: ~10x faster than numpy scalars here
        for y, x in ordered:
            while len(kept) >= 2:
                (ay, ax), (by, bx) = kept[-2], kept[-1]
                if (by - ay) * (x - ax) - (bx - ax) * (y - ay) > 0:
                    break
                kept.pop()
            kept.append((y, x))
        return kept

    return chain(points)[:-1] + chain(points[::-1])[:-1]


def _hull_equations(points: np.ndarray) -> np.ndarray:
    """Half-planes ``(n_y, n_x, c)`` (unit outward normal, ``n . p + c <= 0`` inside) of the
    convex hull of ``(y, x)`` points (not all collinear), as ``scipy.spatial.ConvexHull(points).equations``."""
    vertices = np.array(_convex_vertices(sorted(set(map(tuple, points.tolist())))))
    edges = np.roll(vertices, -1, axis=0) - vertices
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)  # points away from the inside
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = -(normals * vertices).sum(axis=1)
    return np.column_stack([normals, offsets])


def _erode_rows(first: np.ndarray, last: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row intervals of a convex region eroded by the 3x3 cross, the image border counting as inside
    (``ndimage.binary_erosion(..., border_value=1)``), without touching every pixel."""
    empty = first > last
    first, last = np.where(empty, width, first), np.where(empty, -1, last)  # empty rows admit nothing
    # Own row: the left and right neighbours must be inside (or beyond the image edge).
    own_first = np.where(first > 0, first + 1, 0)
    own_last = np.where(last < width - 1, last - 1, width - 1)
    # Rows above and below: the pixel itself must be inside them (rows beyond the image admit all).
    above_first, above_last = np.r_[0, first[:-1]], np.r_[width - 1, last[:-1]]
    below_first, below_last = np.r_[first[1:], 0], np.r_[last[1:], width - 1]
    return (np.maximum.reduce([own_first, above_first, below_first]),
            np.minimum.reduce([own_last, above_last, below_last]))


def _rows_to_mask(first: np.ndarray, last: np.ndarray, width: int) -> np.ndarray:
    columns = np.arange(width)
    out = np.empty((first.size, width), dtype=bool)
    for top in range(0, first.size, ROWS):
        strip = slice(top, top + ROWS)
        np.logical_and(columns >= first[strip, None], columns <= last[strip, None], out=out[strip])
    return out


MIN_RIM_POINTS = 16
"""Rim points (row ends off the image border) needed to fit the aperture's circle."""
MAX_RIM_RESIDUAL = 0.025
"""The rim circle is used only if the rim points lie this close to it (RMS, fraction of the radius;
STARE's aperture, the least round seen, gives ~0.022)."""
MIN_RIM_ARC = 70
"""... and cover at least this much of it (degrees, in 10-degree bins): a short stretch of
straight hull edge also fits a (huge) circle."""
MAX_RIM_GAIN = 1.5
"""... and its diameter is at most this multiple of the extent. A square crop shows the rim
only if it is wider than 1/sqrt(2) of the aperture."""


def fov_diameter(fov: np.ndarray) -> float:
    """The aperture's diameter (px) from a FOV mask, even where the photograph cuts the disc.

    The horizontal extent of the mask, which is the diameter when the disc is whole or cut
    flat at top and bottom (DRIVE, CHASE_DB1, STARE, HRF). Where the mask also reaches the
    left or right edge of the image (a photograph cropped inside the aperture), the extent
    is only the crop's width, so the circle through the visible rim is fitted instead
    (least squares, on the ends of each row that lie inside the image). A mask with no rim
    in view (the crop lies wholly inside the aperture), or row ends that lie on no circle,
    keep the extent: nothing tells more.
    """
    columns = np.flatnonzero(fov.any(axis=0))
    if not columns.size:
        return 0.0
    extent = float(columns[-1] - columns[0] + 1)
    width = fov.shape[1]
    if columns[0] > 0 and columns[-1] < width - 1:
        return extent
    fitted = _rim_circle_diameter(fov)
    return min(max(extent, fitted), MAX_RIM_GAIN * extent) if fitted is not None else extent


def _rim_circle_diameter(fov: np.ndarray) -> float | None:
    """Diameter of the least-squares circle (Kasa fit) through the FOV's row ends off the image border."""
    rows = np.flatnonzero(fov.any(axis=1))
    # argmax over the whole mask and its mirrored view: indexing rows first would copy the mask
    first = np.argmax(fov, axis=1)[rows]
    last = fov.shape[1] - 1 - np.argmax(fov[:, ::-1], axis=1)[rows]
    left, right = first > 0, last < fov.shape[1] - 1
    y = np.concatenate([rows[left], rows[right]]).astype(np.float64)
    x = np.concatenate([first[left] - 0.5, last[right] + 0.5])  # the pixel edges the extent counts
    if y.size < MIN_RIM_POINTS or np.ptp(y) < MIN_RIM_POINTS:
        return None
    design = np.column_stack([x, y, np.ones_like(x)])
    (d, e, f), *_ = np.linalg.lstsq(design, -(x * x + y * y), rcond=None)
    squared_radius = (d * d + e * e) / 4 - f
    if squared_radius <= 0:
        return None
    radius = float(np.sqrt(squared_radius))
    # Row ends that are not a camera's round rim (a crop wholly inside the aperture whose dark
    # corners fell outside the threshold) fit no circle well, or only along a short arc.
    residual = np.hypot(x + d / 2, y + e / 2) - radius
    arc = 10 * np.unique(np.floor(np.degrees(np.arctan2(y + e / 2, x + d / 2)) / 10)).size
    if np.sqrt(np.mean(residual ** 2)) > MAX_RIM_RESIDUAL * radius or arc < MIN_RIM_ARC:
        return None
    return 2 * radius


# Known limit: where uneven illumination leaves a stretch of the rim nearly as dark
# as the surround (CHASE_DB1 Image_06L's upper right), that stretch stays outside;
# about 2 % of that image's vessel pixels then fall outside the derived FOV.
