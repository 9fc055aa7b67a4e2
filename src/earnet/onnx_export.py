"""EAR-Net as one ONNX graph that takes a photograph of any size, with its contract inside.

The graph is normalisation → stage 1 → sigmoid → (stage 2 → sigmoid), exactly as
:class:`earnet.inference.Predictor` runs the two stages on a whole image, in float32.
Backbones pad odd sizes to their multiple themselves; the export traces that padding
for every size (not just the example's), and :func:`write_onnx` proves it by running
the written file on odd sizes against PyTorch before it is put in place. The input
contract, threshold, training FOV diameter and resolution rule go into the model's
``metadata_props`` (:mod:`earnet.runtime.contract`), so the file is self-describing
and :mod:`earnet.runtime` can use it without PyTorch.

Another output (say an artery/vein head) is one more entry in :meth:`ProbabilityGraph.output_names`,
its tensor in :meth:`ProbabilityGraph.forward`, and its text in ``contract.OUTPUT_TEXT``.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from earnet import __version__
from earnet.data.transforms import normalise
from earnet.exceptions import EarnetError, InputError
from earnet.io import atomic_write
from earnet.models.chain import Stages
from earnet.models.segmenter import VesselSegmenter
from earnet.runtime.contract import (
    ERROR_ATTENTION,
    INPUT_NAME,
    PROBABILITY,
    contract_properties,
)

OPSET = 17
VERIFY_SIZES = ((45, 37), (64, 96), (33, 101))
"""(H, W) the written graph is checked on: odd, even, and mixed, none the export example's."""
VERIFY_TOLERANCE = 1e-4


class ProbabilityGraph(nn.Module):
    """Normalise → the chain of :class:`~earnet.models.chain.Stages`, as one module for export."""

    def __init__(self, stage1: VesselSegmenter, stage2: VesselSegmenter | None) -> None:
        super().__init__()
        self.stages = Stages(stage1, stage2)

    @property
    def stage2(self) -> VesselSegmenter | None:
        return self.stages.stage2

    def output_names(self) -> list[str]:
        """Names of :meth:`forward`'s outputs, in order."""
        return [PROBABILITY] if self.stage2 is None else [PROBABILITY, ERROR_ATTENTION]

    def forward(self, image: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out = self.stages(normalise(image))
        return out.probability if out.error_attention is None else (out.probability, out.error_attention)


def write_onnx(stage1: VesselSegmenter, stage2: VesselSegmenter | None, meta: dict[str, Any],
               out: str | Path, opset: int = OPSET) -> Path:
    """Export one or two stages as an ONNX file with dynamic N, H, W and the contract in its metadata.

    ``meta`` is the bundle's metadata (needs ``threshold`` and ``fov_diameter``).
    """
    import onnx

    from earnet.data.resolution import RESCALE_TOLERANCE
    from earnet.inference.predictor import MIN_SIDE
    from earnet.segment import MIN_FOV_DIAMETER

    out = Path(out)
    if out.is_dir():
        raise InputError(out, "is a folder; give a file name such as model.onnx")
    graph = ProbabilityGraph(stage1, stage2).eval()
    names = graph.output_names()
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic, which is what we want traced
        torch.onnx.export(graph, (torch.rand(1, 3, 128, 128),), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=names,
                          dynamic_axes={name: axes for name in [INPUT_NAME, *names]})
    model = onnx.load_from_string(buffer.getvalue())
    properties = contract_properties(meta, names, threshold=meta["threshold"], fov_diameter=meta["fov_diameter"],
                                     rescale_tolerance=RESCALE_TOLERANCE, min_side=MIN_SIDE,
                                     min_fov_diameter=MIN_FOV_DIAMETER, earnet_version=__version__)
    onnx.helper.set_model_props(model, properties)
    model.doc_string = f"earnet {__version__}: retinal vessel segmentation. {properties['input']}. " \
                       f"Outputs: {properties['outputs']}. {properties['outside_graph']}."
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    _verify(graph, data, names)
    with atomic_write(out) as handle:
        handle.write(data)
    return out


def _verify(graph: ProbabilityGraph, data: bytes, names: list[str]) -> None:
    """Run the serialised graph on sizes other than the export example's and compare with PyTorch."""
    try:
        import onnxruntime as ort
    except ImportError:  # exporting needs only onnx; checking the result needs onnxruntime
        return
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    for height, width in VERIFY_SIZES:
        image = torch.rand(1, 3, height, width, generator=generator)
        with torch.no_grad():
            expected = graph(image)
        expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
        try:
            got = session.run(names, {INPUT_NAME: image.numpy()})
        except Exception as error:  # noqa: BLE001 - onnxruntime's own error types
            raise EarnetError(f"the exported graph fails on a {width}x{height} input: "
                              f"{str(error).splitlines()[0][:200]}") from None
        for name, a, b in zip(names, got, expected):
            difference = float(np.abs(a - b.numpy()).max()) if a.shape == tuple(b.shape) else float("inf")
            if difference > VERIFY_TOLERANCE:
                raise EarnetError(f"the exported graph's {name} differs from PyTorch by {difference:.2g} on a "
                                  f"{width}x{height} input; this backbone does not export with dynamic sizes")
