"""Does matching a photograph's colours to the training photographs help on a camera never seen?

Two test-time colour corrections, applied to the photograph inside its FOV before
`earnet segment` runs: per-channel mean/std matching, and per-channel histogram
matching, each to the FOV pixels of the datasets the model was trained on. Measured
with the leave-one-dataset-out models (trained on the two other datasets) on the
held-out dataset's **training** split, which none of them saw: a clean validation set,
so test labels are not used to decide. Pooled F1 / AUC-ROC inside the official FOV at
the model's own threshold.

    python benchmarks/colour_match.py --model drive=runs/lodo-drive.safetensors \\
        --model chase_db1=runs/lodo-chase_db1.safetensors --model stare=runs/lodo-stare.safetensors \\
        --results benchmarks/results/colour_match.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
from results_file import read_records, upsert, write_results

from earnet.data.registry import DATASETS, get_dataset
from earnet.metrics import MetricAccumulator
from earnet.segment import load_segmenter
from earnet.types import Sample

LEVELS = np.linspace(0, 1, 257)


def samples(name: str, root: Path, split: str) -> list[Sample]:
    return list(get_dataset(name, root=root / DATASETS[name].folder_name, split=split))


def reference(names: list[str], root: Path) -> dict[str, np.ndarray]:
    """Per-channel mean, std and quantiles of the FOV pixels of these datasets' training photographs."""
    pixels = np.concatenate([s.image[s.fov > 0].astype(np.float64) for n in names for s in samples(n, root, "train")])
    return {"mean": pixels.mean(0), "std": pixels.std(0), "quantiles": np.quantile(pixels, LEVELS, axis=0)}


def match_mean_std(image: np.ndarray, fov: np.ndarray, ref: dict[str, np.ndarray]) -> np.ndarray:
    own = image[fov > 0].astype(np.float64)
    out = (image - own.mean(0)) / own.std(0).clip(1) * ref["std"] + ref["mean"]
    return np.clip(out, 0, 255).round().astype(np.uint8)


def match_histogram(image: np.ndarray, fov: np.ndarray, ref: dict[str, np.ndarray]) -> np.ndarray:
    own = image[fov > 0].astype(np.float64)
    out = np.empty(image.shape, dtype=np.float64)
    for channel in range(3):
        rank = np.interp(image[..., channel], np.quantile(own[:, channel], LEVELS), LEVELS)
        out[..., channel] = np.interp(rank, LEVELS, ref["quantiles"][:, channel])
    return np.clip(out, 0, 255).round().astype(np.uint8)


CORRECTIONS = {"none": None, "mean_std": match_mean_std, "histogram": match_histogram}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="HELD_OUT=BUNDLE",
                        help="a model trained on every dataset but HELD_OUT (drive, chase_db1, stare)")
    parser.add_argument("--root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    names = ("drive", "chase_db1", "stare")
    records = read_records(args.results)
    for item in args.model:
        held, _, bundle = item.partition("=")
        ref = reference([n for n in names if n != held], args.root)
        segmenter = load_segmenter(bundle)
        validation = samples(held, args.root, "train")
        for correction, apply in CORRECTIONS.items():
            accumulator = MetricAccumulator(segmenter.threshold)
            for sample in validation:
                image = sample.image if apply is None else apply(sample.image, sample.fov, ref)
                probability = segmenter.segment(image, fov=sample.fov, attention=False).probability
                accumulator.add(sample.id, probability, sample.label, sample.fov)
            pooled = accumulator.pooled()
            records = upsert(records, {"held_out": held, "bundle": bundle, "correction": correction,
                                       "images": len(validation), "f1": pooled["f1"], "auc_roc": pooled["auc_roc"]},
                             "held_out", "correction")
            print(f"held out {held:<10} {correction:<9} F1 {pooled['f1']:.4f} AUC {pooled['auc_roc']:.4f}", flush=True)
    write_results(args.results, protocol="leave-one-dataset-out models on the held-out dataset's training split "
                  "(unseen by them); colour correction inside the FOV before segmenting; pooled F1/AUC inside the "
                  "official FOV at the model's threshold", records=records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
