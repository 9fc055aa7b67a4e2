"""The big backbones (HRNet-OCR-Mscale, DenseNet U-Net) through one shared tester, in tiny sizes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from earnet.models.base import BackboneOutput
from earnet.models.densenet_unet import DenseNetUNet
from earnet.models.hrnet_ocr import (
    HRNetOCRMscale,
    hrnet_w18_small_ocr_mscale,
    hrnet_w48_ocr_mscale,
)


def tiny_hrnet(**kwargs: object) -> HRNetOCRMscale:
    return hrnet_w18_small_ocr_mscale(num_blocks=1, ocr_mid=32, ocr_key=16, attn_channels=16, **kwargs)


def tiny_densenet(**kwargs: object) -> DenseNetUNet:
    return DenseNetUNet(encoder="densenet121", decoder_channels=(64, 32, 16, 16, 8), **kwargs)


BUILDERS: dict[str, Callable[..., nn.Module]] = {"hrnet_ocr_mscale": tiny_hrnet, "unet_densenet": tiny_densenet}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny convolutions run many times faster on one thread than on two shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=list(BUILDERS))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


def check_output(model: nn.Module, x: torch.Tensor) -> BackboneOutput:
    """The contract every backbone keeps, whatever the input size."""
    out = model(x)
    n, _, height, width = x.shape
    assert isinstance(out, BackboneOutput)
    assert out.logits.shape == (n, 1, height, width)
    assert out.features.ndim == 4 and out.features.shape[:2] == (n, model.feature_channels)
    assert len(out.aux_logits) == len(out.aux_weights)
    for aux in out.aux_logits:
        assert aux.shape == (n, 1, height, width)
    assert torch.isfinite(out.logits).all()
    return out


@pytest.mark.parametrize("size", [(64, 64), (70, 83)])
@pytest.mark.parametrize("in_channels", [3, 4])
def test_output_shapes(name: str, size: tuple[int, int], in_channels: int) -> None:
    torch.manual_seed(0)
    model = BUILDERS[name](in_channels=in_channels).eval()
    assert model.in_channels == in_channels
    with torch.no_grad():
        check_output(model, torch.randn(1, in_channels, *size))


def test_gradients_reach_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = BUILDERS[name]().train()
    out = check_output(model, torch.randn(1, 3, 64, 64))  # batch 1: BN must still work
    loss = out.logits.mean() + sum(w * a.mean() for w, a in zip(out.aux_weights, out.aux_logits))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, missing


def test_eval_is_deterministic(name: str) -> None:
    torch.manual_seed(0)
    model = BUILDERS[name]().eval()
    x = torch.randn(1, 3, 48, 56)
    with torch.no_grad():
        first, second = model(x), model(x)
    torch.testing.assert_close(first.logits, second.logits, rtol=0, atol=0)
    torch.testing.assert_close(first.features, second.features, rtol=0, atol=0)


def test_mscale_uses_train_and_eval_scales() -> None:
    model = tiny_hrnet()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        train = model.train()(x)
        evaluated = model.eval()(x)
    # the fused OCR aux, then one output per scale
    assert train.aux_weights == [0.4, 0.05, 0.05]
    assert evaluated.aux_weights == [0.4, 0.05, 0.05, 0.05]
    assert len(evaluated.aux_logits) == 4
    assert evaluated.features.shape[-2:] == (16, 16)  # the 1.0 scale's, at stride 4

    single = tiny_hrnet(eval_scales=(1.0,)).eval()
    with torch.no_grad():
        out = single(x)
    assert out.aux_weights == [0.4]


def test_mscale_fusion_is_attention_weighted() -> None:
    """Two scales: fused = a * low + (1 - a) * high, with ``a`` from the low scale."""
    model = tiny_hrnet(eval_scales=(0.5, 1.0)).eval()
    with torch.no_grad():
        nn.init.zeros_(model.scale_attn[-2].weight)  # a = sigmoid(0) = 0.5 everywhere
        out = model(torch.randn(1, 3, 64, 64))
    low, high = out.aux_logits[1], out.aux_logits[2]
    torch.testing.assert_close(out.logits, 0.5 * low + 0.5 * high)


def test_hrnet_pretrained_loads_trunk(tmp_path) -> None:
    source = tiny_hrnet()
    state = {f"module.{k}": v for k, v in source.backbone.state_dict().items() if "stage4" not in k}
    state["classifier.weight"] = torch.zeros(3)  # ImageNet-head keys are ignored
    path = tmp_path / "hrnet.pth"
    torch.save({"state_dict": state}, path)
    model = tiny_hrnet(in_channels=4)
    missing = model.load_pretrained(path)
    assert missing and all(k.startswith("stage4") for k in missing)
    torch.testing.assert_close(model.backbone.conv1.weight[:, :3], source.backbone.conv1.weight)
    assert model.backbone.conv1.weight[:, 3].abs().sum() == 0


def test_densenet_rejects_unknown_encoder() -> None:
    with pytest.raises(Exception, match="densenet121"):
        DenseNetUNet(encoder="resnet50")


def test_parameter_counts() -> None:
    count = sum(p.numel() for p in hrnet_w48_ocr_mscale().parameters())
    print(f"hrnet_w48_ocr_mscale: {count / 1e6:.1f}M parameters")
    # HRNetV2-W48 + OCR is ~70M; the scale-attention head adds ~1.8M.
    assert 65e6 < count < 78e6
    small = sum(p.numel() for p in hrnet_w18_small_ocr_mscale().parameters())
    print(f"hrnet_w18_small_ocr_mscale: {small / 1e6:.1f}M parameters")
    assert small < 5e6


def test_wnet_max_pool_matches_library_pooling() -> None:
    from earnet.models.wnet import max_pool_2x2

    for shape in ((2, 3, 8, 10), (1, 4, 7, 9)):
        x = torch.randn(*shape)
        torch.testing.assert_close(max_pool_2x2(x), torch.nn.functional.max_pool2d(x, 2), rtol=0, atol=0)
    channels_last = torch.randn(1, 8, 12, 16).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(max_pool_2x2(channels_last), torch.nn.functional.max_pool2d(channels_last, 2))
