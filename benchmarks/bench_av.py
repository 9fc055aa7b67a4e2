"""What ``--av`` adds to ``earnet segment`` per DRIVE-size photograph, on this machine's threads.

For each of RITE's 20 test photographs (565x584, DRIVE's) the bundle's vessel
segmentation and its A/V step (A/V network + labelling the vessel mask) are timed
separately, after one warm-up image; medians are reported. Also writes the A/V files
of each photograph once to time the extra PNG writes. Results go to
``benchmarks/results/av-<threads>threads.json``.

    python benchmarks/bench_av.py --root ../shared/data            # model drive_av
    python benchmarks/bench_av.py --root ../shared/data --model BUNDLE --cleanup none --results out.json
    python benchmarks/bench_av.py --root ../shared/data --tta flip --results results/av-2threads-flip.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from earnet.av import ArteryVeinSegmenter
from earnet.av_evaluate import av_colour_map, write_av_maps
from earnet.av_graph import CLEANUPS, DEFAULT_CLEANUP
from earnet.data.registry import get_dataset
from earnet.io import write_png
from earnet.viz import av_overlay

RESULTS_DIR = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder holding RITE/ and DRIVE/")
    parser.add_argument("--model", default="drive_av")
    parser.add_argument("--cleanup", default=DEFAULT_CLEANUP, choices=CLEANUPS, help="as --av-cleanup")
    parser.add_argument("--results", type=Path, help="JSON to write (default: results/av-<threads>threads.json)")
    parser.add_argument("--tta", choices=("none", "flip"), default=None,
                        help="test-time augmentation (default: the bundle's; flip also averages the A/V maps)")
    parser.add_argument("--fp32", action="store_true",
                        help="A/V network in float32 (default: bf16 autocast where the CPU has it)")
    args = parser.parse_args()
    segmenter = ArteryVeinSegmenter(args.model, cleanup=args.cleanup, tta=args.tta)
    if args.fp32:
        segmenter.predictor.bf16 = False
    samples = list(get_dataset("rite", args.root, "test"))
    segmenter.segment(samples[0].image)  # warm-up
    vessel_s, av_s, write_s, av_cpu, vote_s = [], [], [], [], []
    from earnet.av_metrics import av_label_map
    from earnet.av_topology import clean_up
    with tempfile.TemporaryDirectory() as tmp:
        for sample in samples:
            result = segmenter.segment(sample.image)
            vessel_s.append(result.vessels.seconds)
            av_s.append(result.seconds)
            # CPU seconds of the A/V step (all threads): what a machine with free cores would spend
            cpu = time.process_time()
            artery, vein = segmenter.av_maps(sample.image, result.vessels.fov, result.vessels.probability)
            start = time.perf_counter()
            artery, vein = clean_up(artery, vein, result.vessels.mask, args.cleanup)
            vote_s.append(time.perf_counter() - start)
            av_label_map(artery, vein, result.vessels.mask)
            av_cpu.append(time.process_time() - cpu)
            start = time.perf_counter()
            write_av_maps(Path(tmp), sample.id, result.artery, result.vein, result.classes)
            write_png(Path(tmp) / f"{sample.id}_av_overlay.png", av_overlay(sample.image, av_colour_map(result.classes)))
            write_s.append(time.perf_counter() - start)
    record = {
        "date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg(),
        "model": args.model, "cleanup": args.cleanup, "tta": segmenter.vessels.tta, "av_bf16": segmenter.predictor.bf16,
        "av_fov_diameter": segmenter.training_fov_diameter,
        "images": len(samples), "image_size": "565x584",
        "vessel_seconds_median": float(np.median(vessel_s)), "av_seconds_median": float(np.median(av_s)),
        "av_seconds_max": float(np.max(av_s)), "av_cpu_seconds_median": float(np.median(av_cpu)),
        "cleanup_seconds_median": float(np.median(vote_s)),
        "av_files_write_seconds_median": float(np.median(write_s)),
    }
    path = args.results or RESULTS_DIR / f"av-{torch.get_num_threads()}threads.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
