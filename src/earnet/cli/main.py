"""``earnet``: the command-line entry point.

Each command lives in its own module exposing ``add_parser(subparsers)``, which
registers the command and sets ``func`` to a ``run(args) -> int``. Errors meant for
the user (:class:`~earnet.exceptions.EarnetError`) print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from earnet import __version__
from earnet.cli import data, errors, evaluate, export, models, predict, segment, serve, train
from earnet.cli import measure, summarize, sweep
from earnet.exceptions import EarnetError

COMMANDS = (segment, data, train, errors, predict, evaluate, models, export, serve, measure, sweep, summarize)

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The parser for all commands."""
    parser = argparse.ArgumentParser(
        prog="earnet",
        description="Retinal vessel segmentation with EAR-Net: datasets, training, evaluation, segmentation.",
        epilog="Run 'earnet COMMAND --help' for the options and examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"earnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``earnet`` with ``argv``; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except EarnetError as error:
        print(f"earnet: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # output piped into e.g. `head`
        return 0
    except KeyboardInterrupt:
        print("earnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
