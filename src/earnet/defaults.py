"""The bundled models used when a command is not told which (no torch at import)."""

DEFAULT_MODEL = "general"
"""Vessel model of ``earnet segment``, ``measure``, ``serve`` and ``load_segmenter()``."""

DEFAULT_AV_MODEL = "drive_av"
"""Model of ``earnet segment --av`` (vessels + arteries/veins)."""
