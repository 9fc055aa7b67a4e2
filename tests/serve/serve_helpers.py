"""Starting ``earnet serve`` in a subprocess and driving Debian's Chromium with Playwright (shared by tests and benchmarks)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
"""Flags that work here, as root, without a display (Playwright adds --headless and a fresh profile)."""

REPO = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    """The system Chromium (Debian's ``chromium`` package), or ``None``."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def serve(*args: str, env: dict[str, str] | None = None, startup_s: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``earnet serve --port 0 ARGS``; yield ``(base URL, process)``; stop it afterwards."""
    environment = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen([sys.executable, "-m", "earnet.cli.main", "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    try:
        deadline = time.monotonic() + startup_s
        url = None
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = re.search(r"open (http://\S+/)", line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise RuntimeError(f"earnet serve did not start (exit {process.poll()})")
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
