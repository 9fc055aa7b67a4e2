"""Photographs larger than the training resolution: downsample, or run larger?

A high-resolution camera is simulated by enlarging CHASE_DB1's and STARE's test
photographs with their labels and FOV masks (bicubic for the photograph; labels and
masks resampled as fractions and cut at 0.5). Each model then segments them with its
working FOV diameter set to a multiple of its training diameter: 1.0 is what
`earnet segment` does (the resolution rule: downsample to the training calibre); larger
multiples keep more of the photograph's detail but show the model vessels wider than it
was trained on, which only a model trained on a range of calibres (`camera_augment`'s
zoom 0.6-1.6) may tolerate. Scores are computed at the enlarged resolution, inside
the FOV, at the model's own threshold (pooled F1, AUC-ROC).

    python benchmarks/high_resolution.py --model all --model camera=runs/all-camera.safetensors \\
        --upsample 2 --diameters 1,1.5,2 --results benchmarks/results/high_resolution.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from results_file import labelled_model, read_records, upsert, write_results

from earnet.data.registry import DATASETS, get_dataset
from earnet.metrics import MetricAccumulator
from earnet.segment import load_segmenter


def enlarge(image: np.ndarray, label: np.ndarray, fov: np.ndarray,
            factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The photograph and its maps ``factor`` times larger (a simulated higher-resolution camera)."""
    height, width = label.shape
    size = (round(height * factor), round(width * factor))
    rgb = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    rgb = F.interpolate(rgb, size=size, mode="bicubic", align_corners=False).clamp(0, 255).round()
    maps = torch.from_numpy(np.stack([label, fov]).astype(np.float32))[None]
    maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[0] >= 0.5
    return rgb[0].permute(1, 2, 0).to(torch.uint8).numpy(), maps[0].numpy(), maps[1].numpy()


def score(model: str, dataset: str, root: Path, upsample: float, diameter_factor: float) -> dict[str, object]:
    """Pooled scores of ``model`` on ``dataset``'s enlarged test photographs at one working diameter."""
    segmenter = load_segmenter(model)
    trained = segmenter.training_fov_diameter
    segmenter.training_fov_diameter = trained * diameter_factor
    accumulator = MetricAccumulator(segmenter.threshold)
    seconds = []
    for sample in get_dataset(dataset, root=root / DATASETS[dataset].folder_name, split="test"):
        image, label, fov = enlarge(sample.image, sample.label, sample.fov, upsample)
        start = time.perf_counter()
        probability = segmenter.segment(image, fov=fov, attention=False).probability
        seconds.append(time.perf_counter() - start)
        accumulator.add(sample.id, probability, label, fov)
    pooled = accumulator.pooled()
    return {"f1": pooled["f1"], "auc_roc": pooled["auc_roc"], "threshold": segmenter.threshold,
            "working_fov_diameter": trained * diameter_factor, "seconds_per_image": float(np.median(seconds))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=BUNDLE|NAME")
    parser.add_argument("--datasets", default="chase_db1,stare")
    parser.add_argument("--root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--upsample", type=float, default=2.0, help="how much larger the simulated camera's images are")
    parser.add_argument("--diameters", default="1,1.5,2",
                        help="working FOV diameters, as multiples of the model's training diameter")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    records = read_records(args.results)
    for item in args.model:
        label, model = labelled_model(item)
        for dataset in args.datasets.split(","):
            for factor in (float(f) for f in args.diameters.split(",")):
                record = score(model, dataset, args.root, args.upsample, factor)
                records = upsert(records, {"model": label, "bundle": model, "dataset": dataset,
                                           "upsample": args.upsample, "diameter_factor": factor, **record},
                                 "model", "dataset", "upsample", "diameter_factor")
                print(f"{label:>16} {dataset:<10} x{args.upsample:g} photo, working diameter x{factor:g}: "
                      f"F1 {record['f1']:.4f} AUC {record['auc_roc']:.4f} {record['seconds_per_image']:.2f} s/image",
                      flush=True)
    write_results(args.results, protocol="test split enlarged (photograph bicubic; labels and FOV as fractions cut at "
                  "0.5); segmented at working FOV diameter = factor x the model's training diameter; pooled F1/AUC "
                  "inside the FOV at the enlarged size, the model's own threshold", records=records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
