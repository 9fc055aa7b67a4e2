"""``predictions.json``: what wrote a folder of probability maps, and at which threshold.

``earnet segment`` and ``earnet predict`` leave it next to the maps so that
``earnet evaluate`` scores them at the threshold the model chose on its own
validation images (never one tuned on the test images) without being told.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from earnet import __version__
from earnet.exceptions import InputError
from earnet.io import write_text

MANIFEST = "predictions.json"
FORMAT = "earnet-predictions/1"


def write_manifest(folder: Path, threshold: float, model: dict[str, Any], images: list[str],
                   settings: dict[str, Any] | None = None) -> Path:
    """Record ``model`` and ``threshold`` for the maps of ``images`` (ids) in ``folder``.

    If the folder already holds maps from the same model at the same threshold, their
    ids are kept; otherwise the record is replaced. Concurrent writers are merged under
    a lock, so none loses the others' ids.
    """
    path = folder / MANIFEST
    with _locked(folder):
        previous = read_manifest(folder)
        if previous and previous.get("model") == model and previous.get("threshold") == threshold:
            images = sorted(set(previous.get("images", [])) | set(images))
        document = {"format": FORMAT, "earnet_version": __version__, "threshold": threshold, "model": model,
                    "settings": settings or {}, "images": sorted(images)}
        write_text(path, json.dumps(document, indent=2) + "\n")
    return path


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on the folder's manifest (read-merge-write is one step)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{MANIFEST}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or ``None`` if it has none."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(path, f"unreadable predictions manifest ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(path, f"not an earnet predictions manifest (expected format {FORMAT})")
    threshold = document.get("threshold")
    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise InputError(path, f"threshold {threshold!r} is not a number in (0, 1]")
    return document
