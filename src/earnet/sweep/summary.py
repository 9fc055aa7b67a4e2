"""One table over run folders: swept settings, validation and test metrics, mean ± std over seeds.

Reads only what runs leave on disk: ``RUN/config.yaml``, ``RUN/<stage>/stage.json``
(best validation F1, training seconds, parameters) and ``RUN/test/<stage>/metrics.json``.
Each (run, stage) is a row; rows with equal settings (every config key that differs
between the runs, except ``seed`` and ``root``, plus the stage) are grouped, and each
metric becomes mean ± sample standard deviation (n − 1 in the denominator) over them.
A ``*_gain`` metric is a refiner's score minus its own run's stage 1 score: paired per
run, so the seed-to-seed spread of stage 1 cancels and mean ± std says whether stage 2
pays beyond the noise.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from earnet.exceptions import InputError

SCORES = ("acc", "se", "sp", "precision", "f1", "iou", "mcc", "auc_roc", "auc_pr", "cldice")
GAINS = ("val_f1", "test_f1", "test_auc_roc", "test_f1_mean")
"""Metrics that also get a ``<metric>_gain`` column: the stage's value minus its run's stage 1's."""
METRICS = ("val_f1", "train_min", "params", *(f"test_{s}" for s in SCORES), *(f"test_{s}_mean" for s in SCORES),
           *(f"{m}_gain" for m in GAINS))
DEFAULT_METRICS = ("val_f1", "test_f1", "test_f1_gain", "test_auc_roc", "test_se", "test_sp", "test_f1_mean",
                   "train_min")
NEVER_GROUPED_BY = ("seed", "root")
FORMATS = ("text", "csv", "markdown", "json")


@dataclass
class RunRecord:
    """One stage of one run: its settings and metrics (``None`` where not measured)."""

    run: Path
    stage: str
    config: dict[str, Any]
    metrics: dict[str, float | None]


@dataclass
class Stat:
    """Mean, sample standard deviation (``nan`` for one value) and count of one metric over a group."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat | None:
        values = [v for v in values if v is not None and not math.isnan(v)]
        if not values:
            return None
        std = statistics.stdev(values) if len(values) > 1 else math.nan
        return cls(statistics.fmean(values), std, len(values))


@dataclass
class Table:
    """Rows of settings (strings) and metrics (:class:`Stat`), with the column names in order."""

    settings: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    grouped: bool = True

    @property
    def columns(self) -> list[str]:
        return [*self.settings, "runs", *self.metrics]


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders (holding ``config.yaml``) given directly or anywhere below the given folders."""
    runs: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(path, "no such run folder")
        if (path / "config.yaml").is_file():
            runs.append(path)
        else:
            found = sorted(p.parent for p in path.rglob("config.yaml") if (p.parent / "test").is_dir()
                           or any(p.parent.glob("stage*/stage.json")))
            if not found:
                raise InputError(path, "holds no earnet run (no config.yaml with a trained stage)")
            runs += found
    return list(dict.fromkeys(runs))


def read_run(run: Path) -> list[RunRecord]:
    """Every trained or tested stage of a run folder."""
    try:
        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except yaml.YAMLError as error:
        raise InputError(run / "config.yaml", f"not valid YAML ({str(error).splitlines()[0]})") from None
    stages = {p.parent.name for p in run.glob("stage*/stage.json")} | {p.parent.name for p in
                                                                        run.glob("test/*/metrics.json")}
    stage1 = _json(run / "stage1" / "stage.json")
    folds = [_json(p) for p in sorted(run.glob("errors-oof/folds/fold*/stage.json"))]
    records = []
    for stage in sorted(stages):
        info = _json(run / stage / "stage.json")
        test = _json(run / "test" / stage / "metrics.json")
        metrics: dict[str, float | None] = {name: None for name in METRICS}
        if info:
            metrics["val_f1"] = info.get("best_val_f1")
            seconds = info.get("train_seconds", 0.0)
            params = info.get("parameters")
            if stage != "stage1":
                # a refiner costs stage 1 too, and out-of-fold error maps the fold models
                seconds += (stage1 or {}).get("train_seconds", 0.0)
                seconds += 0.0 if stage.endswith("-in_sample") else sum(f.get("train_seconds", 0.0) for f in folds)
                params = None if params is None or not stage1 else params + stage1.get("parameters", 0)
            metrics["train_min"], metrics["params"] = seconds / 60, params
        if test:
            for score in SCORES:
                metrics[f"test_{score}"] = (test.get("pooled") or {}).get(score)
                metrics[f"test_{score}_mean"] = (test.get("mean") or {}).get(score)
        records.append(RunRecord(run, stage, config, metrics))
    baseline = next((r.metrics for r in records if r.stage == "stage1"), None)
    for record in records:
        for name in GAINS:
            paired = None if record.stage == "stage1" or baseline is None else baseline[name]
            value = record.metrics[name]
            record.metrics[f"{name}_gain"] = None if paired is None or value is None else value - paired
    return records


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(path, f"not valid JSON ({error})") from None


def swept_keys(records: list[RunRecord]) -> list[str]:
    """Config keys whose values differ between the records' runs (never seed or root), in config order."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record.config if k not in keys]
    return [k for k in keys if k not in NEVER_GROUPED_BY
            and len({repr(r.config.get(k)) for r in records}) > 1]


def summarize(records: list[RunRecord], metrics: list[str] | None = None, by: list[str] | None = None,
              group: bool = True, sort: str | None = None, descending: bool = False) -> Table:
    """The table: one row per setting (``group``) or per run and stage, sorted by column ``sort``."""
    metrics = list(metrics or DEFAULT_METRICS)
    for name in metrics:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
    known = {key for record in records for key in record.config}
    unknown = [key for key in by or [] if key not in known]
    if unknown:
        raise ValueError(f"cannot group by {unknown[0]!r}: no run's config.yaml has it")
    settings = [*(by if by is not None else swept_keys(records)), "stage"]
    if not group:
        settings = ["run", *settings, "seed"]
    groups: dict[tuple[str, ...], list[RunRecord]] = {}
    for record in records:
        values = {**record.config, "stage": record.stage, "run": record.run.name}
        key = tuple(_text(values.get(name)) for name in settings)
        groups.setdefault(key, []).append(record)
    table = Table(settings, metrics, grouped=group)
    for key, members in groups.items():
        row: dict[str, Any] = dict(zip(settings, key))
        row["runs"] = len(members)
        for name in metrics:
            row[name] = Stat.of([m.metrics[name] for m in members])
        table.rows.append(row)
    if sort is not None:
        if sort not in table.columns:
            raise ValueError(f"cannot sort by {sort!r}; columns: {', '.join(table.columns)}")
        table.rows.sort(key=lambda row: _sort_key(row[sort]), reverse=descending)
    return table


def _sort_key(value: Any) -> tuple:
    if isinstance(value, Stat):
        return (0, value.mean, "")
    if value is None:
        return (1, 0.0, "")
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (0, 0.0, str(value))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _cell(value: Any, digits: int, plus_minus: str = " ± ") -> str:
    if value is None:
        return "–"
    if not isinstance(value, Stat):
        return str(value)
    if value.n == 1 or math.isnan(value.std) or (value.std == 0 and float(value.mean).is_integer()):
        return _number(value.mean, digits)  # one run, or a count such as params that cannot vary
    return f"{_number(value.mean, digits)}{plus_minus}{_number(value.std, digits)}"


def _number(value: float, digits: int) -> str:
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def render(table: Table, fmt: str = "text", digits: int = 4) -> str:
    """The table as aligned text, CSV (mean and std in separate columns), Markdown or JSON."""
    if fmt == "csv":
        return _csv(table)
    if fmt == "json":
        return json.dumps(_json_document(table), indent=2) + "\n"
    header = table.columns
    body = [[_cell(row[c], digits) if c != "runs" else str(row[c]) for c in header] for row in table.rows]
    note = ("mean ± sample std (n − 1) over the runs of each row" if table.grouped
            else "one row per run and stage")
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines) + f"\n\n{note}.\n"
    widths = [max(len(h), *(len(cells[i]) for cells in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in body]
    return "\n".join(lines) + f"\n({note})\n"


def _csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*table.settings, "runs", *(f"{m}{s}" for m in table.metrics for s in ("", "_std"))])
    for row in table.rows:
        stats = [row[m] for m in table.metrics]
        writer.writerow([*(row[s] for s in table.settings), row["runs"],
                         *(v for stat in stats for v in (("", "") if stat is None else
                                                         (repr(stat.mean), "" if math.isnan(stat.std)
                                                          else repr(stat.std))))])
    return buffer.getvalue()


def _json_document(table: Table) -> dict[str, Any]:
    def stat(value: Stat | None) -> dict[str, Any] | None:
        if value is None:
            return None
        return {"mean": value.mean, "std": None if math.isnan(value.std) else value.std, "n": value.n}

    return {"kind": "earnet-summary", "std": "sample (n - 1)", "grouped": table.grouped,
            "settings": table.settings, "metrics": table.metrics,
            "rows": [{**{s: row[s] for s in table.settings}, "runs": row["runs"],
                      **{m: stat(row[m]) for m in table.metrics}} for row in table.rows]}
