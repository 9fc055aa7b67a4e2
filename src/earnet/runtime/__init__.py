"""Segmentation with an exported ONNX model, without PyTorch: numpy, Pillow and onnxruntime.

>>> from earnet.runtime import load_onnx
>>> segmenter = load_onnx("drive.onnx")     # written by `earnet export drive --format onnx`
>>> result = segmenter.segment(image)        # RGB uint8 (H, W, 3)
>>> result.probability, result.mask, result.fov
>>> av = load_onnx("drive_av.onnx").segment_av(image)   # `earnet export drive_av --format onnx`
>>> av.artery, av.vein, av.classes                   # as `earnet segment --av`

Nothing here imports torch, scipy, scikit-image or Lightning (a test checks it), so
``pip install --no-deps earnet`` plus ``numpy pillow onnxruntime`` is enough to run it;
``python -m earnet.runtime MODEL.onnx PHOTO...`` is the command-line front.
"""

from __future__ import annotations

from earnet.runtime.contract import Contract
from earnet.runtime.segmenter import OnnxSegmenter, Segmentation, check_image, load_onnx

__all__ = ["Contract", "OnnxSegmenter", "Segmentation", "check_image", "load_onnx"]
