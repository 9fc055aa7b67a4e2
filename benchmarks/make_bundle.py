"""Bundle a benchmark run's best variant as a shipped model (src/earnet/weights/NAME.safetensors).

The variant is chosen by its best validation F1 (validation images carved from the
training split), never by test metrics. The bundle records one set of test metrics
(shown by `earnet models`), measured the way a user gets them: the bundle's segmenter
(the one inference front of `earnet segment`: FOV derived, the resolution rule) writes
the test photographs' maps, which are read back (16-bit) and scored at the bundle's
threshold inside the dataset's FOV masks, as `earnet evaluate` does.

    python benchmarks/make_bundle.py runs/bench-drive drive
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from earnet.bundle import WEIGHTS_DIR, save_bundle
from earnet.engine.run import Run, dataset_split
from earnet.export import bundle_from_run
from earnet.inference.loader import from_bundle
from earnet.io import read_probability
from earnet.metrics import MetricAccumulator
from earnet.output_maps import write_maps
from earnet.segment import load_segmenter

STORED = ("f1", "auc_roc", "acc", "se", "sp", "mcc")


def best_stage(run: Run) -> tuple[str, float]:
    """The finished stage with the highest validation F1 (ties: the simpler one)."""
    scores = {}
    for name in run.trained_stages():
        score = run.stage_info(name).get("best_val_f1")
        if score is not None:
            scores[name] = score
    if not scores:
        raise SystemExit(f"{run.path}: no finished stage")
    name = max(scores, key=lambda k: (scores[k], k == "stage1"))
    return name, scores[name]


def segment_metrics(bundle: Path, run: Run) -> dict[str, dict[str, float]]:
    """Pooled test metrics of ``earnet segment`` + ``earnet evaluate`` with this bundle: over the
    whole test split (key ``""``) and, for a combined dataset, over each source's test images."""
    segmenter = load_segmenter(bundle)
    dataset = run.config().dataset
    sources = dataset.split("+") if "+" in dataset else []
    accumulators = {key: MetricAccumulator(segmenter.threshold) for key in ["", *sources]}
    with tempfile.TemporaryDirectory() as maps:
        for sample in dataset_split(run.config(), "test"):
            written = write_maps(Path(maps) / sample.id, sample.image, segmenter.segment(sample.image))
            stored = read_probability(written[0])  # <stem>_prob.png, as earnet evaluate reads it
            for key, accumulator in accumulators.items():
                if sample.id.startswith(f"{key}_") or not key:
                    accumulator.add(sample.id, stored, sample.label, sample.fov)
    return {key: {k: float(v) for k, v in accumulator.pooled().items() if k in STORED}
            for key, accumulator in accumulators.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    parser.add_argument("--stage", help="bundle this stage instead of the best on validation")
    args = parser.parse_args()
    run = Run(args.run)
    stage, score = (args.stage, float("nan")) if args.stage else best_stage(run)
    out = bundle_from_run(args.run, stage, WEIGHTS_DIR / f"{args.name}.safetensors",
                          {"selected_by": "best validation F1" if not args.stage else "given", "val_f1": score})
    trained = from_bundle(out)
    meta = {k: v for k, v in trained.metadata.items() if k not in ("format", "earnet_version", "run_test_metrics")}
    measured = segment_metrics(out, run)
    meta["test_metrics"] = measured.pop("")
    if measured:
        meta["test_metrics_by_dataset"] = measured
        for source, metrics in measured.items():
            print(f"  test on {source}: {metrics}")
    meta["test_protocol"] = ("earnet segment on the test split (FOV derived, resolution rule, 16-bit maps), scored "
                             "inside the dataset's FOV masks at the bundle threshold, pooled over pixels")
    save_bundle(out, trained.stage1, trained.stage2, meta)
    print(f"{args.name}: {stage} (validation F1 {score:.4f}) -> {out} ({out.stat().st_size / 1e6:.2f} MB)")
    print(f"  test (earnet segment + evaluate): {meta['test_metrics']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
