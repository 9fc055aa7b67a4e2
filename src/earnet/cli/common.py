"""Argument helpers shared by several commands."""

from __future__ import annotations

import argparse

from earnet.data.registry import list_datasets
from earnet.exceptions import EarnetError

EXAMPLES_FORMATTER = argparse.RawDescriptionHelpFormatter


def add_dataset_arguments(parser: argparse.ArgumentParser, split_default: str | None = "test") -> None:
    """``DATASET`` and ``--root`` (and ``--split`` when ``split_default`` is given)."""
    parser.add_argument("dataset", metavar="DATASET", help=f"one of: {', '.join(list_datasets())}")
    parser.add_argument("--root", metavar="PATH",
                        help="the dataset's top folder as downloaded (not needed for synthetic)")
    if split_default is not None:
        parser.add_argument("--split", default=split_default,
                            help="train, test, all, or a leave-one-out fold loo<k>/train|test "
                                 f"(default: {split_default})")


def parse_threshold(text: str) -> float | None:
    """A threshold in (0, 1], or ``None`` for ``auto``."""
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise EarnetError(f"--threshold must be a number in (0, 1] or 'auto', got {text!r}") from None
    if not 0 < value <= 1:
        raise EarnetError(f"--threshold must be in (0, 1], got {value}")
    return value
