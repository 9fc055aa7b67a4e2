"""PNG writing: earnet's strip encoder (earnet/png.py) against Pillow, on one DRIVE photograph's maps.

Segments DRIVE 01_test with the default bundle, then encodes its three maps (16-bit
probability, mask, overlay) with each encoder at zlib level 1: best of ``--repeat``
wall times and the encoded sizes. Results go to benchmarks/results/png.json.

    python benchmarks/bench_png.py --drive ../shared/data/DRIVE [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from results_file import write_results

from earnet.io import png_bytes, probability_to_uint16, read_rgb
from earnet.segment import load_segmenter
from earnet.viz import overlay

RESULTS = Path(__file__).parent / "results" / "png.json"


def pillow_bytes(array: np.ndarray) -> bytes:
    """What earnet wrote before the strip encoder (Pillow, adaptive filters, level 1)."""
    data = array.astype(np.uint8) * 255 if array.dtype == bool else array
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def best(encode, array: np.ndarray, repeat: int) -> tuple[float, int]:  # noqa: ANN001
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = len(encode(array))
        times.append(time.perf_counter() - start)
    return min(times), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drive", type=Path, required=True, help="DRIVE root")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    image = read_rgb(args.drive / "test" / "images" / "01_test.tif")
    result = load_segmenter("drive").segment(image)
    maps = {"prob": probability_to_uint16(result.probability), "mask": result.mask,
            "overlay": overlay(image, result.mask)}
    rows = {}
    for name, array in maps.items():
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(array)))),
                              np.asarray(Image.open(io.BytesIO(pillow_bytes(array)))))
        (t_strips, s_strips), (t_pillow, s_pillow) = best(png_bytes, array, args.repeat), \
            best(pillow_bytes, array, args.repeat)
        rows[name] = {"strips_s": round(t_strips, 4), "strips_bytes": s_strips,
                      "pillow_s": round(t_pillow, 4), "pillow_bytes": s_pillow}
    record = write_results(args.results, input="DRIVE 01_test (565x584), default bundle's maps", repeat=args.repeat,
                           maps=rows)
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
