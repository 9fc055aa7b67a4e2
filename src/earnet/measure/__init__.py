"""Vessel biomarkers from a segmentation: density, fractal dimension, the skeleton
graph, calibre, tortuosity and, with an artery/vein map, CRAE, CRVE and AVR.

>>> from earnet.measure import measure_vessels
>>> result = measure_vessels(mask, fov)           # bool (H, W) arrays
>>> result.summary()["fractal_dimension_vessels"]
"""

from __future__ import annotations

from earnet.measure.vessels import Segment, VesselMeasurements, measure_vessels

__all__ = ["Segment", "VesselMeasurements", "measure_vessels"]
