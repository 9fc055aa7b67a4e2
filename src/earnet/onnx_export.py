"""EAR-Net as one ONNX graph that takes a photograph of any size, with its contract inside.

The graph is normalisation → stage 1 → sigmoid → (stage 2 → sigmoid), exactly as
:class:`earnet.inference.Predictor` runs the two stages on a whole image, in float32;
a bundle with an artery/vein model adds that model's artery and vein sigmoids, computed
by the model's own ``forward`` from the same normalised input (as
:class:`earnet.inference.av.AVPredictor` does), so architecture changes follow.
Models pad odd sizes to their multiple themselves; the export traces that padding for
every size: its example input is odd-sized, so a model that pads only when needed has
its padding recorded too, and :func:`write_onnx` proves it by running the written file
on other odd sizes against PyTorch before it is put in place. The input contract,
threshold, training FOV diameter and resolution rule go into the model's
``metadata_props`` (:mod:`earnet.runtime.contract`), so the file is self-describing
and :mod:`earnet.runtime` can use it without PyTorch.

Another output is one more entry in :meth:`ProbabilityGraph.output_names`, its tensor
in :meth:`ProbabilityGraph.forward`, and its text in ``contract.OUTPUT_TEXT``.
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
from earnet.inference.loader import BUNDLE_TTA_MODES
from earnet.io import atomic_write
from earnet.models.av import AV_CHANNELS
from earnet.models.chain import Stages, run_directly, run_flip_averaged
from earnet.models.segmenter import VesselSegmenter
from earnet.runtime.contract import (
    ARTERY,
    ERROR_ATTENTION,
    INPUT_NAME,
    PROBABILITY,
    VEIN,
    contract_properties,
)

OPSET = 17
EXAMPLE_SIZE = (125, 123)
"""(H, W) of the tracing example: odd, so padding that runs only for odd sizes is traced too."""
VERIFY_SIZES = ((45, 37), (64, 96), (33, 101))
"""(H, W) the written graph is checked on: odd, even, and mixed, none the export example's."""
VERIFY_TOLERANCE = 1e-4


class ProbabilityGraph(nn.Module):
    """Normalise → the chain of :class:`~earnet.models.chain.Stages`, and the A/V model's sigmoids, as one module
    for export.

    Args:
        stage1, stage2: the vessel segmenter's stages (``stage2`` ``None`` for one stage).
        av: an artery/vein model (``AVWNet``: logits in ``AV_CHANNELS`` order), or ``None``.
        tta: ``flip`` puts the bundle's default flip averaging of the vessel stages (and of
            the A/V model) into the graph (as the predictors run them); ``none`` runs them once.
    """

    def __init__(self, stage1: VesselSegmenter, stage2: VesselSegmenter | None, av: nn.Module | None = None,
                 tta: str = "none") -> None:
        super().__init__()
        if tta not in BUNDLE_TTA_MODES:
            raise EarnetError(f"an ONNX graph runs tta {' or '.join(BUNDLE_TTA_MODES)}, not {tta!r}")
        self.stages = Stages(stage1, stage2)
        self.av = av
        self.run = run_flip_averaged if tta == "flip" else run_directly

    @property
    def stage2(self) -> VesselSegmenter | None:
        return self.stages.stage2

    def output_names(self) -> list[str]:
        """Names of :meth:`forward`'s outputs, in order."""
        names = [PROBABILITY] if self.stage2 is None else [PROBABILITY, ERROR_ATTENTION]
        return names + ([ARTERY, VEIN] if self.av is not None else [])

    def _av_logits(self, x: torch.Tensor, vessel: torch.Tensor | None) -> torch.Tensor:
        assert self.av is not None
        return self.av(x, vessel).logits

    def forward(self, image: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = normalise(image)
        out = self.stages(x, self.run)
        outputs = [out.probability] if out.error_attention is None else [out.probability, out.error_attention]
        if self.av is not None:
            vessel = out.probability if getattr(self.av, "vessel_input", False) else None
            maps = torch.sigmoid(self.run(self._av_logits, x, vessel, len(AV_CHANNELS)))
            outputs += [maps[:, AV_CHANNELS.index(name)][:, None] for name in (ARTERY, VEIN)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def write_onnx(stage1: VesselSegmenter, stage2: VesselSegmenter | None, meta: dict[str, Any],
               out: str | Path, opset: int = OPSET, av: nn.Module | None = None,
               av_meta: dict[str, Any] | None = None) -> Path:
    """Export one or two stages (and an A/V model) as an ONNX file with dynamic N, H, W and the contract
    in its metadata.

    ``meta`` is the bundle's metadata (needs ``threshold`` and ``fov_diameter``); ``av_meta``
    the A/V model's (needs ``fov_diameter``: the graph runs both on one rescaled photograph,
    so it must equal the vessel model's).
    """
    import onnx

    from earnet.data.resolution import RESCALE_TOLERANCE
    from earnet.inference.predictor import MIN_SIDE
    from earnet.segment import MIN_FOV_DIAMETER

    out = Path(out)
    if out.is_dir():
        raise InputError(out, "is a folder; give a file name such as model.onnx")
    av_fov_diameter = None
    if av is not None:
        av_fov_diameter = float((av_meta or {}).get("fov_diameter", 0))
        if av_fov_diameter != float(meta["fov_diameter"]):
            raise EarnetError(f"the A/V model was trained at a FOV diameter of {av_fov_diameter:g} px and the "
                              f"vessel model at {float(meta['fov_diameter']):g} px; one graph runs both on one "
                              "rescaled photograph, so they must match")
    graph = ProbabilityGraph(stage1, stage2, av, tta=str(meta.get("tta", "none"))).eval()
    names = graph.output_names()
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape arithmetic, which is what we want traced
        torch.onnx.export(graph, (torch.rand(1, 3, *EXAMPLE_SIZE),), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=names,
                          dynamic_axes={name: axes for name in [INPUT_NAME, *names]})
    model = onnx.load_from_string(buffer.getvalue())
    model_meta = {**meta, "av": av_meta} if av_meta is not None else meta
    properties = contract_properties(model_meta, names, threshold=meta["threshold"], fov_diameter=meta["fov_diameter"],
                                     rescale_tolerance=RESCALE_TOLERANCE, min_side=MIN_SIDE,
                                     min_fov_diameter=MIN_FOV_DIAMETER, earnet_version=__version__,
                                     av_fov_diameter=av_fov_diameter)
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
