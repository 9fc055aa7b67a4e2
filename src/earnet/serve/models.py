"""The models a server offers, each loaded once (per TTA mode) and shared by all requests."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from earnet.exceptions import EarnetError

TTA_MODES = ("none", "flip", "ms")
METADATA_KEYS = ("dataset", "backbone", "refinement", "fov_diameter")
DEFAULT_TTA = "none"
"""The TTA of a model whose metadata names none (``tta``: a bundle validated with flips)."""


class UnknownChoice(EarnetError):
    """A client asked for a model or TTA mode this server does not offer."""


class ModelCache:
    """Segmenters by ``(model, tta)``, created on first use through ``earnet.load_segmenter``.

    Clients choose among the bundled models and the operator's default model (which may
    be a bundle path); a client-supplied string is never used as a path.

    Args:
        default: the operator's model, a bundled name or a bundle path.
        device: passed to ``earnet.load_segmenter``.
    """

    def __init__(self, default: str, device: str = "cpu") -> None:
        from earnet.bundle import bundled_models

        self.device = device
        self._bundled = bundled_models()
        self._paths: dict[str, Path] = dict(self._bundled)
        if default in self._bundled:
            self.default = default
        else:  # the operator's bundle file, offered by its file name (bundled names have no suffix)
            self.default = Path(default).name
            self._paths[self.default] = Path(default)
        self._segmenters: dict[tuple[str, str], Any] = {}
        self._av_segmenters: dict[tuple[str, str], Any] = {}
        self._metadata: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        """Model names clients may ask for, the default first."""
        return [self.default, *(name for name in self._paths if name != self.default)]

    def check(self, model: str | None, tta: str | None) -> tuple[str, str]:
        """Validate a client's choice; ``None`` means the default model / that model's own TTA."""
        model = self.default if model in (None, "") else model
        if model not in self._paths:
            raise UnknownChoice(f"unknown model {model!r}; this server offers: {', '.join(self.names)}")
        tta = self.default_tta(model) if tta in (None, "") else tta
        if tta not in TTA_MODES:
            raise UnknownChoice(f"unknown tta {tta!r}; valid: {', '.join(TTA_MODES)}")
        return model, tta

    def get(self, model: str, tta: str = "none") -> Any:
        """The segmenter for a checked ``(model, tta)``, loaded on first use."""
        import earnet

        key = (model, tta)
        with self._lock:  # one load per key, even when requests race for it
            if key not in self._segmenters:
                source = model if model in self._bundled else str(self._paths[model])
                self._segmenters[key] = earnet.load_segmenter(source, device=self.device, tta=tta)
            return self._segmenters[key]

    def check_av(self, model: str) -> None:
        """Refuse artery/vein labels for a checked ``model`` that has no A/V head."""
        from earnet.av_bundle import has_av

        if not has_av(self._meta(model)):
            offered = [name for name in self.names if has_av(self._meta(name))]
            raise UnknownChoice(f"model {model!r} has no artery/vein head; for arteries and veins choose "
                                f"{' or '.join(offered) or 'a model with one (none is offered here)'}")

    def get_av(self, model: str, tta: str = "none") -> Any:
        """The artery/vein segmenter of a checked A/V ``(model, tta)``, sharing :meth:`get`'s vessel
        segmenter; loaded on first use."""
        from earnet.av import ArteryVeinSegmenter

        vessels = self.get(model, tta)
        key = (model, tta)
        with self._lock:
            if key not in self._av_segmenters:
                self._av_segmenters[key] = ArteryVeinSegmenter(self._paths[model], device=self.device,
                                                               vessels=vessels)
            return self._av_segmenters[key]

    def loaded(self) -> list[str]:
        """``model/tta`` of every segmenter in memory."""
        with self._lock:
            return [f"{model}/{tta}" for model, tta in self._segmenters]

    def default_tta(self, model: str) -> str:
        """The TTA a checked ``model`` runs with unless a client asks otherwise (its bundle's ``tta``;
        read once per model, not per request)."""
        return str(self._meta(model).get("tta", DEFAULT_TTA))

    def _meta(self, model: str) -> dict[str, Any]:
        """A checked ``model``'s bundle metadata, read once, not per request."""
        from earnet.bundle import read_bundle_metadata

        with self._lock:
            if model not in self._metadata:
                self._metadata[model] = read_bundle_metadata(self._paths[model])
            return self._metadata[model]

    def describe(self) -> list[dict[str, Any]]:
        """One entry per model: name, threshold, training data, test metrics, error attention, A/V head."""
        from earnet.av_bundle import has_av

        entries = []
        for name in self.names:
            meta = self._meta(name)
            metrics = meta.get("test_metrics") or {}
            entries.append({
                "name": name,
                "default": name == self.default,
                "threshold": float(meta["threshold"]),
                "tta": str(meta.get("tta", DEFAULT_TTA)),
                **{key: meta.get(key) for key in METADATA_KEYS},
                "error_attention": meta.get("refinement", "none") != "none",
                "test_metrics": {k: metrics[k] for k in ("f1", "auc_roc") if isinstance(metrics.get(k), float)},
                "av": has_av(meta),
                "av_test_accuracy": meta["av"].get("test_metrics", {}).get("acc") if has_av(meta) else None,
            })
        return entries
