"""The work of ``earnet measure``: read or segment each input, measure, write.

Kept apart from the argument parsing so that the CLI module stays torch-free and
light at import time (the measuring code imports scipy and scikit-image).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from earnet import __version__
from earnet.cli.measure import Job, read_mask
from earnet.exceptions import EarnetError, InputError
from earnet.io import read_binary, read_rgb, write_png
from earnet.measure import measure_vessels, picture
from earnet.measure.avmap import av_classes, read_av_map
from earnet.measure.density import pixel_size_from_fov
from earnet.measure.report import REGION, image_detail, image_values, write_reports


def measure_all(jobs: list[Job], args: argparse.Namespace) -> int:
    """Measure ``jobs``; any error stops the run before the tables are written."""
    segmenter = av_segmenter = None
    if not args.masks:
        import earnet

        segmenter = earnet.load_segmenter(args.model, device=args.device, tta=args.tta)
        if args.av:
            from earnet.av import ArteryVeinSegmenter

            av_segmenter = ArteryVeinSegmenter(args.model, device=args.device, vessels=segmenter)
    av_source = f"labelled with {args.model}" if av_segmenter is not None else (
        str(args.av_maps) if args.av_maps is not None else None)
    with_av = av_source is not None
    with_size = args.pixel_size is not None or args.fov_degrees is not None
    rows, details = [], []
    progress = _progress(jobs, args.no_progress)
    started = time.perf_counter()
    for job in progress:
        mask, fov, fov_source, av = _vessels(job, args, segmenter, av_segmenter)
        pixel_size = args.pixel_size
        if args.fov_degrees is not None:
            pixel_size = pixel_size_from_fov(fov, args.fov_degrees)
        if job.av is not None:
            av = read_av_map(job.av, mask.shape)
        result = measure_vessels(mask, fov, pixel_size, av)
        if not args.no_pictures:
            picture.write(args.out / f"{job.stem}_measure.png", mask & fov, result, args.colour_by)
        rows.append({"image": str(job.source), "fov": fov_source, "width [px]": mask.shape[1],
                     "height [px]": mask.shape[0], "fov_diameter [px]": result.fov_diameter,
                     **({"pixel_size [µm/px]": pixel_size} if with_size else {}),
                     **image_values(result, with_av, with_size)})
        details.append(image_detail(result))
    settings = {
        "earnet": __version__, "inputs": "masks" if args.masks else "photographs",
        "model": None if args.masks else str(args.model), "threshold": _threshold(args, segmenter),
        "pixel_size_um": args.pixel_size, "fov_degrees": args.fov_degrees,
        "av_maps": av_source, "region": REGION if with_av else "whole field of view",
    }
    write_reports(args.out, rows, details, settings)
    seconds = time.perf_counter() - started
    print(f"{len(rows)} image(s) measured in {seconds:.1f} s: {args.out / 'measurements.csv'}")
    return 0


def _vessels(job: Job, args: argparse.Namespace, segmenter,  # noqa: ANN001
             av_segmenter=None) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None]:
    """The vessel mask, the FOV, where the FOV came from, and (with ``av_segmenter``) the
    artery/vein classes of :mod:`earnet.measure.avmap`."""
    fov = read_binary(job.fov, "FOV mask") if job.fov is not None else None
    if segmenter is None:
        mask = read_mask(job.source, args.threshold)
        if fov is not None and fov.shape != mask.shape:
            raise InputError(job.fov, f"FOV mask is {fov.shape[1]}x{fov.shape[0]}, the vessel mask "
                                      f"{mask.shape[1]}x{mask.shape[0]}")
        if fov is not None and not fov.any():
            raise InputError(job.fov, "FOV mask is empty")
        return mask, (fov if fov is not None else np.ones_like(mask)), ("file" if fov is not None else "whole image"), None
    image = read_rgb(job.source)
    av = None
    try:
        if av_segmenter is not None:
            from earnet.av_evaluate import av_colour_map

            labelled = av_segmenter.segment(image, fov, threshold=args.threshold)
            result = labelled.vessels
            colours = av_colour_map(labelled.classes)  # as `earnet segment --av` writes it
            write_png(args.out / f"{job.stem}_av.png", colours)
            av = av_classes(colours)
        else:
            result = segmenter.segment(image, fov)
    except EarnetError as error:
        raise InputError(job.source, str(error)) from None
    mask = result.mask if args.threshold is None else result.probability >= args.threshold
    write_png(args.out / f"{job.stem}_mask.png", mask)
    return mask, result.fov, "file" if fov is not None else "detected", av


def _threshold(args: argparse.Namespace, segmenter) -> float | None:  # noqa: ANN001
    if args.threshold is not None or segmenter is None:
        return args.threshold
    return float(segmenter.threshold)


def _progress(jobs: list[Job], disabled: bool):  # noqa: ANN202
    if disabled or len(jobs) < 2:
        return jobs
    from tqdm import tqdm

    return tqdm(jobs, unit="image", file=sys.stderr)
