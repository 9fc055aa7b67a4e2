"""``earnet segment``: vessel maps of your own fundus photographs."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earnet.av_graph import CLEANUP_HELP, CLEANUPS, DEFAULT_CLEANUP
from earnet.cli.common import EXAMPLES_FORMATTER
from earnet.defaults import DEFAULT_AV_MODEL, DEFAULT_MODEL
from earnet.exceptions import EarnetError, InputError
from earnet.io import image_stem, is_image_file, read_binary, read_rgb
from earnet.manifest import write_manifest
from earnet.thresholds import MODEL, parse_threshold

EXAMPLES = """examples:
  earnet segment                                  # scikit-image's sample retina photograph
  earnet segment photo.jpg scans/ --out results   # files and folders (recursively)
  find . -name '*.tif' | earnet segment - --out results
  earnet segment big.jpg --tta flip --error-attention
  earnet segment photo.png --mask photo_fov.png --threshold 0.4
  earnet segment photo.jpg --model runs/drive --stage stage1   # a run's stage, as earnet predict
  earnet segment photos/ --av                     # arteries and veins too (model drive_av)

Per image in --out: <stem>_prob.png (16-bit probability), <stem>_mask.png,
<stem>_overlay.png (vessels over the photograph) and, with --error-attention, the
stage-2 attention <stem>_attention.png. With --av also <stem>_av.png (arteries red,
veins blue, crossings green: RITE's colour code), <stem>_artery_prob.png and
<stem>_vein_prob.png (16-bit) and <stem>_av_overlay.png. Photographs are rescaled so that their field
of view matches the training images' (vessel calibre matters), processed in tiles,
and the result is resized back. A file that fails is reported on one line; the rest
are still processed, and the exit status is 2 if any failed."""

SAMPLE_ID = "skimage_retina"


@dataclass
class Job:
    """One photograph to segment and where its outputs go."""

    source: Path | None
    out_stem: Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``earnet segment``."""
    parser = subparsers.add_parser("segment", help="segment your own fundus photographs",
                                   description="Segment fundus photographs with a pretrained model.",
                                   epilog=EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="image files, folders, or '-' to read paths from stdin "
                             "(default: scikit-image's sample retina photograph)")
    parser.add_argument("--model", default=None,
                        help="bundled model name (earnet models), a bundle path, or a run folder "
                             f"(default: {DEFAULT_MODEL}; {DEFAULT_AV_MODEL} with --av)")
    parser.add_argument("--stage", help="with a run folder: stage1 or a stage2-* stage (default: the last)")
    parser.add_argument("--out", type=Path, default=Path("segmentation"), help="output folder (default: segmentation)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--tta", default=None, choices=("none", "flip", "ms"),
                        help="test-time augmentation: flips (with --av the A/V maps too), or multi-scale 0.5/1/2 "
                             "(default: the model's own, 'earnet models' lists it; none for the default model)")
    parser.add_argument("--threshold", default=MODEL,
                        help="'model' (the model's own, chosen on its validation images) or a value in (0, 1]")
    parser.add_argument("--tile", type=int, default=1024, help="tile side in pixels (default: 1024)")
    parser.add_argument("--mask", type=Path, help="FOV mask for a single input (default: detected)")
    parser.add_argument("--error-attention", action="store_true", help="also write the stage-2 attention map")
    parser.add_argument("--av", action="store_true", help="also write artery/vein maps (needs a model with an A/V head)")
    parser.add_argument("--av-cleanup", default=DEFAULT_CLEANUP, choices=CLEANUPS, help=CLEANUP_HELP)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def collect_jobs(inputs: list[str], out: Path) -> tuple[list[Job], list[str]]:
    """Expand files, folders and '-' into jobs; unusable inputs become error lines.

    Files inside ``out`` are skipped, so an output folder inside an input folder is
    never segmented again.
    """
    if not inputs:
        return [Job(None, out / SAMPLE_ID)], []
    if inputs == ["-"]:
        inputs = _stdin_paths()
    jobs: list[Job] = []
    errors: list[str] = []
    out_resolved = out.resolve()
    for text in inputs:
        path = Path(text)
        try:
            is_dir = path.is_dir()
            if is_dir:
                files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p)
                               and not p.resolve().is_relative_to(out_resolved))
        except OSError as error:  # a name over 255 characters, a folder we may not read, ...
            errors.append(f"{text}: cannot open ({error.strerror or error})")
            continue
        if is_dir:
            if not files:
                errors.append(f"{path}: no images found in this folder")
            for file in files:
                relative = file.relative_to(path).parent
                jobs.append(Job(file, out / relative / image_stem(file)))
        else:
            jobs.append(Job(path, out / image_stem(path)))
    seen: dict[Path, Path | None] = {}
    unique: list[Job] = []
    for job in jobs:
        if job.out_stem in seen:
            errors.append(f"{job.source}: same output name as {seen[job.out_stem]}; segment them separately")
            continue
        seen[job.out_stem] = job.source
        unique.append(job)
    return unique, errors


def _stdin_paths() -> list[str]:
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:
        raise EarnetError("'-' reads file paths from stdin, one per line, but got binary data; "
                          "pass the image as a file path instead of piping its bytes")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read(job: Job) -> np.ndarray:
    if job.source is None:
        from skimage.data import retina

        return np.asarray(retina())[..., :3]
    return read_rgb(job.source)


def run(args: argparse.Namespace) -> int:
    """Segment every input; report failures per file; summary table at the end."""
    from earnet.io import exclusive_folder
    from earnet.segment import load_segmenter

    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "output folder is a file")
    threshold = parse_threshold(args.threshold, (MODEL,), auto=MODEL)
    jobs, errors = collect_jobs(args.inputs, args.out)
    if args.mask is not None and len(jobs) + len(errors) != 1:
        raise EarnetError("--mask applies to a single input image")
    args.model = args.model or (DEFAULT_AV_MODEL if args.av else DEFAULT_MODEL)
    if args.av:
        from earnet.av import supports_av

        if not supports_av(args.model):
            raise EarnetError(f"--av needs a model with an artery/vein head; {args.model} has none "
                              "(try --model drive_av; 'earnet models' lists them)")
    segmenter = load_segmenter(args.model, device=args.device, tta=args.tta, tile=args.tile,
                               threshold=threshold.value, stage=args.stage)
    av_segmenter = None
    if args.av:
        from earnet.av import ArteryVeinSegmenter

        av_segmenter = ArteryVeinSegmenter(args.model, device=args.device, tile=args.tile, vessels=segmenter,
                                           cleanup=args.av_cleanup)
    mask = read_binary(args.mask, "FOV mask") if args.mask is not None else None
    if args.error_attention and not segmenter.two_stage:
        raise EarnetError("--error-attention needs a two-stage (EAR-Net) model")
    for message in errors:
        print(f"earnet: error: {message}", file=sys.stderr)
    rows: list[tuple[str, str, float, float]] = []
    written: list[str] = []
    with exclusive_folder(args.out):
        try:
            failures = _segment_all(jobs, segmenter, av_segmenter, mask, args, rows, written)
        finally:  # also when interrupted: the maps already written are recorded
            if written:
                meta = segmenter.metadata
                model = {"model": str(args.model),
                         **{k: meta.get(k) for k in ("dataset", "stage", "backbone", "fov_diameter")}}
                settings = {"tta": segmenter.tta, "tile": args.tile,
                            **({"av": True, "av_cleanup": args.av_cleanup} if args.av else {})}
                write_manifest(args.out, segmenter.threshold, model, written, settings)
    _summary(rows, args.out, str(args.model), segmenter.tta)
    return 2 if errors or failures else 0


def _segment_all(jobs: list[Job], segmenter, av_segmenter, mask: np.ndarray | None,  # noqa: ANN001
                 args: argparse.Namespace,
                 rows: list[tuple[str, str, float, float]], written: list[str]) -> int:
    """Segment each job; a failure is reported on one line and the batch goes on. Returns the failures."""
    from earnet.output_maps import write_maps

    failures = 0
    progress = _progress(jobs, args.no_progress)
    for job in progress:
        name = str(job.source) if job.source else f"{SAMPLE_ID} (scikit-image)"
        try:
            image = _read(job)
            av_result = None
            if av_segmenter is not None:
                av_result = av_segmenter.segment(image, mask, attention=args.error_attention)
                result = av_result.vessels
            else:
                result = segmenter.segment(image, mask, attention=args.error_attention)
            write_maps(job.out_stem, image, result, attention=args.error_attention)
            if av_result is not None:
                _write_av(job.out_stem, image, av_result)
        except Exception as error:  # noqa: BLE001 - one bad photograph must not stop the batch
            failures += 1
            message = _describe(job, error)
            (progress.write if hasattr(progress, "write") else print)(f"earnet: error: {message}", file=sys.stderr)
            continue
        seconds = result.seconds + (av_result.seconds if av_result is not None else 0.0)
        rows.append((name, f"{image.shape[1]}x{image.shape[0]}", result.vessel_fraction, seconds))
        written.append(job.out_stem.relative_to(args.out).as_posix())
    return failures


def _describe(job: Job, error: Exception) -> str:
    """One line naming the file and the problem."""
    if isinstance(error, InputError):
        return str(error)
    source = job.source or SAMPLE_ID
    if isinstance(error, EarnetError):
        return f"{source}: {error}"
    if isinstance(error, MemoryError) or "out of memory" in str(error).lower():
        return f"{source}: out of memory (try a smaller --tile, or crop the photograph)"
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{source}: {type(error).__name__}{': ' + first if first else ''}"


def _write_av(stem: Path, image: np.ndarray, result) -> None:  # noqa: ANN001
    from earnet.av_evaluate import av_colour_map, write_av_maps
    from earnet.io import write_png
    from earnet.viz import av_overlay

    write_av_maps(stem.parent, stem.name, result.artery, result.vein, result.classes)
    write_png(stem.parent / f"{stem.name}_av_overlay.png", av_overlay(image, av_colour_map(result.classes)))


def _progress(jobs: list[Job], disabled: bool):  # noqa: ANN202
    if disabled or len(jobs) < 2:
        return jobs
    from tqdm import tqdm

    return tqdm(jobs, unit="image", file=sys.stderr)


def _summary(rows: list[tuple[str, str, float, float]], out: Path, model: str, tta: str) -> None:
    if not rows:
        return
    width = max(len("image"), *(len(r[0]) for r in rows))
    print(f"{'image':<{width}}  {'size':>11}  {'vessels':>8}  {'time (s)':>8}")
    for name, size, fraction, seconds in rows:
        print(f"{name:<{width}}  {size:>11}  {fraction:>8.2%}  {seconds:>8.2f}")
    print(f"{len(rows)} image(s) segmented into {out} (model {model}, TTA {tta})")
