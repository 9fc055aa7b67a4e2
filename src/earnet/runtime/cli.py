"""``earnet-onnx`` / ``python -m earnet.runtime``: segment photographs with an ONNX export, no PyTorch."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from earnet import __version__
from earnet.av_graph import CLEANUP_HELP, CLEANUPS, DEFAULT_CLEANUP
from earnet.exceptions import EarnetError, InputError
from earnet.io import (
    image_stem,
    is_image_file,
    probability_to_uint16,
    read_binary,
    read_rgb,
    write_png,
)
from earnet.manifest import write_manifest
from earnet.types import AVSegmentation

EXAMPLES = """examples:
  earnet export drive --format onnx --out drive.onnx      # once, where PyTorch is installed
  earnet-onnx drive.onnx photo.jpg scans/ --out results   # anywhere with numpy, Pillow, onnxruntime
  python -m earnet.runtime drive.onnx photo.png --mask photo_fov.png --threshold 0.4
  earnet export drive_av --format onnx --out drive_av.onnx && earnet-onnx drive_av.onnx photos/ --av

Per image in --out: <stem>_prob.png (16-bit probability), <stem>_mask.png and, with
--error-attention, <stem>_attention.png; with --av (a graph with artery/vein outputs)
also <stem>_av.png (arteries red, veins blue, crossings green), <stem>_artery_prob.png,
<stem>_vein_prob.png (16-bit) and <stem>_av_overlay.png. predictions.json records the
model and threshold, so 'earnet evaluate' can score the folder. The steps and numbers
are those of 'earnet segment' (FOV, rescaling to the training FOV diameter, tiles,
threshold; with --av the segment vote, as 'earnet segment --av')."""


def build_parser() -> argparse.ArgumentParser:
    """The runtime's parser."""
    parser = argparse.ArgumentParser(prog="earnet-onnx", description="Segment fundus photographs with an "
                                     "earnet ONNX export (numpy, Pillow and onnxruntime; no PyTorch).",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, metavar="MODEL.onnx", help="written by 'earnet export MODEL --format onnx'")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("segmentation"), help="output folder (default: segmentation)")
    parser.add_argument("--threshold", type=float, help="decision threshold in (0, 1] (default: the model's)")
    parser.add_argument("--tile", type=int, default=1024, help="tile side in pixels (default: 1024)")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    parser.add_argument("--mask", type=Path, help="FOV mask for a single input (default: detected)")
    parser.add_argument("--error-attention", action="store_true", help="also write the stage-2 attention map")
    parser.add_argument("--av", action="store_true", help="also write artery/vein maps (a graph with A/V outputs)")
    parser.add_argument("--av-cleanup", default=DEFAULT_CLEANUP, choices=CLEANUPS, help=CLEANUP_HELP)
    parser.add_argument("--version", action="version", version=f"earnet {__version__}")
    return parser


def _jobs(inputs: list[str], out: Path) -> list[tuple[Path, Path]]:
    jobs = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
            if not files:
                raise InputError(path, "no images found in this folder")
            jobs += [(file, out / file.relative_to(path).parent / image_stem(file)) for file in files]
        else:
            jobs.append((path, out / image_stem(path)))
    stems = [stem for _, stem in jobs]
    if len(set(stems)) != len(stems):
        raise EarnetError("two inputs would write the same output names; segment them separately")
    return jobs


def run(args: argparse.Namespace) -> int:
    """Segment every input; one line per failed file; exit 2 if any failed."""
    from earnet.runtime.segmenter import OnnxSegmenter

    if args.threshold is not None and not 0 < args.threshold <= 1:
        raise EarnetError(f"--threshold must be in (0, 1], got {args.threshold}")
    if args.out.exists() and not args.out.is_dir():
        raise InputError(args.out, "output folder is a file")
    jobs = _jobs(args.inputs, args.out)
    if args.mask is not None and len(jobs) != 1:
        raise EarnetError("--mask applies to a single input image")
    segmenter = OnnxSegmenter(args.model, tile=args.tile, threads=args.threads, threshold=args.threshold)
    if args.error_attention and len(segmenter.outputs) < 2:
        raise EarnetError("--error-attention needs a two-stage (EAR-Net) model")
    if args.av and not segmenter.has_av:
        raise InputError(args.model, "--av needs a graph with artery/vein outputs; export one with "
                                     "'earnet export drive_av --format onnx'")
    mask = read_binary(args.mask, "FOV mask") if args.mask is not None else None
    failed, written = 0, []
    for source, stem in jobs:
        start = time.perf_counter()
        try:
            image = read_rgb(source)
            try:
                av = segmenter.segment_av(image, mask, args.av_cleanup) if args.av else None
                result = av.vessels if av is not None else segmenter.segment(image, mask)
            except EarnetError as error:
                raise InputError(source, str(error)) from None
            if av is not None:
                _write_av(stem, image, av)
            write_png(stem.parent / f"{stem.name}_prob.png", probability_to_uint16(result.probability))
            write_png(stem.parent / f"{stem.name}_mask.png", result.mask)
            if args.error_attention and result.error_attention is not None:
                write_png(stem.parent / f"{stem.name}_attention.png",
                          np.round(result.error_attention * 255).astype(np.uint8))
        except EarnetError as error:
            print(f"earnet: error: {error}", file=sys.stderr)
            failed += 1
            continue
        written.append(stem.relative_to(args.out).as_posix())
        print(f"{source}  {image.shape[1]}x{image.shape[0]}  vessels {result.vessel_fraction:.2%}  "
              f"{time.perf_counter() - start:.2f} s")
    if written:
        meta = segmenter.metadata
        model = {"model": str(args.model), **{k: meta.get(k) for k in ("dataset", "stage", "backbone", "fov_diameter")}}
        settings = {"runtime": "onnxruntime", "tile": args.tile,
                    **({"av": True, "av_cleanup": args.av_cleanup} if args.av else {})}
        write_manifest(args.out, segmenter.threshold, model, written, settings)
    return 2 if failed else 0


def _write_av(stem: Path, image: np.ndarray, result: AVSegmentation) -> None:
    """The A/V files of ``earnet segment --av``, with the same writers."""
    from earnet.av_evaluate import av_colour_map, write_av_maps
    from earnet.viz import av_overlay

    write_av_maps(stem.parent, stem.name, result.artery, result.vein, result.classes)
    write_png(stem.parent / f"{stem.name}_av_overlay.png", av_overlay(image, av_colour_map(result.classes)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``earnet-onnx`` with ``argv``; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except EarnetError as error:
        print(f"earnet: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("earnet: interrupted", file=sys.stderr)
        return 130
