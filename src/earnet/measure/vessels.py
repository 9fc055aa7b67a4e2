"""All measures of one vessel mask: the function behind ``earnet measure``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from earnet.measure import avmap, knudtson
from earnet.measure.calibre import local_widths, segment_calibres
from earnet.measure.density import fov_diameter, vessel_density
from earnet.measure.fractal import BoxCount, box_count
from earnet.measure.skeleton import VesselGraph, build_graph
from earnet.measure.tortuosity import path_geometry

KINDS = {(1, 1): "end-end", (1, 3): "junction-end", (3, 3): "junction-junction", (2, 2): "loop"}
CRAE_MIN_LENGTH_CALIBRES = 2.0
"""A segment enters CRAE/CRVE only if it is at least this many calibres long (no stubs)."""


@dataclass
class Segment:
    """One skeleton segment between branch points and/or end points (pixels)."""

    id: int
    start: tuple[int, int]  # row, column
    end: tuple[int, int]
    kind: str  # end-end, junction-end, junction-junction or loop
    length: float  # smoothed arc length
    chord: float
    distance_factor: float  # arc / chord
    curvature: float  # mean |curvature|, rad/px
    calibre: float  # median width
    type: str | None = None  # artery, vein, unknown (None without an A/V map)


@dataclass
class VesselMeasurements:
    """Measures of one image: image-level values, segments and box counts."""

    shape: tuple[int, int]
    pixel_size: float | None  # µm per pixel, when known
    fov_pixels: int
    fov_diameter: int
    vessel_density: float
    segments: list[Segment]
    branch_points: np.ndarray
    end_points: np.ndarray
    boxes_vessels: BoxCount
    boxes_skeleton: BoxCount
    graph: VesselGraph = field(repr=False)
    av: dict[str, float] | None = None

    def summary(self) -> dict[str, float | int | None]:
        """Image-level values in pixel units, keyed by name (see :data:`earnet.measure.report.COLUMNS`)."""
        lengths = np.array([s.length for s in self.segments])
        values: dict[str, float | int | None] = {
            "vessel_density": self.vessel_density,
            "fractal_dimension_vessels": self.boxes_vessels.dimension,
            "fractal_dimension_skeleton": self.boxes_skeleton.dimension,
            "segments": len(self.segments),
            "branch_points": len(self.branch_points),
            "end_points": len(self.end_points),
            "skeleton_length": float(lengths.sum()),
            **_weighted(self.segments, ""),
        }
        if self.av is not None:
            for name in ("artery", "vein"):
                chosen = [s for s in self.segments if s.type == name]
                values[f"{name}_segments"] = len(chosen)
                values[f"{name}_length"] = float(sum(s.length for s in chosen))
                values.update(_weighted(chosen, f"{name}_"))
            values.update(self.av)
        return values


def _weighted(segments: list[Segment], prefix: str) -> dict[str, float]:
    """Length-weighted means of calibre, distance factor and curvature (NaN without segments)."""
    out = {}
    for name in ("calibre", "distance_factor", "curvature"):
        pairs = [(s.length, getattr(s, name)) for s in segments if math.isfinite(getattr(s, name)) and s.length > 0]
        total = sum(w for w, _ in pairs)
        out[f"{prefix}{name}"] = sum(w * v for w, v in pairs) / total if total else float("nan")
    return out


def measure_vessels(mask: np.ndarray, fov: np.ndarray | None = None, pixel_size: float | None = None,
                    av_classes: np.ndarray | None = None) -> VesselMeasurements:
    """Measure a binary vessel mask.

    Args:
        mask: ``bool`` vessel mask (H, W).
        fov: ``bool`` field of view; the whole image when ``None``. Vessels outside it are ignored.
        pixel_size: µm per pixel, if known (only recorded; values stay in pixels).
        av_classes: per-pixel artery/vein classes (:func:`earnet.measure.avmap.av_classes`) to
            type segments and compute CRAE, CRVE and AVR.
    """
    mask = np.asarray(mask, dtype=bool)
    fov = np.ones_like(mask) if fov is None else np.asarray(fov, dtype=bool)
    mask = mask & fov
    graph = build_graph(mask)
    segments = _segments(graph, mask, graph.radius)
    av = None
    if av_classes is not None:
        for segment, path in zip(segments, graph.paths):
            segment.type = avmap.TYPE_NAMES[avmap.segment_type(av_classes, path)]
        av = _central_equivalents(segments)
    return VesselMeasurements(
        shape=mask.shape, pixel_size=pixel_size, fov_pixels=int(fov.sum()), fov_diameter=fov_diameter(fov),
        vessel_density=vessel_density(mask, fov), segments=segments, branch_points=graph.branch_points,
        end_points=graph.end_points, boxes_vessels=box_count(mask), boxes_skeleton=box_count(graph.skeleton),
        graph=graph, av=av,
    )


def _segments(graph: VesselGraph, mask: np.ndarray, radius: np.ndarray) -> list[Segment]:
    if graph.n_segments == 0:
        return []
    geometries = [path_geometry(path) for path in graph.paths]
    # one interpolation call for all cross sections (hundreds of segments per image)
    widths = local_widths(mask.astype(np.float32), radius, np.concatenate([g.points for g in geometries]),
                          np.concatenate([g.tangent for g in geometries]), np.concatenate(graph.paths))
    bounds = np.cumsum([0] + [len(p) for p in graph.paths])
    arc_positions = np.concatenate([np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(g.points, axis=0).T))])
                                    for g in geometries])
    firsts = np.array([p[0] for p in graph.paths])
    lasts = np.array([p[-1] for p in graph.paths])
    ends = np.stack([radius[firsts[:, 0], firsts[:, 1]], radius[lasts[:, 0], lasts[:, 1]]], axis=1)
    calibres = segment_calibres(widths, bounds, arc_positions, ends, graph.end_degrees >= 3)
    segments = []
    for i, (path, geometry) in enumerate(zip(graph.paths, geometries)):
        key = tuple(sorted(min(int(d), 3) for d in graph.end_degrees[i]))
        segments.append(Segment(
            id=i, start=(int(path[0][0]), int(path[0][1])), end=(int(path[-1][0]), int(path[-1][1])),
            kind=KINDS.get(key, "junction-end"),
            length=geometry.arc, chord=geometry.chord, distance_factor=geometry.distance_factor,
            curvature=geometry.mean_curvature, calibre=float(calibres[i]),
        ))
    return segments


def _central_equivalents(segments: list[Segment]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, function, key in (("artery", knudtson.crae, "crae"), ("vein", knudtson.crve, "crve")):
        widths = [s.calibre for s in segments if s.type == name and math.isfinite(s.calibre)
                  and s.length >= CRAE_MIN_LENGTH_CALIBRES * s.calibre]
        out[key] = function(widths)
        out[f"{key}_segments"] = min(len(widths), knudtson.LARGEST)
    out["avr"] = out["crae"] / out["crve"] if out["crve"] > 0 else float("nan")
    return out
