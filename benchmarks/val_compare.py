"""Score several models on one run's validation images: the fair way to decide a replacement.

"Replace a bundled model only when the new one wins on validation" needs the old and the
new model scored on the same images, which neither trained on. This takes the validation
images of ``--run`` (its ``split.json``; training images held out, never test), optionally
only one source dataset's, and scores each model the way ``earnet segment`` runs it
(derived FOV, the resolution rule, each model at its own threshold): pooled F1 and AUC-ROC
inside the derived FOV. Test labels are never read.

    python benchmarks/val_compare.py --run runs/finetune-general/chase_db1-s0 \\
        --model chase_db1 --model all --model finetuned=runs/finetune-general/chase_db1-s0 \\
        --results benchmarks/results/val_compare_chase_db1.json

A model is a bundled name, a bundle file or a run folder (``NAME=PATH`` labels it). Say in
the write-up which of the models trained on these images: a model that did is favoured.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from results_file import labelled_model, write_results
from validation import score, validation_samples

from earnet.segment import load_segmenter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="run whose validation images are scored")
    parser.add_argument("--model", action="append", required=True, help="bundle name, file or run (NAME=PATH)")
    parser.add_argument("--source", help="only validation ids starting with this prefix (e.g. chase_db1_)")
    parser.add_argument("--tta", nargs="+", default=["none"], choices=("none", "flip", "ms"),
                        help="score each model under each of these test-time augmentations (default: none)")
    parser.add_argument("--results", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    samples = validation_samples(args.run, args.source)
    if not samples:
        raise SystemExit(f"{args.run / 'split.json'}: no validation images{' from ' + args.source if args.source else ''}")
    records = []
    for item in args.model:
        name, model = labelled_model(item)
        for tta in args.tta:
            label = name if args.tta == ["none"] else f"{name} tta={tta}"
            segmenter = load_segmenter(model, tta=tta)
            pooled, _ = score(segmenter, samples)
            records.append({"model": label, "source": str(model), "tta": tta, "threshold": segmenter.threshold,
                            "f1": pooled["f1"], "auc_roc": pooled["auc_roc"],
                            "best_f1": pooled["best_f1"], "best_threshold": pooled["best_threshold"]})
            print(f"{label:>24}  F1 {pooled['f1']:.4f}  AUC {pooled['auc_roc']:.4f}  (threshold {segmenter.threshold:.3f}; "
                  f"best on these images {pooled['best_f1']:.4f} at {pooled['best_threshold']:.3f})", flush=True)
    write_results(args.results, protocol="the run's validation images (split.json), derived FOV, the resolution "
                  "rule, each model at its own threshold (best_f1: at the best threshold for these images, "
                  "which favours no model); pooled F1/AUC-ROC inside the derived FOV; no test labels",
                  run=str(args.run), images=[s.id for s in samples], records=records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
