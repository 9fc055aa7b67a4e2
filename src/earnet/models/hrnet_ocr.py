"""HRNetV2 + OCR + hierarchical multi-scale attention: EAR-Net's stage-1 segmenter.

References:
    Wang et al., "Deep High-Resolution Representation Learning for Visual
    Recognition", TPAMI 2020 (arXiv 1908.07919): HRNetV2.
    Yuan, Chen, Wang, "Object-Contextual Representations for Semantic
    Segmentation", ECCV 2020 (arXiv 1909.11065): OCR.
    Tao, Sapra, Catanzaro, "Hierarchical Multi-Scale Attention for Semantic
    Segmentation", arXiv 2005.10821: the multi-scale fusion.

EAR-Net (Wang et al., DICTA 2021) trains NVIDIA's ``MscaleOCR``; this is a reading of
it with one output channel (the vessel logit). With one class, OCR's soft object
regions are two: the vessel (spatial softmax of the auxiliary logit) and the
background (of its negation). The trunk's module names follow the official HRNet
code, so its ImageNet checkpoints (``hrnetv2_w48_imagenet_pretrained.pth``) load by name.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from earnet.exceptions import InputError
from earnet.models.base import BackboneOutput, adapt_input_conv

logger = logging.getLogger(__name__)

_MULTIPLE = 32  # the trunk's coarsest stride


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _padding(size: int) -> int:
    """Pad to a multiple of 32, and to at least 64 so the coarsest map is 2x2: a 1x1 map
    cannot be batch-normalised in training with a batch of one."""
    return max(-size % _MULTIPLE, 2 * _MULTIPLE - size)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), with a residual connection."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


def _make_layer(block: type[BasicBlock | Bottleneck], inplanes: int, planes: int, blocks: int) -> nn.Sequential:
    downsample = None
    if inplanes != planes * block.expansion:
        downsample = _conv_bn(inplanes, planes * block.expansion, relu=False)
    layers = [block(inplanes, planes, downsample=downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks, then every branch receives every other one."""

    def __init__(self, channels: Sequence[int], num_blocks: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_make_layer(BasicBlock, c, c, num_blocks) for c in channels)
        self.fuse_layers = nn.ModuleList()
        for i, c_out in enumerate(channels):
            row = nn.ModuleList()
            for j, c_in in enumerate(channels):
                if j > i:  # coarser: 1x1 to the target width, upsampled in forward
                    row.append(_conv_bn(c_in, c_out, relu=False))
                elif j == i:
                    row.append(None)
                else:  # finer: strided 3x3 convolutions, one per halving
                    steps = [_conv_bn(c_in, c_in, 3, 2) for _ in range(i - j - 1)]
                    steps.append(_conv_bn(c_in, c_out, 3, 2, relu=False))
                    row.append(nn.Sequential(*steps))
            self.fuse_layers.append(row)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[i]
            for j, fuse in enumerate(row):
                if j < i:
                    y = y + fuse(xs[j])
                elif j > i:
                    y = y + _resize(fuse(xs[j]), xs[i].shape[-2:])
            out.append(self.relu(y))
        return out


def _transition(previous: Sequence[int], current: Sequence[int]) -> nn.ModuleList:
    """Adapts existing branches' widths and adds the new, coarser branch."""
    layers = nn.ModuleList()
    for i, c_out in enumerate(current):
        if i < len(previous):
            layers.append(_conv_bn(previous[i], c_out, 3) if previous[i] != c_out else None)
        else:
            c_in = previous[-1]
            steps = [_conv_bn(c_in, c_in, 3, 2) for _ in range(i - len(previous))]
            steps.append(_conv_bn(c_in, c_out, 3, 2))
            layers.append(nn.Sequential(*steps))
    return layers


class HRNetV2(nn.Module):
    """HRNetV2 trunk; returns all four branches upsampled to 1/4 and concatenated.

    Args:
        in_channels: image channels.
        width: width of the finest branch; branches are ``width * (1, 2, 4, 8)``.
        num_modules: high-resolution modules in stages 2, 3 and 4.
        num_blocks: blocks per branch in stages 1 (Bottlenecks), 2, 3 and 4, or one
            number for all.
    """

    def __init__(self, in_channels: int = 3, width: int = 48, num_modules: Sequence[int] = (1, 4, 3),
                 num_blocks: int | Sequence[int] = 4) -> None:
        super().__init__()
        blocks = [num_blocks] * 4 if isinstance(num_blocks, int) else list(num_blocks)
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _make_layer(Bottleneck, 64, 64, blocks[0])
        widths = [width * 2**i for i in range(4)]
        previous = [64 * Bottleneck.expansion]
        for stage in range(2, 5):
            current = widths[:stage]
            setattr(self, f"transition{stage - 1}", _transition(previous, current))
            modules = [HighResolutionModule(current, blocks[stage - 1]) for _ in range(num_modules[stage - 2])]
            setattr(self, f"stage{stage}", nn.Sequential(*modules))
            previous = current
        self.out_channels = sum(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        xs = [self.layer1(x)]
        for stage in range(2, 5):
            transition = getattr(self, f"transition{stage - 1}")
            inputs = [xs[min(i, len(xs) - 1)] for i in range(len(transition))]
            xs = [x if t is None else t(x) for t, x in zip(transition, inputs)]
            xs = getattr(self, f"stage{stage}")(xs)
        return torch.cat([xs[0]] + [_resize(x, xs[0].shape[-2:]) for x in xs[1:]], dim=1)


class SpatialGather(nn.Module):
    """Pools features over each soft region: ``(N, C, H, W), (N, K, H, W) -> (N, C, K, 1)``."""

    def forward(self, features: torch.Tensor, region_logits: torch.Tensor) -> torch.Tensor:
        probs = region_logits.flatten(2).softmax(dim=2)
        return torch.bmm(probs, features.flatten(2).transpose(1, 2)).transpose(1, 2).unsqueeze(3)


class ObjectAttention(nn.Module):
    """Each pixel attends to the region representations (OCR's object-contextual step)."""

    def __init__(self, in_channels: int, key_channels: int) -> None:
        super().__init__()
        self.key_channels = key_channels
        self.f_pixel = nn.Sequential(_conv_bn(in_channels, key_channels), _conv_bn(key_channels, key_channels))
        self.f_object = nn.Sequential(_conv_bn(in_channels, key_channels), _conv_bn(key_channels, key_channels))
        self.f_down = _conv_bn(in_channels, key_channels)
        self.f_up = _conv_bn(key_channels, in_channels)

    def forward(self, x: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        query = self.f_pixel(x).flatten(2).transpose(1, 2)
        key = self.f_object(regions).flatten(2)
        value = self.f_down(regions).flatten(2).transpose(1, 2)
        similarity = torch.softmax(torch.bmm(query, key) * self.key_channels**-0.5, dim=-1)
        context = torch.bmm(similarity, value).transpose(1, 2).reshape(n, self.key_channels, h, w)
        return self.f_up(context)


class OCRHead(nn.Module):
    """OCR: soft regions from an auxiliary head, region pooling, pixel-region attention.

    Returns ``(logits, aux_logits, ocr_features)`` at the input's resolution.
    """

    def __init__(self, in_channels: int, mid_channels: int = 512, key_channels: int = 256, dropout: float = 0.05) -> None:
        super().__init__()
        self.conv3x3_ocr = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 3, padding=1), nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True)
        )
        self.aux_head = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 1), nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, 1, 1),
        )
        self.gather = SpatialGather()
        self.object_attention = ObjectAttention(mid_channels, key_channels)
        self.fuse = nn.Sequential(_conv_bn(2 * mid_channels, mid_channels), nn.Dropout2d(dropout))
        self.cls_head = nn.Conv2d(mid_channels, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.conv3x3_ocr(x)
        aux = self.aux_head(x)
        # Two soft regions from one logit: vessel and background.
        regions = self.gather(features, torch.cat([aux, -aux], dim=1))
        ocr = self.fuse(torch.cat([self.object_attention(features, regions), features], dim=1))
        return self.cls_head(ocr), aux, ocr


def scale_attention_head(in_channels: int, channels: int = 256) -> nn.Sequential:
    """Tao et al.'s attention head: two 3x3 conv-BN-ReLU, 1x1 conv, sigmoid."""
    return nn.Sequential(
        _conv_bn(in_channels, channels, 3), _conv_bn(channels, channels, 3),
        nn.Conv2d(channels, 1, 1, bias=False), nn.Sigmoid(),
    )


class HRNetOCRMscale(nn.Module):
    """HRNetV2 + OCR, run at several scales fused by learned per-pixel attention.

    Scales are fused as in NVIDIA's ``MscaleOCR``: at each step the lower scale's
    attention ``a`` weighs it against the fusion of the higher ones,
    ``a * low + (1 - a) * high``; for two scales that is the plain pairwise rule. The
    OCR auxiliary logits are fused the same way.

    Args:
        in_channels: 3 for an RGB image (4 when stage 2 also gets a probability map).
        width: HRNet width (48 for W48); branches are ``width * (1, 2, 4, 8)``.
        num_modules: high-resolution modules in stages 2-4.
        num_blocks: blocks per branch in stages 1-4 (or one number for all).
        ocr_mid: OCR feature channels (also ``feature_channels``).
        ocr_key: OCR attention key channels.
        attn_channels: hidden channels of the scale-attention head.
        train_scales: scales fused while training.
        eval_scales: scales fused in eval mode.
        ocr_aux_weight: loss weight of the fused OCR auxiliary logits.
        scale_aux_weight: loss weight of each scale's own logits.
        pretrained: path of a local ImageNet HRNet checkpoint for the trunk.
    """

    def __init__(self, in_channels: int = 3, width: int = 48, num_modules: Sequence[int] = (1, 4, 3),
                 num_blocks: int | Sequence[int] = 4, ocr_mid: int = 512, ocr_key: int = 256,
                 attn_channels: int = 256, train_scales: Sequence[float] = (0.5, 1.0),
                 eval_scales: Sequence[float] = (0.5, 1.0, 2.0), ocr_aux_weight: float = 0.4,
                 scale_aux_weight: float = 0.05, pretrained: str | Path | None = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.feature_channels = ocr_mid
        self.train_scales = tuple(float(s) for s in train_scales)
        self.eval_scales = tuple(float(s) for s in eval_scales)
        self.ocr_aux_weight = ocr_aux_weight
        self.scale_aux_weight = scale_aux_weight
        self.backbone = HRNetV2(in_channels, width, num_modules, num_blocks)
        self.ocr = OCRHead(self.backbone.out_channels, ocr_mid, ocr_key)
        self.scale_attn = scale_attention_head(ocr_mid, attn_channels)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if pretrained is not None:
            self.load_pretrained(pretrained)

    def load_pretrained(self, path: str | Path) -> list[str]:
        """Load an ImageNet HRNet checkpoint into the trunk; returns the trunk's missing keys."""
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "pretrained HRNet checkpoint not found")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        state = {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items()}
        own = self.backbone.state_dict()
        if "conv1.weight" in state and state["conv1.weight"].shape[1] != self.in_channels:
            state["conv1.weight"] = adapt_input_conv(state["conv1.weight"], self.in_channels)
        mismatched = [k for k, v in state.items() if k in own and v.shape != own[k].shape]
        state = {k: v for k, v in state.items() if k in own and k not in mismatched}
        result = self.backbone.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")] + mismatched
        if missing:
            logger.warning("%s: %d trunk tensors not loaded: %s", path, len(missing), ", ".join(missing[:10]))
        logger.info("%s: loaded %d trunk tensors", path, len(state))
        return missing

    def _single_scale(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits, OCR aux logits and attention ``(N, 3, H, W)`` at x's size; OCR features."""
        height, width = x.shape[-2:]
        pad_h, pad_w = _padding(height), _padding(width)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        logits, aux, features = self.ocr(self.backbone(x))
        maps = _resize(torch.cat([logits, aux, self.scale_attn(features)], dim=1), x.shape[-2:])
        stride = x.shape[-1] // features.shape[-1]
        features = features[..., : math.ceil(height / stride), : math.ceil(width / stride)]
        return maps[..., :height, :width], features

    def forward(self, x: torch.Tensor) -> BackboneOutput:
        scales = self.train_scales if self.training else self.eval_scales
        size = x.shape[-2:]
        feature_scale = min(scales, key=lambda s: abs(math.log(s)))
        fused = features = None
        per_scale = {}
        for scale in sorted(scales, reverse=True):
            scaled = x
            if scale != 1.0:
                scaled = _resize(x, [max(1, round(n * scale)) for n in size])
            maps, scale_features = self._single_scale(scaled)
            maps = _resize(maps, size)
            per_scale[scale] = maps[:, :1]
            if scale == feature_scale:
                features = scale_features
            if fused is None:
                fused = maps[:, :2]
            else:
                attention = maps[:, 2:]
                fused = attention * maps[:, :2] + (1 - attention) * fused
        aux = [fused[:, 1:2]]
        weights = [self.ocr_aux_weight]
        if len(scales) > 1:
            aux += [per_scale[s] for s in sorted(per_scale)]
            weights += [self.scale_aux_weight] * len(per_scale)
        return BackboneOutput(fused[:, :1], features, aux, weights)


def hrnet_w48_ocr_mscale(**kwargs: object) -> HRNetOCRMscale:
    """HRNetV2-W48 + OCR (mid 512, key 256) + multi-scale attention, as in EAR-Net; ~72M parameters."""
    return HRNetOCRMscale(**kwargs)  # type: ignore[arg-type]


def hrnet_w18_small_ocr_mscale(**kwargs: object) -> HRNetOCRMscale:
    """HRNetV2-W18-Small-v1 (one module per stage) with a slimmer OCR; for CPUs and tests."""
    kwargs = {"width": 18, "num_modules": (1, 1, 1), "num_blocks": (1, 2, 2, 2), "ocr_mid": 256, "ocr_key": 128,
              "attn_channels": 128, **kwargs}
    return HRNetOCRMscale(**kwargs)  # type: ignore[arg-type]
