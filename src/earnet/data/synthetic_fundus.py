"""Synthetic colour fundus photographs with exact vessel labels.

The image model, in the order it is rendered (all lengths scale with ``size``):

1. **Field of view** - a disc of radius ~0.47 ``size`` with a slightly jittered
   centre; outside it the camera records near-black (0-10) noise.
2. **Fundus reflectance** - an orange-red base colour (red high, green mid, blue
   low) modulated by low-frequency choroidal texture and fine grain.
3. **Optic disc** - a bright yellowish, slightly vertical oval with a paler cup,
   placed left or right of centre; the **macula** is a darker (mostly green/blue)
   Gaussian on the other side with a small foveal reflex.
4. **Vessels** - arteries and veins grow from the disc centre as random walks of
   the heading with smooth random curvature (the temporal arcades are also steered
   onto an outward spiral round the fovea), tapering and branching (Murray's law)
   down to ~1 px width, thickest first until they cover a random 8-15 % of the FOV.
   Each step is a capsule (segment with a constant half-width). The label is
   exactly the set of pixel centres within the half-width of a centreline; the
   image darkens each pixel by an anti-aliased profile of the same distance, most
   in green, less for thin vessels (arteries lighter, with a central reflex).
   Vessels stay inside the FOV and stop short of the fovea.
5. **Lesions** - 0-6 exudate-like yellow blobs and haemorrhage-like dark-red
   blobs with irregular borders, placed clear of the vessels (which are drawn
   over them) and never labelled as vessel; ``lesions`` marks them.
6. **Camera** - smooth illumination gradients, vignetting toward the rim, a
   small optical blur and Gaussian sensor noise.

Only ``np.random.default_rng(seed)`` is used, so ``(seed, size)`` fixes the result.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import expit
from skimage.transform import resize

_Grid = tuple[np.ndarray, np.ndarray]


@dataclass
class SyntheticFundus:
    """One synthetic photograph and its exact annotations."""

    image: np.ndarray  # uint8 (H, W, 3) RGB
    label: np.ndarray  # bool (H, W) vessels
    fov: np.ndarray  # bool (H, W) circular field of view
    lesions: np.ndarray  # bool (H, W) bright/dark lesion pixels


@dataclass
class _Anatomy:
    """Where the FOV, disc and fovea are (pixels) and which way is temporal."""

    cx: float
    cy: float
    radius: float
    disc: tuple[float, float]
    disc_r: float
    fovea: tuple[float, float]
    temporal: float  # +1 when the macula lies right of the disc


def generate_fundus(seed: int, size: int = 256) -> SyntheticFundus:
    """Generate the synthetic fundus photograph of ``(seed, size)``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    anat = _anatomy(rng, size)
    fov_soft = np.clip(anat.radius - np.hypot(xx - anat.cx, yy - anat.cy) + 0.5, 0, 1)
    rgb = _background(rng, size, (yy, xx), anat)
    segments = _grow_vessels(rng, size, anat)
    edge, absorb = _render_vessels(segments, size)
    lesion_mask = _lesions(rng, size, (yy, xx), anat, rgb, edge)
    rgb *= 1.0 - absorb[..., None] * np.array([0.3, 1.0, 0.75], np.float32)
    rgb *= _illumination(rng, size, (yy, xx), anat)[..., None]
    rgb = ndimage.gaussian_filter(rgb, sigma=(0.5 * max(1.0, size / 512), 0.5 * max(1.0, size / 512), 0))
    rgb = rgb * 255 + rng.normal(0, rng.uniform(1.5, 3.0), rgb.shape).astype(np.float32)
    dark = rng.uniform(1, 8) + rng.normal(0, 1.5, rgb.shape)
    rgb = rgb * fov_soft[..., None] + dark * (1 - fov_soft[..., None])
    fov = fov_soft >= 0.5
    return SyntheticFundus(
        image=np.clip(np.rint(rgb), 0, 255).astype(np.uint8),
        label=(edge <= 0) & fov,
        fov=fov,
        lesions=lesion_mask & fov,
    )


def _anatomy(rng: np.random.Generator, size: int) -> _Anatomy:
    """Draw the FOV circle, the optic disc and the fovea positions."""
    cx, cy = size * (0.5 + rng.uniform(-0.015, 0.015, 2))
    radius = size * rng.uniform(0.455, 0.485)
    temporal = float(rng.choice([-1.0, 1.0]))
    disc = (cx - temporal * size * rng.uniform(0.2, 0.25), cy + size * rng.uniform(-0.04, 0.04))
    fovea = (cx + temporal * size * rng.uniform(0.0, 0.06), cy + size * rng.uniform(-0.01, 0.04))
    return _Anatomy(cx, cy, radius, disc, size * rng.uniform(0.06, 0.075), fovea, temporal)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-scale noise varying over ``size / cells`` pixels."""
    field = resize(rng.normal(0, 1, (cells + 3, cells + 3)), (size, size), order=3, mode="reflect")
    return (field / (field.std() + 1e-6)).astype(np.float32)


def _background(rng: np.random.Generator, size: int, grid: _Grid, anat: _Anatomy) -> np.ndarray:
    """Fundus reflectance in [0, 1]: base colour, texture, optic disc and macula."""
    yy, xx = grid
    base = np.array([rng.uniform(0.78, 0.92), rng.uniform(0.34, 0.44), rng.uniform(0.10, 0.17)], np.float32)
    rgb = np.broadcast_to(base, (size, size, 3)).copy()
    choroid = _smooth_noise(rng, size, 24) * rng.uniform(0.02, 0.05)
    grain = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)).astype(np.float32), 1.0) * 0.03
    rgb *= 1 + choroid[..., None] * np.array([1.0, 0.35, 0.2], np.float32) + grain[..., None]
    fx, fy = anat.fovea
    d2 = ((xx - fx) ** 2 + (yy - fy) ** 2) / (size * rng.uniform(0.07, 0.09)) ** 2
    rgb *= 1 - np.exp(-d2)[..., None] * np.array([0.2, 0.35, 0.4], np.float32) * rng.uniform(0.7, 1.2)
    rgb += (np.exp(-d2 * 150) * 0.03)[..., None]
    dx, dy = anat.disc
    rho = np.hypot((xx - dx) / anat.disc_r, (yy - dy) / (anat.disc_r * rng.uniform(1.05, 1.18)))
    disc = expit((1 - rho) * 12)
    ox, oy = dx + anat.temporal * anat.disc_r * rng.uniform(0.05, 0.3), dy + anat.disc_r * rng.uniform(-0.15, 0.15)
    cup = expit((rng.uniform(0.3, 0.55) - np.hypot(xx - ox, yy - oy) / anat.disc_r) * 10)
    disc_colour = np.array([1.0, rng.uniform(0.72, 0.86), rng.uniform(0.42, 0.58)], np.float32)
    rgb = rgb * (1 - disc[..., None]) + disc_colour * disc[..., None]
    return rgb + (cup * rng.uniform(0.08, 0.18))[..., None] * np.array([0.1, 0.9, 1.0], np.float32)


def _illumination(rng: np.random.Generator, size: int, grid: _Grid, anat: _Anatomy) -> np.ndarray:
    """Multiplicative illumination: linear gradient, smooth field and vignetting."""
    yy, xx = grid
    gx, gy = rng.uniform(-0.15, 0.15, 2)
    light = 1 + (gx * (xx - anat.cx) + gy * (yy - anat.cy)) / size
    light *= 1 + 0.06 * _smooth_noise(rng, size, 3)
    rim = np.hypot(xx - anat.cx, yy - anat.cy) / anat.radius
    return light * (1 - rng.uniform(0.35, 0.55) * np.clip(rim, 0, 1) ** rng.uniform(2.5, 4.0))


def _roots(rng: np.random.Generator, size: int, anat: _Anatomy) -> list[tuple]:
    """Main vessels leaving the disc: (-radius, id, x, y, heading, bend, spiral, kind).

    Per artery (kind 0) and vein (kind 1): two temporal arcades that leave the disc
    vertically and spiral outward round the fovea, and two straighter nasal vessels.
    """
    t, roots = anat.temporal, []
    for kind, scale in ((0, 0.72), (1, 1.0)):
        for up in (-1, 1):
            a = rng.uniform(0.0, 0.35)
            roots.append((math.atan2(up * math.cos(a), t * math.sin(a)), 0.0, rng.uniform(0.1, 0.25), scale, kind))
            a = rng.uniform(0.7, 1.3)
            roots.append((math.atan2(up * math.cos(a), -t * math.sin(a)), up * t * 0.5 / size, None, scale * 0.7, kind))
    dx, dy, off = *anat.disc, 0.08 * anat.disc_r
    radii = [max(sc * size * 0.0125 * rng.uniform(0.85, 1.05), 0.9) for *_, sc, _k in roots]
    return [(-r, i, dx + off * math.cos(h), dy + off * math.sin(h), h, b, sp, k)
            for i, ((h, b, sp, _sc, k), r) in enumerate(zip(roots, radii))]


def _grow_vessels(rng: np.random.Generator, size: int, anat: _Anatomy) -> list[tuple]:
    """Grow artery and vein trees from the disc; return capsules (x0, y0, x1, y1, r, contrast, kind).

    Each vessel is a random walk of its heading with smoothly varying curvature;
    it tapers, sheds branches (radii by Murray's law) and stops at ~1 px width, at
    the FOV rim or at the fovea. Vessels are grown thickest first until their
    summed area reaches a random fraction of the FOV.
    """
    step, r_min = max(1.0, size / 160), 0.5
    budget = rng.uniform(0.12, 0.15) * math.pi * anat.radius**2
    queue = _roots(rng, size, anat)
    heapq.heapify(queue)
    segments: list[tuple] = []
    area, counter = 0.0, len(queue)
    while queue and area < budget:
        neg_r, _, x, y, h, bend, spiral, kind = heapq.heappop(queue)
        r, kappa = -neg_r, 0.0
        contrast = (0.36 if kind == 0 else 0.48) * rng.uniform(0.8, 1.15)
        wiggle = (0.8 if kind == 0 else 1.1) * rng.uniform(0.6, 1.3) * (1 + 0.5 / r) / size
        next_branch = rng.uniform(0.4, 1.2) * (0.025 * size + 6 * r)
        noise = rng.normal(0, 1, 4096)
        for n in range(4096):
            if r < r_min or area >= budget:
                break
            kappa = 0.95 * kappa + wiggle * noise[n]
            h += (bend + kappa) * step
            if spiral is not None:  # steer toward an outward spiral round the fovea
                vx, vy = x - anat.fovea[0], y - anat.fovea[1]
                side = 1.0 if math.cos(h) * -vy + math.sin(h) * vx > 0 else -1.0
                target = math.atan2(side * vx, -side * vy) - side * spiral
                h += 20.0 / size * step * math.sin(target - h)
            nx, ny = x + step * math.cos(h), y + step * math.sin(h)
            if math.hypot(nx - anat.cx, ny - anat.cy) > anat.radius - r - 2.5:
                break
            if math.hypot(nx - anat.fovea[0], ny - anat.fovea[1]) < 0.035 * size:
                break
            segments.append((x, y, nx, ny, r, contrast * (0.45 + 0.55 * min(1.0, r / (0.008 * size))), kind))
            area += 2 * r * step
            x, y = nx, ny
            r *= math.exp(-step / (0.9 * size))
            next_branch -= step
            if next_branch <= 0:
                rc = r * rng.uniform(0.3, 0.75)
                r = (r**3 - rc**3) ** (1 / 3)
                counter += 1
                hc = h + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.2)
                heapq.heappush(queue, (-rc, counter, x, y, hc, 0.0, None, kind))
                next_branch = rng.uniform(0.4, 1.2) * (0.025 * size + 6 * r)
    return segments


def _render_vessels(segments: list[tuple], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise capsules: signed distance to the nearest vessel edge, and absorption.

    A pixel is vessel exactly when its centre is within a capsule (edge <= 0); the
    absorption ramps linearly over one pixel across that same edge. Capsules are
    evaluated in batches of equal-sized pixel boxes and scattered with ufunc.at.
    """
    edge = np.full(size * size, np.inf, np.float32)
    absorb = np.zeros(size * size, np.float32)
    seg = np.asarray(segments, np.float64).reshape(-1, 7)
    x0, y0, x1, y1, r, c, kind = seg.T
    ox, oy = np.floor(np.minimum(x0, x1) - r - 1.5), np.floor(np.minimum(y0, y1) - r - 1.5)
    box = (np.ceil(np.maximum(np.abs(x1 - x0), np.abs(y1 - y0)) + 2 * r + 3) + 2).astype(int)
    for b in np.unique(box):
        i = np.flatnonzero(box == b)
        off = np.arange(b)
        px = (ox[i, None, None] + off[None, None, :]).repeat(b, 1)
        py = (oy[i, None, None] + off[None, :, None]).repeat(b, 2)
        sx, sy, vx, vy = (a[i, None, None] for a in (x0, y0, x1 - x0, y1 - y0))
        tt = np.clip(((px - sx) * vx + (py - sy) * vy) / (vx * vx + vy * vy + 1e-12), 0, 1)
        d = np.hypot(px - sx - tt * vx, py - sy - tt * vy)
        rr = r[i, None, None]
        profile = np.clip(rr + 0.5 - d, 0, 1) * (0.6 + 0.4 * np.sqrt(np.clip(1 - (d / (rr + 0.5)) ** 2, 0, 1)))
        reflex = (kind[i, None, None] == 0) & (rr > 2)  # arterial central light reflex
        profile *= 1 - reflex * 0.35 * np.exp(-((d / (0.3 * rr)) ** 2))
        ok = (px >= 0) & (px < size) & (py >= 0) & (py < size) & (d < rr + 1)
        flat = (py * size + px)[ok].astype(np.intp)
        np.minimum.at(edge, flat, (d - rr)[ok].astype(np.float32))
        np.maximum.at(absorb, flat, (c[i, None, None] * profile)[ok].astype(np.float32))
    return edge.reshape(size, size), absorb.reshape(size, size)


def _lesions(
    rng: np.random.Generator, size: int, grid: _Grid, anat: _Anatomy, rgb: np.ndarray, edge: np.ndarray
) -> np.ndarray:
    """Paint 0-6 exudates / haemorrhages into ``rgb`` (in place) away from vessels; return their mask."""
    mask = np.zeros((size, size), bool)
    clearance = ndimage.distance_transform_edt(edge > 0)
    for _ in range(int(rng.integers(0, 7))):
        rad = size * rng.uniform(0.008, 0.03)
        for _try in range(30):
            ang, dist = rng.uniform(0, 2 * math.pi), anat.radius * math.sqrt(rng.uniform(0.02, 0.7))
            lx, ly = anat.cx + dist * math.cos(ang), anat.cy + dist * math.sin(ang)
            far_disc = math.hypot(lx - anat.disc[0], ly - anat.disc[1]) > anat.disc_r * 1.6 + rad
            if far_disc and clearance[int(ly), int(lx)] > 2 * rad + 2:
                break
        else:
            continue
        ya, xa = max(int(ly - 3 * rad - 2), 0), max(int(lx - 3 * rad - 2), 0)
        yb, xb = min(int(ly + 3 * rad + 3), size), min(int(lx + 3 * rad + 3), size)
        alpha = _blob(rng, grid[1][ya:yb, xa:xb] - lx, grid[0][ya:yb, xa:xb] - ly, rad)
        patch = rgb[ya:yb, xa:xb]
        if rng.random() < 0.5:  # exudate: yellow-white, brighter in green
            colour = np.array([1.0, rng.uniform(0.8, 0.95), rng.uniform(0.35, 0.5)], np.float32)
            patch += alpha[..., None] * rng.uniform(0.6, 0.9) * (colour - patch)
        else:  # haemorrhage: dark red, absorbing green like blood
            patch *= 1 - alpha[..., None] * rng.uniform(0.5, 0.8) * np.array([0.45, 0.75, 0.6], np.float32)
        mask[ya:yb, xa:xb] |= alpha >= 0.5
    return mask


def _blob(rng: np.random.Generator, dx: np.ndarray, dy: np.ndarray, rad: float) -> np.ndarray:
    """Soft opacity of an irregular elliptical blob: a few angular harmonics perturb its border."""
    rot, stretch = rng.uniform(0, math.pi), rng.uniform(0.7, 1.3)
    u = (dx * math.cos(rot) + dy * math.sin(rot)) / (rad * stretch)
    v = (-dx * math.sin(rot) + dy * math.cos(rot)) * stretch / rad
    theta = np.arctan2(v, u)
    border = 1 + sum(rng.uniform(0, 0.12) * np.cos(k * theta + rng.uniform(0, 2 * math.pi)) for k in (2, 3, 5))
    return expit((1 - np.hypot(u, v) / border) * rng.uniform(6, 14))
