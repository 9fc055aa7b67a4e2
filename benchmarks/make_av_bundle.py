"""Ship a RITE A/V run as a bundle: a vessel bundle plus the run's A/V model.

The A/V model's epoch was chosen on validation images carved from RITE's training
split. The test metrics stored in the bundle (shown by `earnet models`) are measured
the way a user gets them: `earnet segment --av` on the 20 RITE/DRIVE test photographs
(FOV derived from the photograph, the resolution rule, 16-bit probability files, the
vessel mask of the bundle's EAR-Net segmenter), scored with `earnet evaluate rite`'s
metrics. The run's own numbers (A/V model's vessel channel at 0.5, official FOV) are
kept as `run_test_metrics`.

    python benchmarks/make_av_bundle.py runs/rite general drive_av --root ../shared/data

An A/V model with a vessel input (``av_cascade``) learned on one vessel model's
probability (``vessel_model`` in its metadata); it is refused on another base.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from earnet.av import ArteryVeinSegmenter
from earnet.av_bundle import add_av_to_bundle, load_av_model
from earnet.av_evaluate import evaluate_av
from earnet.av_graph import CLEANUPS, DEFAULT_CLEANUP
from earnet.bundle import WEIGHTS_DIR, resolve
from earnet.data.registry import get_dataset
from earnet.io import probability_to_uint16
from earnet.models.registry import count_parameters
from earnet.types import Sample


def as_written(probability: np.ndarray) -> np.ndarray:
    """A probability map as read back from its 16-bit PNG."""
    return (probability_to_uint16(probability).astype(np.float64) / 65535).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("base", help="vessel bundle to extend (e.g. drive)")
    parser.add_argument("name", help="name of the new bundle (e.g. drive_av)")
    parser.add_argument("--root", required=True, help="folder holding RITE/ and DRIVE/")
    args = parser.parse_args()
    model, meta = load_av_model(args.run / "av" / "model.safetensors")
    if meta.get("vessel_model") and meta["vessel_model"] != args.base:
        raise SystemExit(f"the A/V model learned on the vessel probability of {meta['vessel_model']!r}; "
                         f"build it on that bundle, not {args.base!r}")
    run_metrics = json.loads((args.run / "test" / "av" / "metrics.json").read_text())["pooled"]
    av_meta = {"backbone": meta["backbone"], "dataset": "rite", "fov_diameter": meta["fov_diameter"],
               "selected_by": "best validation av_score (mean of A/V accuracy and artery/vein F1)",
               "val_av_score": meta["val_av_score"], "val_ids": meta["val_ids"],
               "train_seconds": meta["train_seconds"], "parameters": count_parameters(model),
               "vessel_model": meta.get("vessel_model"),
               "run_test_metrics": run_metrics}
    out = WEIGHTS_DIR / f"{args.name}.safetensors"
    add_av_to_bundle(resolve(args.base), model, av_meta, out)

    seconds: list[float] = []

    def predictor(cleanup: str) -> Callable[[Sample], tuple[np.ndarray, np.ndarray, np.ndarray]]:
        segmenter = ArteryVeinSegmenter(out, cleanup=cleanup)

        def predict(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            result = segmenter.segment(sample.image)
            if cleanup == DEFAULT_CLEANUP:
                seconds.append(result.seconds)
            return as_written(result.artery), as_written(result.vein), result.classes

        return predict

    start = time.perf_counter()
    test = get_dataset("rite", args.root, "test")
    by_cleanup = {cleanup: {k: float(v) for k, v in evaluate_av(test, predictor(cleanup)).pooled.items()}
                  for cleanup in CLEANUPS}
    av_meta["test_metrics"] = by_cleanup[DEFAULT_CLEANUP]
    av_meta["test_metrics_by_cleanup"] = by_cleanup
    av_meta["test_protocol"] = (f"earnet segment --av (--av-cleanup {DEFAULT_CLEANUP}) on RITE's 20 test photographs "
                                "(FOV derived, resolution rule, 16-bit maps, the bundle's EAR-Net vessel mask), "
                                "scored with earnet evaluate rite (A/V on reference artery/vein pixels inside "
                                "DRIVE's FOV masks), pooled; test_metrics_by_cleanup: the same with each clean-up")
    add_av_to_bundle(out, model, av_meta, out)
    print(f"{args.name}: {out} ({out.stat().st_size / 1e6:.2f} MB), evaluated in {time.perf_counter() - start:.0f} s")
    for cleanup, metrics in by_cleanup.items():
        print(f"  test (earnet segment --av --av-cleanup {cleanup} + evaluate rite): {metrics}")
    print(f"  test (run: own vessel map): {run_metrics}")
    print(f"  A/V step per image: median {np.median(seconds):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
