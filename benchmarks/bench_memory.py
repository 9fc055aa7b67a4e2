"""Peak memory of `earnet segment` on one very large photograph (12000x9000 JPEG).

A synthetic fundus photograph (FOV 9000 px wide) is written as a JPEG and segmented
with a bundle (default: earnet's default model) in a fresh process; the peak resident set
size comes from `/usr/bin/time -f %M` (Linux). Results go to benchmarks/results/memory.json,
labelled with the bundle's name.

    python benchmarks/bench_memory.py [--model NAME] [--src PATH_TO_SRC] [--results FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from results_file import write_results

from earnet.defaults import DEFAULT_MODEL

RESULTS = Path(__file__).parent / "results" / "memory.json"
WIDTH, HEIGHT, FOV = 12000, 9000, 9000


def make_photograph(path: Path) -> None:
    """A 12000x9000 JPEG holding a synthetic fundus photograph 9000 px across."""
    from PIL import Image

    from earnet.data.synthetic_fundus import generate_fundus

    fundus = Image.fromarray(generate_fundus(3, 1000).image).resize((FOV, FOV), Image.BICUBIC)
    canvas = Image.new("RGB", (WIDTH, HEIGHT))
    canvas.paste(fundus, ((WIDTH - FOV) // 2, 0))
    canvas.save(path, quality=90)


def measure(photo: Path, out: Path, src: Path, model: str) -> dict[str, float]:
    """Peak RSS (GB) and wall time of one `earnet segment --model MODEL` run."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    command = ["/usr/bin/time", "-f", "%M %e", sys.executable, "-m", "earnet.cli.main", "segment", str(photo),
               "--model", model, "--out", str(out), "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    kilobytes, seconds = result.stderr.strip().splitlines()[-1].split()
    return {"peak_rss_gb": round(int(kilobytes) / 1e6, 2), "seconds": float(seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src",
                        help="earnet source tree to measure (e.g. another checkout's, for a before/after)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"bundle to run (default: {DEFAULT_MODEL})")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "big.jpg"
        make_photograph(photo)
        record = write_results(args.results, input=f"{WIDTH}x{HEIGHT} JPEG, FOV {FOV} px",
                               model=args.model, src=str(args.src),
                               command=f"earnet segment big.jpg --model {args.model} --out OUT --no-progress",
                               **measure(photo, Path(folder) / "out", args.src, args.model))
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
