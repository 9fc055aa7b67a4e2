"""Photographs cropped inside the aperture: does `earnet segment` still find the right scale?

Many exports crop a fundus photograph to a rectangle that cuts the disc at the sides, so the
field of view's horizontal extent is the crop's width, not the aperture's diameter. earnet
then fits the circle through the visible rim (``earnet.data.fov.fov_diameter``). This crops
the centre of each DRIVE test photograph to several sizes, segments crop and whole photograph
the way ``earnet segment`` does, and reports, inside the crop's FOV: F1 of the crop's mask
against the label, F1 of the whole photograph's mask over the same pixels (the target), and
the diameter earnet estimated from the crop. Nothing is chosen with these labels: the fit is
geometry, and this only checks it.

    python benchmarks/cropped_fov.py --model general --results benchmarks/results/cropped_fov.json
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from results_file import write_results

from earnet.data.fov import derive_fov, fov_diameter
from earnet.data.registry import get_dataset
from earnet.metrics import confusion_counts, scores_from_counts
from earnet.segment import load_segmenter

CROPS = {"whole": None, "480x480": (480, 480), "420x420": (420, 420), "360x520": (360, 520),
         "340x340": (340, 340)}  # the last lies wholly inside the aperture: no rim in view


def f1(predicted: np.ndarray, label: np.ndarray, inside: np.ndarray) -> float:
    return scores_from_counts(confusion_counts(predicted, label, inside))["f1"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="general")
    parser.add_argument("--root", type=Path, default=Path("../shared/data/DRIVE"))
    parser.add_argument("--count", type=int, default=20, help="first N DRIVE test photographs")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    segmenter = load_segmenter(args.model)
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in CROPS}
    for sample in list(get_dataset("drive", args.root, "test"))[:args.count]:
        whole = segmenter.segment(sample.image, attention=False).mask
        height, width = sample.label.shape
        for name, size in CROPS.items():
            crop_height, crop_width = size or (height, width)
            top, left = (height - crop_height) // 2, (width - crop_width) // 2
            window = np.s_[top:top + crop_height, left:left + crop_width]
            crop = sample.image[window]
            fov = derive_fov(crop)
            mask = segmenter.segment(crop, fov=fov, attention=False).mask
            rows[name].append((f1(mask, sample.label[window], fov), f1(whole[window], sample.label[window], fov),
                               fov_diameter(fov)))
        print(sample.id, {name: round(values[-1][0], 4) for name, values in rows.items()}, flush=True)
    table = {name: {"crop_f1": float(np.mean([r[0] for r in values])),
                    "whole_photograph_f1_same_pixels": float(np.mean([r[1] for r in values])),
                    "estimated_diameter": float(np.mean([r[2] for r in values]))} for name, values in rows.items()}
    for name, row in table.items():
        print(f"{name:>8}  crop F1 {row['crop_f1']:.4f}  whole photograph, same pixels "
              f"{row['whole_photograph_f1_same_pixels']:.4f}  diameter {row['estimated_diameter']:.0f}")
    write_results(args.results, model=args.model, images=args.count, crops=table,
                  protocol="centre crops of DRIVE test photographs; derived FOV of the crop; per-image F1 "
                           "inside it, averaged; mask at the model's threshold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
