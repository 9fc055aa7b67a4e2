"""How the benchmark scripts write their results: the fields given, plus the command that
produced them, the date and the machine, as indented JSON (parent folders created)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any


def machine() -> str:
    """The processor and core count, e.g. ``Intel(R) Xeon(R) Processor, 2 cores, CPU``."""
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU"


def write_results(path: Path, **fields: Any) -> dict[str, Any]:
    """Write ``fields`` with ``command``, ``date`` and ``machine`` (given ones win) to ``path``."""
    document = {"command": "python " + " ".join(sys.argv), "date": datetime.date.today().isoformat(),
                "machine": machine(), **fields}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return document
