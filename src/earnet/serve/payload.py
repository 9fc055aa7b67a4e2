"""The JSON answer of ``POST /api/segment``: PNGs and numbers of one segmentation."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from earnet.av_evaluate import av_colour_map
from earnet.av_metrics import artery_share, label_counts
from earnet.io import png_bytes, probability_to_uint16
from earnet.viz import av_overlay, overlay

EXTRAS = ("probability_f32", "photo")
"""Optional parts a client may ask for with ``include=``."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def segmentation_payload(image: np.ndarray, result: Any, threshold: float, model_threshold: float,
                         include: frozenset[str] = frozenset(), av: Any = None) -> dict[str, Any]:
    """PNG files (base64) and measurements of ``result`` at ``threshold``.

    The PNGs are byte for byte what ``earnet segment`` writes: the 16-bit probability,
    the mask (``probability >= threshold``) and the overlay, plus the error-attention map
    when the model has one. ``include`` may add ``probability_f32`` (little-endian
    float32, row-major: the exact map the mask is thresholded from) and ``photo`` (the
    decoded photograph as PNG, for formats browsers cannot show). ``av``: the A/V result
    (:class:`earnet.types.AVSegmentation`, labelled at ``threshold``) adds what ``earnet
    segment --av`` writes (``av``, ``artery_probability``, ``vein_probability``,
    ``av_overlay``) and the counts of labelled pixels.
    """
    mask = result.mask if threshold == model_threshold else result.probability >= threshold
    fov_pixels = int(np.count_nonzero(result.fov))
    vessel_pixels = int(np.count_nonzero(mask))
    pngs: dict[str, str | None] = {
        "probability": _b64(png_bytes(probability_to_uint16(result.probability))),
        "mask": _b64(png_bytes(mask)),
        "overlay": _b64(png_bytes(overlay(image, mask))),
        "error_attention": None,
    }
    if result.error_attention is not None:
        pngs["error_attention"] = _b64(png_bytes(np.round(result.error_attention * 255).astype(np.uint8)))
    payload: dict[str, Any] = {
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "threshold": threshold,
        "model_threshold": model_threshold,
        "measurements": {
            "vessel_fraction": vessel_pixels / fov_pixels if fov_pixels else 0.0,
            "vessel_pixels": vessel_pixels,
            "fov_pixels": fov_pixels,
        },
        "png": pngs,
    }
    if av is not None:
        colours = av_colour_map(av.classes)
        pngs.update({"av": _b64(png_bytes(colours)),
                     "artery_probability": _b64(png_bytes(probability_to_uint16(av.artery))),
                     "vein_probability": _b64(png_bytes(probability_to_uint16(av.vein))),
                     "av_overlay": _b64(png_bytes(av_overlay(image, colours)))})
        counts = label_counts(av.classes)
        payload["measurements"].update({
            "artery_pixels": counts["artery"], "vein_pixels": counts["vein"], "crossing_pixels": counts["crossing"],
            "artery_share": artery_share(counts),
        })
    if "probability_f32" in include:
        payload["probability_f32"] = _b64(np.ascontiguousarray(result.probability, dtype="<f4").tobytes())
    if "photo" in include:
        # a display copy for the page, sent over loopback: zlib would cost ~45 ms per DRIVE image
        payload["photo_png"] = _b64(png_bytes(image, compress_level=0))
    return payload
