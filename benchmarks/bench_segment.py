"""Speed and memory of ``earnet segment``: s/image, images/s and peak RSS.

Each (model, TTA, input size) is measured in a fresh subprocess, so the peak RSS is
that configuration's own. Inputs: a DRIVE-size photograph (565x584) and a 3504x2336
one (HRF's size), both synthetic fundus images (no dataset needed) with the FOV
diameter of those datasets' photographs (540 and ~3300 px).

    python benchmarks/bench_segment.py                       # every bundled model
    python benchmarks/bench_segment.py --models drive --tta none flip ms --repeat 5
    python benchmarks/bench_segment.py --models drive --tta none --sizes drive --breakdown
    python benchmarks/bench_segment.py --models general --tta none --threads 2 --repeat 9 --merge  # re-measure rows
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

SIZES = {"drive": (584, 565, 540), "hrf": (2336, 3504, 3300)}
"""(height, width, FOV diameter) of DRIVE's and HRF's photographs."""
RESULTS = Path(__file__).parent / "results" / "segment.json"


def photograph(height: int, width: int, fov_diameter: int):  # noqa: ANN201
    """A synthetic fundus photograph of the given size whose field of view is ``fov_diameter`` px
    across (centred; cut at top and bottom when wider than the image, as HRF's are)."""
    import numpy as np
    from PIL import Image

    from earnet.data.fov import derive_fov
    from earnet.data.fov import fov_diameter as measure_fov
    from earnet.data.synthetic_fundus import generate_fundus

    square = generate_fundus(0, 512).image
    side = round(512 * fov_diameter / measure_fov(derive_fov(square)))
    square = np.asarray(Image.fromarray(square).resize((side, side), Image.Resampling.BICUBIC))
    out = np.zeros((height, width, 3), np.uint8)
    rows, cols = min(height, side), min(width, side)
    top, left = (side - rows) // 2, (side - cols) // 2
    out_top, out_left = (height - rows) // 2, (width - cols) // 2
    out[out_top:out_top + rows, out_left:out_left + cols] = square[top:top + rows, left:left + cols]
    return out


def merge_rows(old: dict, rows: list[dict], parts: dict | None, command: str, today: str) -> dict:
    """``old`` results with the rows of the same (model, TTA, input) replaced by ``rows`` (new ones
    appended) and the re-measurement recorded under ``updated``."""
    fresh = {(r["model"], r["tta"], r["input"]): r for r in rows}
    kept = [fresh.pop((r["model"], r["tta"], r["input"]), r) for r in old.get("rows", [])]
    names = ", ".join(sorted({f"{r['model']} {r['tta']} {r['input']}" for r in rows}))
    return {**old, "rows": kept + list(fresh.values()), "breakdown": parts or old.get("breakdown"),
            "updated": [*old.get("updated", []), {"date": today, "command": command, "rows": f"re-measured: {names}"}]}


def measure(model: str, tta: str, size: str, repeat: int, threads: int | None) -> dict[str, float]:
    """Run in this process: time ``repeat`` segmentations after one warm-up."""
    import torch

    from earnet.segment import Segmenter

    if threads:
        torch.set_num_threads(threads)
    image = photograph(*SIZES[size])
    segmenter = Segmenter(model, tta=tta)
    segmenter.segment(image)
    start = time.perf_counter()
    for _ in range(repeat):
        segmenter.segment(image)
    seconds = (time.perf_counter() - start) / repeat
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds_per_image": seconds, "images_per_second": 1 / seconds, "peak_rss_mib": peak_mib,
            "bf16": segmenter.predictor.bf16, "threads": torch.get_num_threads()}


def breakdown(model: str, repeat: int, threads: int | None) -> dict[str, float]:
    """Seconds per DRIVE-size image spent in each part of ``earnet segment`` (no TTA)."""
    import tempfile

    import torch

    from earnet.cli.segment import _write
    from earnet.data.fov import derive_fov
    from earnet.data.transforms import to_tensor_image
    from earnet.inference.predictor import Predictor
    from earnet.segment import Segmenter

    if threads:
        torch.set_num_threads(threads)
    image = photograph(*SIZES["drive"])
    segmenter = Segmenter(model)
    tensor = to_tensor_image(image)[None]
    stage1_only = Predictor(segmenter.predictor.stage1, None)
    result = segmenter.segment(image)

    def seconds(work) -> float:  # noqa: ANN001
        work()
        start = time.perf_counter()
        for _ in range(repeat):
            work()
        return (time.perf_counter() - start) / repeat

    with tempfile.TemporaryDirectory() as folder:
        parts = {"fov": seconds(lambda: derive_fov(image)),
                 "stage1": seconds(lambda: stage1_only.predict_tensor(tensor)),
                 "stage1+stage2": seconds(lambda: segmenter.predictor.predict_tensor(tensor)),
                 "segment (all of the above)": seconds(lambda: segmenter.segment(image)),
                 "write 3 PNGs": seconds(lambda: _write(Path(folder) / "x", image, result, False))}
    return {**parts, "threads": torch.get_num_threads()}


def _torch_version() -> str:
    import torch

    return torch.__version__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="bundled names or bundle paths (default: all bundled)")
    parser.add_argument("--tta", nargs="*", default=["none", "flip", "ms"])
    parser.add_argument("--sizes", nargs="*", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time each part for the default model (drive), else the first")
    parser.add_argument("--parts", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "TTA", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--merge", action="store_true",
                        help="keep the results file's other rows: replace only the (model, TTA, input) rows "
                             "measured now, and note the re-measurement under 'updated'")
    args = parser.parse_args()
    if args.parts:
        print(json.dumps(breakdown(args.parts, args.repeat, args.threads)))
        return 0
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
                       "fov_diameter": SIZES[size][2],
                       **json.loads(result.stdout.strip().splitlines()[-1])}
                rows.append(row)
                print(row, flush=True)
    parts = None
    if args.breakdown:
        chosen = "drive" if "drive" in models else models[0]
        command = [sys.executable, __file__, "--parts", chosen, "--repeat", str(args.repeat)]
        command += ["--threads", str(args.threads)] if args.threads else []
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        seconds = json.loads(result.stdout.strip().splitlines()[-1])
        parts = {"model": Path(chosen).stem, "input": "565x584", "seconds": seconds}
        print(parts, flush=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    command = "python " + " ".join(sys.argv)
    today = datetime.date.today().isoformat()
    document = {"command": command, "date": today,
                "machine": {"cpu": cpu, "cores": os.cpu_count(), "torch": _torch_version()},
                "rows": rows, "breakdown": parts}
    if args.merge and args.results.is_file():
        document = merge_rows(json.loads(args.results.read_text()), rows, parts, command, today)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
