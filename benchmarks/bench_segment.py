"""Speed and memory of ``earnet segment``: s/image, images/s and peak RSS.

Each (model, TTA, input size) is measured in a fresh subprocess, so the peak RSS is
that configuration's own. Inputs: a DRIVE-size photograph (565x584) and a 3504x2336
one (HRF's size), both synthetic fundus images (no dataset needed).

    python benchmarks/bench_segment.py                       # every bundled model
    python benchmarks/bench_segment.py --models drive --tta none flip ms --repeat 5
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"drive": (584, 565), "hrf": (2336, 3504)}
RESULTS = Path(__file__).parent / "results" / "segment.json"


def photograph(height: int, width: int):  # noqa: ANN201
    """A synthetic fundus photograph of the given size (square fundus, padded sideways)."""
    import numpy as np

    from earnet.data.synthetic_fundus import generate_fundus

    side = min(height, width)
    square = generate_fundus(0, side).image
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    out[top:top + side, left:left + side] = square
    return out


def measure(model: str, tta: str, size: str, repeat: int, threads: int | None) -> dict[str, float]:
    """Run in this process: time ``repeat`` segmentations after one warm-up."""
    import torch

    from earnet.segment import FundusSegmenter

    if threads:
        torch.set_num_threads(threads)
    image = photograph(*SIZES[size])
    segmenter = FundusSegmenter(model, tta=tta)
    segmenter.segment(image)
    start = time.perf_counter()
    for _ in range(repeat):
        segmenter.segment(image)
    seconds = (time.perf_counter() - start) / repeat
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds_per_image": seconds, "images_per_second": 1 / seconds, "peak_rss_mib": peak_mib,
            "bf16": segmenter.predictor.bf16, "threads": torch.get_num_threads()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="bundled names or bundle paths (default: all bundled)")
    parser.add_argument("--tta", nargs="*", default=["none", "flip", "ms"])
    parser.add_argument("--sizes", nargs="*", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "TTA", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.repeat, args.threads)))
        return 0
    from earnet.bundle import bundled_models

    models = args.models or list(bundled_models())
    rows = []
    for model in models:
        for tta in args.tta:
            for size in args.sizes:
                command = [sys.executable, __file__, "--one", model, tta, size, "--repeat", str(args.repeat)]
                if args.threads:
                    command += ["--threads", str(args.threads)]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                row = {"model": Path(model).stem, "tta": tta, "input": f"{SIZES[size][1]}x{SIZES[size][0]}",
                       **json.loads(result.stdout.strip().splitlines()[-1])}
                rows.append(row)
                print(row, flush=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"command": "python " + " ".join(sys.argv),
                                        "date": datetime.date.today().isoformat(),
                                        "machine": {"cpu": cpu, "cores": os.cpu_count()}, "rows": rows},
                                       indent=2) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
