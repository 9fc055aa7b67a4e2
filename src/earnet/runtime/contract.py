"""The exported graph's input contract, as written into (and read back from) the ONNX file.

The exporter (:mod:`earnet.onnx_export`) writes these keys into the model's
``metadata_props``; :class:`~earnet.runtime.OnnxSegmenter` reads them, so a model file
carries everything needed to use it: its threshold, its training FOV diameter and the
resolution rule. This module needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from earnet.exceptions import InputError

FORMAT = "earnet-onnx/1"
INPUT_NAME = "image"
PROBABILITY = "probability"
ERROR_ATTENTION = "error_attention"
ARTERY = "artery"
VEIN = "vein"
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)

INPUT_TEXT = ("image: float32, NCHW (N, 3, H, W), RGB, values in [0, 1] (8-bit value / 255), any H, W >= "
              "{min_side}; ImageNet normalisation (x - mean) / std with mean {mean}, std {std} is inside the graph, "
              "and so is padding odd sizes")
OUTPUT_TEXT = {
    PROBABILITY: "probability: float32 (N, 1, H, W), vessel probability in [0, 1] (sigmoid inside the graph)",
    ERROR_ATTENTION: "error_attention: float32 (N, 1, H, W), EAR-Net stage 2's estimate in [0, 1] that the "
                     "stage-1 segmentation is wrong at each pixel",
    ARTERY: "artery: float32 (N, 1, H, W), artery probability in [0, 1] from the artery/vein model "
            "(sigmoid inside the graph; independent of vein: crossings are both)",
    VEIN: "vein: float32 (N, 1, H, W), vein probability in [0, 1] from the artery/vein model",
}
OUTSIDE_TEXT = ("not in the graph (earnet.runtime does these): deriving the field of view (FOV) and setting "
                "probability 0 outside it; rescaling the photograph so its FOV is fov_diameter px wide unless "
                "already within rescale_tolerance (bicubic), and the maps back to its size (bilinear); tiling "
                "large images; thresholding (mask = probability >= threshold)")
AV_OUTSIDE_TEXT = ("; artery/vein labels, also outside the graph: artery and vein set to 0 outside the FOV; "
                   "optionally the segment vote (one artery-or-vein decision per vessel-skeleton segment between "
                   "junctions, the mean of artery - vein along it; each pixel follows its nearest segment, "
                   "swapping its two probabilities where it disagrees); then each mask pixel is a crossing where "
                   "both reach av_crossing_threshold, else artery where artery >= vein, else vein")
AV_CROSSING_THRESHOLD = 0.5
TTA_TEXT = {"none": "none", "flip": "flip: inside the graph, each vessel stage averaged over the photograph as is, "
                                    "mirrored left-right, upside down and both (the threshold was chosen so)"}
"""Where both A/V probabilities reach this a vessel pixel is a crossing (``earnet.av_metrics``' rule)."""


@dataclass(frozen=True)
class Contract:
    """What an exported model expects and promises (from its ``metadata_props``)."""

    threshold: float
    fov_diameter: float
    rescale_tolerance: float
    min_side: int
    min_fov_diameter: float
    outputs: tuple[str, ...]
    model: dict[str, Any]
    av_fov_diameter: float | None = None
    av_crossing_threshold: float = AV_CROSSING_THRESHOLD

    @property
    def has_av(self) -> bool:
        """Whether the graph has artery and vein outputs."""
        return ARTERY in self.outputs and VEIN in self.outputs


def contract_properties(model: dict[str, Any], outputs: list[str], *, threshold: float, fov_diameter: float,
                        rescale_tolerance: float, min_side: int, min_fov_diameter: float,
                        earnet_version: str, av_fov_diameter: float | None = None) -> dict[str, str]:
    """The ``metadata_props`` (string to string) of an exported model."""
    av = {} if av_fov_diameter is None else {"av_fov_diameter": repr(float(av_fov_diameter)),
                                             "av_crossing_threshold": repr(AV_CROSSING_THRESHOLD)}
    return {
        "format": FORMAT,
        "input": INPUT_TEXT.format(min_side=min_side, mean=IMAGE_MEAN, std=IMAGE_STD),
        "input_name": INPUT_NAME,
        "input_layout": "NCHW, C = 3 in RGB order",
        "input_dtype": "float32",
        "input_range": "[0, 1]",
        "normalisation": f"inside the graph: (x - mean) / std, mean {IMAGE_MEAN}, std {IMAGE_STD}",
        "min_side": str(min_side),
        "outputs": "; ".join(OUTPUT_TEXT[name] for name in outputs),
        "output_names": ",".join(outputs),
        "threshold": repr(float(threshold)),
        "tta": TTA_TEXT[str(model.get("tta", "none"))],
        "fov_diameter": repr(float(fov_diameter)),
        "rescale_tolerance": repr(float(rescale_tolerance)),
        "min_fov_diameter": repr(float(min_fov_diameter)),
        "outside_graph": OUTSIDE_TEXT + (AV_OUTSIDE_TEXT if av else ""),
        **av,
        "model": json.dumps(model, sort_keys=True),
        "earnet_version": earnet_version,
    }


def read_contract(properties: dict[str, str], path: str | Path) -> Contract:
    """Parse an exported model's ``metadata_props``; a foreign file is an error naming it."""
    if properties.get("format") != FORMAT:
        raise InputError(path, f"not an earnet ONNX export (no '{FORMAT}' format in its metadata); "
                               "export one with 'earnet export MODEL --format onnx'")
    try:
        return Contract(
            threshold=float(properties["threshold"]),
            fov_diameter=float(properties["fov_diameter"]),
            rescale_tolerance=float(properties["rescale_tolerance"]),
            min_side=int(properties["min_side"]),
            min_fov_diameter=float(properties["min_fov_diameter"]),
            outputs=tuple(properties["output_names"].split(",")),
            model=json.loads(properties.get("model", "{}")),
            av_fov_diameter=float(properties["av_fov_diameter"]) if "av_fov_diameter" in properties else None,
            av_crossing_threshold=float(properties.get("av_crossing_threshold", AV_CROSSING_THRESHOLD)),
        )
    except (KeyError, ValueError) as error:
        raise InputError(path, f"earnet ONNX metadata is incomplete or invalid ({error})") from None
