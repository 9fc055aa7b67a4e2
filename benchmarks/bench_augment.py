"""Time of the training augmentation per crop: torchvision's RandomAffine + CenterCrop (before)
against earnet's RandomRotateScaleCrop (now), on DRIVE crops, one thread.

Each pipeline augments the same windows cut from DRIVE training images (image, label and
FOV maps, as training does); median over repeats, after a warm-up.

    python benchmarks/bench_augment.py --root ../shared/data/DRIVE --results benchmarks/results/augment.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from results_file import write_results
from torchvision.transforms import v2

from earnet.data import transforms as T
from earnet.data.registry import get_dataset
from earnet.engine.datamodule import _cut, to_image_tensors


def before(crop: int, camera: bool) -> v2.Compose:
    """The geometric part as it was: flips and RandomAffine over the whole window, then the crop."""
    scale = T.CAMERA_SCALE_RANGE if camera else T.SCALE_RANGE
    return v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(), v2.RandomAffine(degrees=180, scale=scale),
                       v2.CenterCrop(crop)])


def now(crop: int, camera: bool) -> v2.Compose:
    return v2.Compose(T.training_augmentation(crop, True, camera).transforms[:3])


def per_crop_ms(transform: v2.Compose, windows: list, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for image, maps in windows:
            transform(T.wrap_sample(image, maps))
        times.append((time.perf_counter() - start) / len(windows) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("../shared/data/DRIVE"))
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    items = [to_image_tensors(s) for s in list(get_dataset("drive", root=args.root, split="train"))[:4]]
    records = []
    for camera in (False, True):
        size = T.window_size(args.crop, True, camera)
        windows = [_cut(item, 292, 282 + 20 * k, size) for k, item in enumerate(items) for _ in range(8)]
        for name, build in (("before", before), ("now", now)):
            transform = build(args.crop, camera)
            per_crop_ms(transform, windows[:4], 1)  # warm-up
            ms = per_crop_ms(transform, windows, args.repeats)
            records.append({"camera_augment": camera, "geometric": name, "window": size, "ms_per_crop": round(ms, 2)})
            print(records[-1], flush=True)
        full = T.training_augmentation(args.crop, True, camera)
        records.append({"camera_augment": camera, "geometric": "now", "pipeline": "whole augmentation",
                        "ms_per_crop": round(per_crop_ms(full, windows, args.repeats), 2)})
        print(records[-1], flush=True)
    write_results(args.results, crop=args.crop, records=records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
