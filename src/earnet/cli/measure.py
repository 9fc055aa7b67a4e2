"""``earnet measure``: vessel biomarkers from photographs or existing vessel maps."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earnet.cli.common import EXAMPLES_FORMATTER
from earnet.defaults import DEFAULT_AV_MODEL, DEFAULT_MODEL
from earnet.exceptions import EarnetError, InputError
from earnet.io import image_stem, is_image_file

EXAMPLES = """examples:
  earnet measure photo.jpg --out biomarkers                 # segment with the drive model, then measure
  earnet measure scans/ --pixel-size 6.5 --out biomarkers   # µm columns too
  earnet measure --masks segmentation/ --threshold 0.5 --fov fov/ --out biomarkers
  earnet measure --masks manual/01_manual1.gif --fov mask/01_test_mask.gif --fov-degrees 45
  earnet measure photos/ --av-maps av/ --out biomarkers      # CRAE, CRVE and AVR from <stem>_av.png
  earnet measure photo.jpg --av --out biomarkers            # label arteries/veins (drive_av), then CRAE/CRVE/AVR

Writes to --out: measurements.csv (one row per image; every header names its unit),
measurements.json (settings, box counts, branch/end points, every segment) and per
image <stem>_measure.png (skeleton coloured by calibre or tortuosity, branch points
as red rings); photographs also get <stem>_mask.png. Masks are matched to FOV masks
and A/V maps by file name: the same stem, optionally ending in _mask, _fov or _av
(for one shared FOV, give a file). Without a FOV the whole image is the FOV.
CRAE/CRVE come from the six widest artery/vein segments anywhere in the FOV: there is
no optic-disc detection, so they are not the standard zone-B values. Any bad input
stops the run before measurements.csv is written."""

AFFIXES = ("_mask", "_fov", "_av", "_prob", "_manual1", "_manual2")
"""Name endings ignored when matching inputs to FOV masks and A/V maps."""
SEGMENT_OUTPUTS = ("_prob", "_mask")
"""``earnet segment`` writes both per photograph; a folder of them is measured once per photograph."""
NOT_INPUTS = ("_overlay", "_attention", "_measure", "_av")
"""Other pictures earnet writes beside masks; skipped when a folder is given."""


@dataclass
class Job:
    """One image to measure, with its FOV and A/V map when given."""

    source: Path
    stem: str
    fov: Path | None = None
    av: Path | None = None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet measure``."""
    parser = subparsers.add_parser("measure", help="vessel biomarkers: calibre, tortuosity, fractal dimension, CRAE/CRVE",
                                   description="Measure vessel density, fractal dimension, the skeleton graph, calibre, "
                                               "tortuosity and (with A/V maps) CRAE, CRVE and AVR.",
                                   epilog=EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, or '-' to read paths from stdin")
    parser.add_argument("--out", type=Path, default=Path("measurements"), help="output folder (default: measurements)")
    parser.add_argument("--masks", action="store_true",
                        help="inputs are vessel masks or probability maps, not photographs")
    parser.add_argument("--threshold", type=float,
                        help="vessel when probability >= this; required for non-binary --masks "
                             "(photographs: default is the model's)")
    parser.add_argument("--fov", type=Path, help="FOV mask file (for all inputs) or folder (matched by name)")
    parser.add_argument("--av-maps", type=Path, metavar="DIR",
                        help="folder of artery/vein colour maps (red artery, blue vein), matched by name")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--pixel-size", type=float, metavar="UM", help="µm per pixel: adds µm/mm columns")
    scale.add_argument("--fov-degrees", type=float, metavar="DEG",
                       help="camera field of view in degrees (e.g. 45): pixel size from the FOV's diameter")
    parser.add_argument("--colour-by", "--color-by", dest="colour_by", default="calibre",
                        choices=("calibre", "tortuosity"), help="what colours the skeleton in the pictures")
    parser.add_argument("--no-pictures", action="store_true", help="skip the per-image pictures")
    parser.add_argument("--av", action="store_true",
                        help=f"photographs: label arteries and veins with an A/V model (default {DEFAULT_AV_MODEL}) "
                             "for CRAE, CRVE and AVR; also writes <stem>_av.png")
    parser.add_argument("--model", default=None,
                        help=f"model for photographs (earnet models) or a bundle path (default: {DEFAULT_MODEL}, "
                             f"with --av {DEFAULT_AV_MODEL})")
    parser.add_argument("--device", default="cpu", help="cpu or cuda, for photographs (default: cpu)")
    parser.add_argument("--tta", default=None, choices=("none", "flip", "ms"),
                        help="test-time augmentation (default: the model's own, see 'earnet models')")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def expand_inputs(inputs: list[str], threshold: float | None = None) -> list[Path]:
    """Files, folders (recursively, images only) and '-' (paths on stdin) as a list of files.

    In folders, earnet's own pictures (overlays, attention, measure pictures, A/V maps) are
    skipped, and where ``earnet segment`` left both ``<stem>_prob`` and ``<stem>_mask``, the
    probability map is taken with ``threshold`` and the mask without.
    """
    if inputs == ["-"]:
        inputs = [line.strip() for line in sys.stdin if line.strip()]
    files: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p)
                           and not image_stem(p).endswith(NOT_INPUTS))
            found = _one_per_photograph(found, threshold)
            if not found:
                raise InputError(path, "no images found in this folder")
            files.extend(found)
        elif not path.exists():
            raise InputError(path, "file not found")
        else:
            files.append(path)
    return files


def _one_per_photograph(files: list[Path], threshold: float | None) -> list[Path]:
    """Drop ``<stem>_mask`` where ``<stem>_prob`` is there too (with a threshold), or the reverse."""
    unwanted, wanted = ("_mask", "_prob") if threshold is not None else ("_prob", "_mask")
    stems = {image_stem(p) for p in files}
    return [p for p in files
            if not (image_stem(p).endswith(unwanted) and image_stem(p)[: -len(unwanted)] + wanted in stems)]


def _key(stem: str) -> str:
    for affix in AFFIXES:
        if stem.endswith(affix):
            return stem[: -len(affix)]
    return stem


def _index(folder: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise InputError(folder, f"{what} folder not found")
    index: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p)):
        index.setdefault(_key(image_stem(path)), path)
    return index


def plan(files: list[Path], fov: Path | None, av_maps: Path | None) -> list[Job]:
    """Pair every input with its FOV mask and A/V map; a missing one is an error naming the input."""
    fovs = _index(fov, "FOV") if fov is not None and fov.is_dir() else None
    if fov is not None and fovs is None and not fov.is_file():
        raise InputError(fov, "FOV mask not found")
    avs = _index(av_maps, "A/V map") if av_maps is not None else None
    jobs, seen = [], {}
    for path in files:
        stem = image_stem(path)
        stem = next((stem[: -len(a)] for a in SEGMENT_OUTPUTS if stem.endswith(a)), stem)
        if stem in seen:
            raise InputError(path, f"same name as {seen[stem]}; the outputs would collide")
        seen[stem] = path
        job = Job(path, stem, fov=fov if fovs is None else fovs.get(_key(stem)))
        if fovs is not None and job.fov is None:
            raise InputError(path, f"no FOV mask for it in {fov} (looked for {_key(stem)}[_mask|_fov].*)")
        if avs is not None:
            job.av = avs.get(_key(stem))
            if job.av is None:
                raise InputError(path, f"no A/V map for it in {av_maps} (looked for {_key(stem)}[_av].*)")
        jobs.append(job)
    return jobs


def check_sizes(jobs: list[Job]) -> None:
    """Every FOV and A/V map must have its image's size (read from the file headers)."""
    from PIL import Image

    def size(path: Path) -> tuple[int, int] | None:
        try:
            with Image.open(path) as image:
                return image.size
        except OSError:
            return None  # unreadable or gzip: the full read later reports it

    for job in jobs:
        reference = size(job.source)
        for other, what in ((job.fov, "FOV mask"), (job.av, "A/V map")):
            other_size = size(other) if other is not None else None
            if reference and other_size and other_size != reference:
                raise InputError(other, f"{what} is {other_size[0]}x{other_size[1]} but {job.source} is "
                                        f"{reference[0]}x{reference[1]}")


def run(args: argparse.Namespace) -> int:
    """Measure every input; write the tables only when all of them succeeded."""
    from earnet.cli.measure_run import measure_all

    if args.threshold is not None and not 0 < args.threshold <= 1:
        raise EarnetError(f"--threshold must be in (0, 1], got {args.threshold}")
    for name in ("pixel_size", "fov_degrees"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise EarnetError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if args.av and args.masks:
        raise EarnetError("--av labels photographs; for vessel masks give their A/V colour maps with --av-maps")
    if args.av and args.av_maps is not None:
        raise EarnetError("give either --av (label the photographs) or --av-maps (existing maps), not both")
    args.model = args.model or (DEFAULT_AV_MODEL if args.av else DEFAULT_MODEL)
    if args.av:
        from earnet.av import supports_av

        if not supports_av(args.model):
            raise EarnetError(f"--av needs a model with an artery/vein head; {args.model} has none "
                              f"(try --model {DEFAULT_AV_MODEL}; 'earnet models' lists them)")
    if args.fov_degrees is not None and args.masks and args.fov is None:
        raise EarnetError("--fov-degrees needs --fov with --masks: the pixel size comes from the FOV's diameter")
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "output folder is a file")
    jobs = plan(expand_inputs(args.inputs, args.threshold), args.fov, args.av_maps)
    check_sizes(jobs)
    return measure_all(jobs, args)


def read_mask(path: Path, threshold: float | None) -> np.ndarray:
    """A vessel mask from a binary image, or a probability map thresholded at ``threshold``."""
    from earnet.io import read_binary, read_probability

    if threshold is not None:
        return read_probability(path) >= threshold
    try:
        return read_binary(path, "vessel mask")
    except InputError as error:
        if "not binary" not in error.problem:
            raise
        raise InputError(path, f"{error.problem}; give --threshold for a probability map") from None
