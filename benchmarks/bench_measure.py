"""Speed of ``earnet measure``: seconds per mask, DRIVE size and 3504x2336.

Inputs (a vessel mask and its FOV each):
- ``drive-manual``: DRIVE test image 01's first-observer label (565x584; needs ../shared/data);
- ``drive-model``/``hrf-model``: the ``drive`` model's segmentation of the synthetic
  DRIVE-size and 3504x2336 photographs that ``bench_segment.py`` uses (HRF's size and FOV);
- ``hrf-upscaled``: the DRIVE label resized to HRF's FOV (x6.1), cut to 3504x2336: the
  same vessel tree at HRF resolution, with vessels up to ~60 px wide.

Times, after one warm-up, the median of ``--repeat`` runs of ``measure_vessels`` (the
whole analysis) and of the picture (render + PNG), as wall and CPU time; and what a user
sees: two fresh ``earnet measure --masks`` processes, one after the other, on the DRIVE
label (imports, reading, measuring, picture and tables; the second run shows whether
anything cached on disk by the first one helps).

    python benchmarks/bench_measure.py --repeat 5
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DRIVE = ROOT.parent / "shared" / "data" / "DRIVE" / "test"
RESULTS = Path(__file__).parent / "results" / "measure_speed.json"
sys.path.insert(0, str(Path(__file__).parent))


def inputs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (mask, fov)."""
    from PIL import Image

    from bench_segment import SIZES, photograph
    from earnet import load_segmenter
    from earnet.io import read_binary

    out = {}
    if DRIVE.is_dir():
        label = read_binary(DRIVE / "1st_manual" / "01_manual1.gif")
        fov = read_binary(DRIVE / "mask" / "01_test_mask.gif")
        out["drive-manual"] = (label, fov)
        scale = 3300 / 535
        def up(a: np.ndarray) -> np.ndarray:  # noqa: E306
            size = (round(a.shape[1] * scale), round(a.shape[0] * scale))
            big = np.asarray(Image.fromarray(a.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)) >= 128
            top, left = (big.shape[0] - 2336) // 2, (big.shape[1] - 3504) // 2
            canvas = np.zeros((2336, 3504), dtype=bool)
            src = big[max(top, 0):max(top, 0) + 2336, max(left, 0):max(left, 0) + 3504]
            canvas[max(-top, 0):max(-top, 0) + src.shape[0], max(-left, 0):max(-left, 0) + src.shape[1]] = src
            return canvas
        out["hrf-upscaled"] = (up(label), up(fov))
    segmenter = load_segmenter("drive")
    for name, size in (("drive-model", "drive"), ("hrf-model", "hrf")):
        result = segmenter.segment(photograph(*SIZES[size]))
        out[name] = (result.mask, result.fov)
    return out


def timed(function, repeat: int) -> tuple[float, float]:  # noqa: ANN001
    """Median wall and CPU seconds of ``function()`` after one warm-up."""
    function()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus))


def cold_cli(tmp: Path) -> list[float]:
    """Wall seconds of two fresh ``earnet measure --masks`` processes on DRIVE's label 01."""
    if not DRIVE.is_dir():
        return []
    seconds = []
    for run in ("first", "second"):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "earnet.cli.main", "measure", "--masks",
                        str(DRIVE / "1st_manual" / "01_manual1.gif"), "--fov", str(DRIVE / "mask" / "01_test_mask.gif"),
                        "--out", str(tmp / run), "--no-progress"], check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from earnet.measure import measure_vessels, picture

    rows = []
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for name, (mask, fov) in inputs().items():
            result = measure_vessels(mask, fov)
            wall, cpu = timed(lambda: measure_vessels(mask, fov), args.repeat)  # noqa: B023
            pic_wall, pic_cpu = timed(lambda: picture.write(Path(tmp) / "p.png", mask & fov, result),  # noqa: B023
                                      args.repeat)
            rows.append({"input": name, "size": f"{mask.shape[1]}x{mask.shape[0]}",
                         "segments": len(result.segments), "measure_s": wall, "measure_cpu_s": cpu,
                         "picture_s": pic_wall, "picture_cpu_s": pic_cpu})
            print(rows[-1], flush=True)
        cold = cold_cli(Path(tmp))
    document = {
        "command": "python benchmarks/bench_measure.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores", "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_at_start": load_at_start, "load_average_at_end": os.getloadavg()[0], "rows": rows,
        "fresh_cli_one_drive_mask_s": cold,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=1) + "\n")
    print(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
