"""``earnet data``: check, download and generate datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.cli.common import EXAMPLES_FORMATTER, add_dataset_arguments
from earnet.data.check import check_dataset
from earnet.data.download import download_dataset
from earnet.data.synthetic import SEED, SIZE, write_synthetic
from earnet.exceptions import InputError

CHECK_EXAMPLES = """examples:
  earnet data check drive --root data/DRIVE
  earnet data check stare --root data/STARE
  earnet data check folder --root my_leaves     # ROOT/{train,test}/{images,labels,masks}

Exit status: 0 if no problem was found, 1 if any was (each is listed), 2 if the
root cannot be read as that dataset at all."""

DOWNLOAD_EXAMPLES = """examples:
  earnet data download chase_db1 --root data/CHASEDB1
  earnet data download stare --root data/STARE
  earnet data download hrf --root data/HRF

Archives are verified against published SHA-256 checksums; an interrupted download
resumes where it stopped. DRIVE needs registration: the command says how to get it."""

SYNTH_EXAMPLES = """examples:
  earnet data synth synthetic_data --n 30 --seed 1
  earnet data check folder --root synthetic_data"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet data {check,download,synth}``."""
    parser = subparsers.add_parser("data", help="check, download or generate datasets",
                                   description="Check, download or generate datasets.")
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    check = commands.add_parser("check", help="read every file of a dataset and list problems",
                                description="Read every file of a dataset; print counts, sizes and every problem.",
                                epilog=CHECK_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    add_dataset_arguments(check, split_default=None)
    check.set_defaults(func=run_check)

    download = commands.add_parser("download", help="download a public dataset",
                                   description="Download a dataset with checksum verification and resume.",
                                   epilog=DOWNLOAD_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    download.add_argument("dataset", metavar="DATASET", help="chase_db1, stare, hrf (drive: prints instructions)")
    download.add_argument("--root", metavar="PATH", required=True, type=Path, help="folder to download into")
    download.add_argument("--timeout", type=float, default=60, help="network timeout in seconds (default: 60)")
    download.set_defaults(func=run_download)

    synth = commands.add_parser("synth", help="write synthetic fundus images with exact labels",
                                description="Write synthetic fundus photographs (vessel trees, optic disc, "
                                            "lesions, illumination) with exact labels and FOV masks, in the "
                                            "folder-dataset layout OUT/{train,test}/{images,labels,masks}.",
                                epilog=SYNTH_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    synth.add_argument("out", metavar="OUT", type=Path, help="output folder")
    synth.add_argument("--n", type=int, default=30, help="number of images (default: 30; a third go to test/)")
    synth.add_argument("--seed", type=int, default=SEED, help=f"random seed (default: {SEED})")
    synth.add_argument("--size", type=int, default=SIZE, help=f"image side in pixels (default: {SIZE})")
    synth.set_defaults(func=run_synth)


def run_check(args: argparse.Namespace) -> int:
    """Print the check report; 1 if there are problems."""
    report = check_dataset(args.dataset, args.root)
    print(report.format())
    return 1 if report.problems else 0


def run_download(args: argparse.Namespace) -> int:
    """Download and extract; print where the data is."""
    root = download_dataset(args.dataset, args.root, timeout=args.timeout)
    print(f"{args.dataset} is in {root}; next: earnet data check {args.dataset} --root {root}")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """Write the synthetic images."""
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "exists and is not a folder")
    if args.size < 64:
        raise InputError(args.out, f"--size {args.size} is too small (at least 64)")
    written = write_synthetic(args.out, args.n, seed=args.seed, size=args.size)
    print(f"wrote {len(written) // 3} synthetic images to {args.out}")
    return 0
