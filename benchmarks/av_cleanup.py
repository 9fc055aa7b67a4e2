"""Compare the A/V clean-ups (none, segment vote, graph) on RITE's training images.

The clean-ups have no trained weights, only a few parameters, so they are compared and
their parameters chosen on all 20 of RITE's *training* photographs (the A/V model's 4
validation images are reported apart); test images are never read here. Each photograph
is run once through ``earnet segment --av``'s pipeline with ``--av-cleanup none``; every
clean-up then works on the same artery/vein maps and vessel mask. Pooled accuracy over
the reference's artery and vein pixels in the FOV (``earnet evaluate rite``'s ``acc``),
the per-image change against the vote, and, with ``--grid``, the graph's sensitivity to
its two parameters. Results go to ``benchmarks/results/av_cleanup.json``.

    python benchmarks/av_cleanup.py drive_av --root ../shared/data [--grid]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from av_check import as_bundle

from earnet import av_topology
from earnet.av import ArteryVeinSegmenter
from earnet.data.registry import get_dataset
from earnet.data.rite import ARTERY, VEIN

RESULTS = Path(__file__).parent / "results" / "av_cleanup.json"


def correct(artery: np.ndarray, vein: np.ndarray, reference: np.ndarray, fov: np.ndarray) -> tuple[int, int]:
    """Correct and scored pixels: reference artery/vein pixels in the FOV, artery where ``artery >= vein``."""
    known = np.isin(reference, (ARTERY, VEIN)) & fov
    return int(((artery >= vein)[known] == (reference[known] == ARTERY)).sum()), int(known.sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="an A/V bundle or an A/V model file (attached to its vessel bundle)")
    parser.add_argument("--root", required=True, help="folder holding RITE/ and DRIVE/")
    parser.add_argument("--grid", action="store_true", help="also the graph's parameters around the defaults")
    args = parser.parse_args()
    cleanups = {"none": None, "vote": av_topology.segment_vote, "graph": av_topology.graph_vote}
    if args.grid:
        for weak in (0.2, 0.25, 0.3, 0.4, 0.5):
            for short in (8, 15, 25):
                cleanups[f"graph weak={weak} short={short}"] = partial(av_topology.graph_vote, weak=weak, short=short)
    totals = {name: {"train": [0, 0], "validation": [0, 0]} for name in cleanups}
    per_image: dict[str, dict[str, float]] = {}
    seconds: dict[str, list[float]] = {name: [] for name in cleanups}
    with tempfile.TemporaryDirectory() as tmp:
        bundle, _ = as_bundle(args.model, "general", Path(tmp))
        segmenter = ArteryVeinSegmenter(bundle, cleanup="none")
        validation = set(segmenter.av_metadata["val_ids"])
        for sample in get_dataset("rite", args.root, "train"):
            result = segmenter.segment(sample.image)
            part = "validation" if sample.id in validation else "train"
            per_image[sample.id] = {}
            for name, clean in cleanups.items():
                start = time.perf_counter()
                artery, vein = (result.artery, result.vein) if clean is None else clean(
                    result.artery, result.vein, result.vessels.mask)
                seconds[name].append(time.perf_counter() - start)
                right, scored = correct(artery, vein, sample.av, sample.fov)
                totals[name][part][0] += right
                totals[name][part][1] += scored
                per_image[sample.id][name] = right / max(scored, 1)
            print(sample.id, part, {k: round(v, 4) for k, v in per_image[sample.id].items()
                                    if k in ("none", "vote", "graph")}, flush=True)
    summary = {}
    for name, parts in totals.items():
        gains = [per_image[i][name] - per_image[i]["vote"] for i in per_image]
        summary[name] = {"acc_train16": round(parts["train"][0] / parts["train"][1], 4),
                         "acc_validation4": round(parts["validation"][0] / parts["validation"][1], 4),
                         "images_better_than_vote": sum(g > 0 for g in gains),
                         "images_worse_than_vote": sum(g < 0 for g in gains),
                         "worst_change_vs_vote": round(min(gains), 4),
                         "median_seconds": round(float(np.median(seconds[name])), 4)}
        print(f"{name:28s} {summary[name]}", flush=True)
    record = {"model": args.model, "date": datetime.date.today().isoformat(), "images": len(per_image),
              "protocol": "RITE training split (16 training + the A/V model's 4 validation images), "
                          "earnet segment --av maps with --av-cleanup none, then each clean-up; pooled "
                          "accuracy on reference artery/vein pixels in the FOV; seconds under whatever load ran",
              "summary": summary, "per_image": per_image}
    earlier = json.loads(RESULTS.read_text())["results"] if RESULTS.exists() else []
    merged = [r for r in earlier if r["model"] != args.model] + [record]
    RESULTS.write_text(json.dumps({"results": merged}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
