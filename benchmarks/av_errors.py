"""Where an A/V model goes wrong: accuracy by vessel calibre on RITE's validation images.

Pixels the reference labels artery or vein (inside the FOV) are binned by the local
half-width of the reference vessel (largest distance to background within 7x7 px), and
each bin's accuracy of ``p_artery >= p_vein`` is reported, per pixel (no segment vote).
"oracle_component_vote" is the accuracy if every connected reference artery (vein)
took the majority of its pixels' decisions: the ceiling of a perfect topological vote.
Validation ids come from the A/V model's metadata; test images are never read.

    python benchmarks/av_errors.py drive_av --root ../shared/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from results_file import write_results
from scipy import ndimage

from earnet.av import ArteryVeinSegmenter
from earnet.data.registry import get_dataset
from earnet.data.rite import ARTERY, VEIN, vessel_half_width

BINS = ((0.0, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 99.0))
RESULTS = Path(__file__).parent / "results" / "av_errors.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="bundles with an A/V model")
    parser.add_argument("--root", required=True, help="folder holding RITE/ and DRIVE/")
    args = parser.parse_args()
    train = get_dataset("rite", args.root, "train")
    records = []
    for model in args.models:
        segmenter = ArteryVeinSegmenter(model, cleanup="none")
        val_ids = set(segmenter.av_metadata["val_ids"])
        counts = np.zeros((len(BINS), 2))
        oracle = np.zeros(2)
        for sample in train:
            if sample.id not in val_ids:
                continue
            result = segmenter.segment(sample.image)
            reference = sample.av
            scored = ((reference == ARTERY) | (reference == VEIN)) & sample.fov
            right = (result.artery >= result.vein) == (reference == ARTERY)
            half_width = vessel_half_width(reference)
            for k, (low, high) in enumerate(BINS):
                chosen = scored & (half_width >= low) & (half_width < high)
                counts[k] += (right[chosen].sum(), chosen.sum())
            for kind in (ARTERY, VEIN):
                labels, count = ndimage.label((reference == kind) & sample.fov)
                index = np.arange(1, count + 1)
                votes = ndimage.sum(right.astype(float), labels, index)
                sizes = ndimage.sum(np.ones(right.shape), labels, index)
                oracle += (sizes[votes >= sizes / 2].sum(), sizes.sum())
        record = {"model": model, "val_ids": sorted(val_ids), "acc": round(counts[:, 0].sum() / counts[:, 1].sum(), 4),
                  "by_half_width": [{"half_width_px": f"{low:g}-{high:g}", "acc": round(c / n, 4),
                                     "share": round(n / counts[:, 1].sum(), 4)}
                                    for (low, high), (c, n) in zip(BINS, counts)],
                  "oracle_component_vote": round(oracle[0] / oracle[1], 4)}
        print(record, flush=True)
        records.append(record)
    write_results(RESULTS, root=args.root, results=records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
