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


def read_records(path: Path) -> list[dict[str, Any]]:
    """The ``records`` of an earlier results file (empty when there is none), to update in place."""
    return json.loads(path.read_text())["records"] if path.is_file() else []


def upsert(records: list[dict[str, Any]], record: dict[str, Any], *key: str) -> list[dict[str, Any]]:
    """``records`` with ``record`` replacing the one that has the same values of the ``key`` fields."""
    same = tuple(record[k] for k in key)
    return [r for r in records if tuple(r.get(k) for k in key) != same] + [record]


def labelled_model(item: str) -> tuple[str, str]:
    """``LABEL=BUNDLE`` (or a bare bundle name or path, its own label) → ``(label, bundle)``."""
    label, _, model = item.partition("=")
    return (label, model) if model else (item, item)
