"""``earnet data check``: read every file of a dataset and list every problem."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from earnet.data.registry import get_dataset
from earnet.exceptions import EarnetError


@dataclass
class CheckReport:
    """What a dataset folder holds and what is wrong with it."""

    dataset: str
    root: Path | None
    split_sizes: dict[str, int] = field(default_factory=dict)
    image_sizes: Counter[str] = field(default_factory=Counter)
    with_observer2: int = 0
    av_pixels: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of images in the dataset (all splits)."""
        return self.split_sizes.get("all", 0)

    def format(self) -> str:
        """Human-readable summary, one problem per line."""
        splits = ", ".join(f"{k} {v}" for k, v in self.split_sizes.items() if k != "all")
        sizes = ", ".join(f"{size} ({n})" for size, n in self.image_sizes.most_common())
        lines = [f"{self.dataset} at {self.root or '(generated)'}: {self.count} images"
                 + (f" ({splits})" if splits else ""),
                 f"  sizes: {sizes or '-'}",
                 f"  second observer: {self.with_observer2} images"]
        if self.av_pixels:
            vessel = sum(self.av_pixels.values())
            lines.append("  artery/vein labels: " + ", ".join(
                f"{name} {n / vessel:.1%}" for name, n in self.av_pixels.items()) + f" of {vessel:,} vessel pixels")
        lines.append(f"  problems: {len(self.problems)}" if self.problems else "  problems: none")
        lines += [f"    {problem}" for problem in self.problems]
        return "\n".join(lines)


def check_dataset(name: str, root: str | Path | None) -> CheckReport:
    """Read every sample of ``name`` under ``root`` and collect all problems.

    Missing pairs, unreadable or truncated files, size mismatches, non-binary labels
    and empty FOVs are reported, not raised; only an unusable root raises.
    """
    dataset = get_dataset(name, root, "all")
    report = CheckReport(dataset.name, Path(root) if root else None, problems=list(dataset.problems))
    report.split_sizes["all"] = len(dataset)
    for split in ("train", "test"):
        try:
            report.split_sizes[split] = len(get_dataset(name, root, split))
        except EarnetError:
            pass
    for index, files in enumerate(dataset.files):
        if files.label is None and any(str(files.image) in problem for problem in dataset.problems):
            continue  # already listed as a missing pair
        try:
            sample = dataset[index]
        except EarnetError as error:
            report.problems.append(str(error))
            continue
        height, width = sample.label.shape
        report.image_sizes[f"{width}x{height}"] += 1
        report.with_observer2 += sample.observer2 is not None
        if sample.av is not None:
            from earnet.data.rite import CLASS_NAMES

            for value, name in enumerate(CLASS_NAMES[1:], start=1):
                report.av_pixels[name] += int((sample.av == value).sum())
        if not sample.fov.any():
            report.problems.append(f"{files.image}: no field of view found (derived FOV is empty)")
    return report
