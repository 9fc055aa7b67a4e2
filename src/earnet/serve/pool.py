"""A bounded pool that runs inference off the event loop.

A request first *reserves* a slot (before its body is read, so a full server costs
nothing more than a 503); the slot is held until the worker thread has really finished,
even when the request timed out meanwhile, so the number of photographs in memory never
exceeds ``workers + queue``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

SMOOTHING = 0.2
"""Weight of the newest job in the running mean of job seconds (for Retry-After)."""


class Busy(Exception):
    """Every slot is taken; the client should retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"server busy; retry after {retry_after} s")


class RequestTimeout(Exception):
    """The job did not finish within the request's time limit."""


class Slot:
    """A reservation in the pool; release it once (idempotent)."""

    def __init__(self, pool: InferencePool) -> None:
        self._pool = pool
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the slot back."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._pool._release()


class InferencePool:
    """``workers`` threads and at most ``queue`` waiting jobs.

    Args:
        workers: threads running jobs.
        queue: jobs allowed to wait beyond the running ones.
        timeout_s: seconds a request may wait for its job (queueing included).
    """

    def __init__(self, workers: int, queue: int, timeout_s: float) -> None:
        self.workers = workers
        self.capacity = workers + queue
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="earnet-serve")
        self._lock = threading.Lock()
        self._active = 0
        self.peak = 0
        self.completed = 0
        self.mean_seconds = 1.0

    @property
    def active(self) -> int:
        """Slots now held (running, waiting, or being uploaded)."""
        with self._lock:
            return self._active

    def reserve(self) -> Slot:
        """A slot, or :class:`Busy` when all ``workers + queue`` are held."""
        with self._lock:
            if self._active >= self.capacity:
                waves = math.ceil((self._active + 1) / self.workers)
                raise Busy(max(1, math.ceil(waves * self.mean_seconds)))
            self._active += 1
            self.peak = max(self.peak, self._active)
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self._active -= 1

    async def run(self, slot: Slot, job: Callable[[], T]) -> T:
        """Run ``job`` in a worker thread; the slot is released when the thread is done.

        Raises:
            RequestTimeout: the job did not finish within ``timeout_s``; a job still
                waiting is cancelled, a running one finishes in the background.
        """
        future: Future = self._executor.submit(self._timed, job)
        future.add_done_callback(lambda _: slot.release())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            future.cancel()
            raise RequestTimeout(f"no answer within {self.timeout_s:g} s") from None

    def _timed(self, job: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return job()
        finally:
            seconds = time.perf_counter() - start
            with self._lock:
                self.completed += 1
                self.mean_seconds += SMOOTHING * (seconds - self.mean_seconds)

    def shutdown(self) -> None:
        """Stop the threads once running jobs are done; waiting jobs are dropped."""
        self._executor.shutdown(wait=False, cancel_futures=True)
