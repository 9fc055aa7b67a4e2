"""Argument helpers shared by several commands."""

from __future__ import annotations

import argparse

from earnet.data.registry import list_datasets

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
