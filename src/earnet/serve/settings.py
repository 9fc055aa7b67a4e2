"""What an ``earnet serve`` instance allows: model, workers, queue and limits."""

from __future__ import annotations

from dataclasses import dataclass

from earnet.defaults import DEFAULT_MODEL
from earnet.exceptions import EarnetError


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one server.

    Attributes:
        model: the default model: a bundled name or a bundle path chosen by the operator
            (clients may pick among bundled names and this one, never a path).
        device: ``cpu`` or ``cuda``.
        workers: photographs segmented at once (threads of the inference pool).
        queue: requests allowed to wait for a worker; beyond it the answer is 503.
        max_upload_bytes: largest accepted request body.
        max_pixels: largest decoded photograph (width x height), against decompression bombs.
        timeout_s: a request not answered by then gets 504.
    """

    model: str = DEFAULT_MODEL
    device: str = "cpu"
    workers: int = 1
    queue: int = 8
    max_upload_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 40_000_000
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise EarnetError(f"--workers must be at least 1, got {self.workers}")
        if self.queue < 0:
            raise EarnetError(f"--queue must be 0 or more, got {self.queue}")
        if self.max_upload_bytes < 1024:
            raise EarnetError(f"the upload limit must be at least 1 KiB, got {self.max_upload_bytes} bytes")
        if self.max_pixels < 1:
            raise EarnetError(f"the pixel limit must be positive, got {self.max_pixels}")
        if self.timeout_s <= 0:
            raise EarnetError(f"--timeout must be positive, got {self.timeout_s}")
