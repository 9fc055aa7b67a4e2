"""Bundle a benchmark run's best variant as a shipped model (src/earnet/weights/NAME.safetensors).

The variant is chosen by its best validation F1 (validation images carved from the
training split), never by test metrics. The bundle records one set of test metrics
(shown by `earnet models`), measured the way a user gets them: the bundle's segmenter
(the one inference front of `earnet segment`: FOV derived, the resolution rule) writes
the test photographs' maps, which are read back (16-bit) and scored at the bundle's
threshold inside the dataset's FOV masks, as `earnet evaluate` does.

    python benchmarks/make_bundle.py runs/bench-drive drive

``--stage1-of BUNDLE --results RUN.json`` instead ships a two-stage bundle's stage 1 alone
(half the time per photograph), at the stage-1 threshold its run chose on validation
(read from the run's results file written by train_benchmark.py):

    python benchmarks/make_bundle.py --stage1-of all --results benchmarks/results/drive+chase_db1+stare.json general

``--tta flip`` makes flip averaging the bundle's default (``earnet segment`` runs it unless
told ``--tta none``): the threshold is chosen again with flips, on full-size maps of the run's
validation images (never test), and the test metrics are measured with flips:

    python benchmarks/make_bundle.py runs/finetune-general/chase_db1-s1-e30 chase_db1 --tta flip

``--bundle NAME`` keeps a shipped bundle's weights instead of exporting the run (whose folder then
only has to hold its ``config.yaml`` and ``split.json``): for changing a bundle's default TTA
after its run's checkpoints are gone:

    python benchmarks/make_bundle.py runs/general-split general --bundle general --tta flip
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from earnet.bundle import WEIGHTS_DIR, resolve, save_bundle
from earnet.config import TrainConfig, config_from_dict
from earnet.engine.run import Run, dataset_split
from earnet.exceptions import EarnetError
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


def segment_metrics(bundle: Path, config: TrainConfig) -> dict[str, dict[str, float]]:
    """Pooled test metrics of ``earnet segment`` + ``earnet evaluate`` with this bundle: over the
    whole test split (key ``""``) and, for a combined dataset, over each source's test images."""
    segmenter = load_segmenter(bundle)
    dataset = config.dataset
    sources = dataset.split("+") if "+" in dataset else []
    accumulators = {key: MetricAccumulator(segmenter.threshold) for key in ["", *sources]}
    with tempfile.TemporaryDirectory() as maps:
        for sample in dataset_split(config, "test"):
            written = write_maps(Path(maps) / sample.id, sample.image, segmenter.segment(sample.image))
            stored = read_probability(written[0])  # <stem>_prob.png, as earnet evaluate reads it
            for key, accumulator in accumulators.items():
                if sample.id.startswith(f"{key}_") or not key:
                    accumulator.add(sample.id, stored, sample.label, sample.fov)
    return {key: {k: float(v) for k, v in accumulator.pooled().items() if k in STORED}
            for key, accumulator in accumulators.items()}


def stage1_of(source: str, results: Path, out: Path) -> tuple[Path, TrainConfig, float]:
    """``source``'s stage 1 as its own bundle at ``out``, with the run's stage-1 threshold and
    validation F1 (from ``results``); returns the file, the run's config and that F1."""
    record = json.loads(results.read_text())
    stage1 = record["variants"]["stage1"]
    trained = from_bundle(resolve(source))
    dropped = ("format", "earnet_version", "run_test_metrics", "test_metrics", "test_metrics_by_dataset",
               "refinement", "attention_weight", "val_f1", "selected_by", "stage", "threshold")
    meta = {k: v for k, v in trained.metadata.items() if k not in dropped}
    meta.update(stage="stage1", threshold=float(stage1["threshold"]), val_f1=float(stage1["best_val_f1"]),
                selected_by=f"stage 1 of the `{source}` bundle's run (threshold chosen on its validation images)")
    save_bundle(out, trained.stage1, None, meta)
    return out, config_from_dict(record["config"], str(results)), float(stage1["best_val_f1"])


def threshold_with_tta(bundle: Path, run: Path, tta: str) -> tuple[float, float]:
    """The threshold (and the pooled F1 there) of ``bundle`` run with ``tta`` on ``run``'s
    validation images, full size, the way ``earnet segment`` runs it; chosen by the training
    rule (:func:`earnet.thresholds.best_f1_over`: per-dataset mean F1 for a multi-dataset run)."""
    from validation import rule_threshold  # benchmarks/, beside this script

    threshold, samples, maps = rule_threshold(load_segmenter(bundle, tta=tta), run)
    accumulator = MetricAccumulator(threshold)
    for s in samples:
        accumulator.add(s.id, maps[s.id], s.label, s.fov)
    return threshold, float(accumulator.pooled()["f1"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, nargs="?", help="the benchmark run folder (not with --stage1-of)")
    parser.add_argument("name")
    parser.add_argument("--stage", help="bundle this stage instead of the best on validation")
    parser.add_argument("--stage1-of", metavar="BUNDLE", help="ship this bundle's stage 1 alone")
    parser.add_argument("--bundle", metavar="NAME", help="keep this bundle's weights; RUN only supplies the "
                                                       "configuration and validation split")
    parser.add_argument("--results", type=Path, help="with --stage1-of: the run's results JSON (train_benchmark.py)")
    parser.add_argument("--tta", default="none", choices=("none", "flip"),
                        help="the bundle's default test-time augmentation (flip: threshold re-chosen with flips "
                             "on the run's validation images; needs the run)")
    parser.add_argument("--out", type=Path, help="write here instead of the package's weights/NAME.safetensors")
    args = parser.parse_args()
    target = args.out or WEIGHTS_DIR / f"{args.name}.safetensors"
    if args.stage1_of:
        if args.results is None:
            parser.error("--stage1-of needs --results")
        out, config, score = stage1_of(args.stage1_of, args.results, target)
        stage = "stage1"
    elif args.bundle:
        if args.run is None:
            parser.error("--bundle needs the run folder (its config.yaml and split.json)")
        config = Run(args.run).config()  # before anything is written: a bad run folder stops here
        kept = from_bundle(resolve(args.bundle))
        stage, score = str(kept.metadata.get("stage", "?")), float(kept.metadata.get("val_f1", float("nan")))
        meta = {k: v for k, v in kept.metadata.items() if k not in ("format", "earnet_version")}
        out = save_bundle(target, kept.stage1, kept.stage2, meta)
    else:
        run = Run(args.run)
        stage, score = (args.stage, float("nan")) if args.stage else best_stage(run)
        out = bundle_from_run(args.run, stage, target,
                              {"selected_by": "best validation F1" if not args.stage else "given", "val_f1": score})
        config = run.config()
    trained = from_bundle(out)
    meta = {k: v for k, v in trained.metadata.items() if k not in ("format", "earnet_version", "run_test_metrics")}
    if args.tta != "none":
        if args.run is None:
            parser.error("--tta needs the run (its validation images choose the threshold)")
        threshold, val_f1 = threshold_with_tta(out, args.run, args.tta)
        print(f"  with --tta {args.tta}: threshold {meta['threshold']:.4f} -> {threshold:.4f} "
              f"(validation F1 {val_f1:.4f}, full size)")
        meta.update(tta=args.tta, threshold=threshold, tta_val_f1=val_f1)
        save_bundle(out, trained.stage1, trained.stage2, meta)
    measured = segment_metrics(out, config)
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
    try:
        sys.exit(main())
    except EarnetError as error:  # bad input: one line, not a traceback
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
