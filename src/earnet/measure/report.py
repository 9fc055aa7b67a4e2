"""``measurements.csv`` (one row per image, units in the header) and ``measurements.json``.

Everything is built in memory first and written with the atomic writers, so a run that
fails leaves no partial table. Undefined values (a calibre with no segment, a fractal
dimension of an empty map) are empty cells in the CSV and ``null`` in the JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from earnet.io import write_text
from earnet.measure.vessels import VesselMeasurements

REGION = ("whole field of view: no optic-disc detection, so CRAE/CRVE use the six widest artery/vein "
          "segments anywhere in the FOV, not the standard zone B ring (0.5-1 disc diameter from the disc)")

# (name, unit in pixels, unit with a pixel size, scale power): values with a length
# dimension are converted with the pixel size (µm/px) raised to ``power``; ``None`` = no µm column.
_BASE = [
    ("vessel_density", "fraction", None, 0),
    ("fractal_dimension_vessels", "-", None, 0),
    ("fractal_dimension_skeleton", "-", None, 0),
    ("segments", "count", None, 0),
    ("branch_points", "count", None, 0),
    ("end_points", "count", None, 0),
    ("skeleton_length", "px", "mm", 1),
    ("calibre", "px", "µm", 1),
    ("distance_factor", "-", None, 0),
    ("curvature", "rad/px", "rad/mm", -1),
]
_AV = [
    *[(f"{kind}_{name}", unit, um, power) for kind in ("artery", "vein") for name, unit, um, power in (
        ("segments", "count", None, 0), ("length", "px", "mm", 1), ("calibre", "px", "µm", 1),
        ("distance_factor", "-", None, 0), ("curvature", "rad/px", "rad/mm", -1))],
    ("crae", "px", "µm", 1), ("crae_segments", "count", None, 0),
    ("crve", "px", "µm", 1), ("crve_segments", "count", None, 0),
    ("avr", "-", None, 0),
]
_MM_UNITS = {"mm": 1e-3, "rad/mm": 1e3, "µm": 1.0}


def columns(with_av: bool, with_pixel_size: bool) -> list[tuple[str, str, str, int]]:
    """``(key, header, unit, power)`` of every measure column, in order."""
    out = []
    for name, unit, um_unit, power in _BASE + (_AV if with_av else []):
        out.append((name, f"{name} [{unit}]", unit, 0))
        if with_pixel_size and um_unit is not None:
            out.append((name, f"{name} [{um_unit}]", um_unit, power))
    return out


def image_values(result: VesselMeasurements, with_av: bool, with_pixel_size: bool) -> dict[str, float | int | None]:
    """One image's row: header -> value (converted to µm/mm where the header says so)."""
    summary = result.summary()
    row: dict[str, float | int | None] = {}
    for key, header, unit, power in columns(with_av, with_pixel_size):
        value = summary.get(key)
        if value is not None and power != 0:
            size = result.pixel_size if result.pixel_size else float("nan")
            value = value * size**power * _MM_UNITS[unit]
        row[header] = _finite(value)
    return row


def _finite(value: float | int | None) -> float | int | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def csv_text(rows: list[dict[str, object]]) -> str:
    """The CSV of ``rows`` (same keys, in order); ``None`` becomes an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def image_detail(result: VesselMeasurements) -> dict[str, object]:
    """Per-segment detail, points and box counts of one image (pixel units, plus µm if known)."""
    size = result.pixel_size
    segments = []
    for s in result.segments:
        entry: dict[str, object] = {
            "id": s.id, "start": list(s.start), "end": list(s.end), "kind": s.kind,
            "length_px": _finite(round(s.length, 3)), "chord_px": _finite(round(s.chord, 3)),
            "distance_factor": _finite(round(s.distance_factor, 5)),
            "curvature_rad_per_px": _finite(round(s.curvature, 6)),
            "calibre_px": _finite(round(s.calibre, 3)),
        }
        if size:
            entry["length_um"] = _finite(round(s.length * size, 2))
            entry["calibre_um"] = _finite(round(s.calibre * size, 2))
        if s.type is not None:
            entry["type"] = s.type
        segments.append(entry)
    return {
        "shape": list(result.shape), "fov_pixels": result.fov_pixels, "fov_diameter_px": result.fov_diameter,
        "pixel_size_um": size,
        "box_counting": {"box_sizes_px": result.boxes_vessels.sizes, "counts_vessels": result.boxes_vessels.counts,
                         "counts_skeleton": result.boxes_skeleton.counts},
        "branch_points": [[round(float(r), 1), round(float(c), 1)] for r, c in result.branch_points],
        "end_points": [[int(r), int(c)] for r, c in result.end_points],
        "segments": segments,
    }


def write_reports(out: Path, rows: list[dict[str, object]], details: list[dict[str, object]],
                  settings: dict[str, object]) -> None:
    """Write ``measurements.csv`` and ``measurements.json`` into ``out``."""
    write_text(out / "measurements.csv", csv_text(rows))
    document = {"settings": settings, "images": [{**row, **detail} for row, detail in zip(rows, details)]}
    write_text(out / "measurements.json", json.dumps(document, indent=1, ensure_ascii=False) + "\n")
