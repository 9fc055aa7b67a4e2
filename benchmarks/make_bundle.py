"""Bundle a benchmark run's best variant as a shipped model (src/earnet/weights/NAME.safetensors).

The variant is chosen by its best validation F1 (validation images carved from the
training split), never by test metrics; the test metrics are stored in the bundle
for `earnet models` to show.

    python benchmarks/make_bundle.py runs/bench-drive drive
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from earnet.bundle import WEIGHTS_DIR
from earnet.engine.pipeline import trained_stages
from earnet.engine.run import Run
from earnet.export import bundle_from_run


def best_stage(run: Run) -> tuple[str, float]:
    """The finished stage with the highest validation F1 (ties: the simpler one)."""
    scores = {}
    for name in trained_stages(run):
        info = run.path / name / "stage.json"
        if info.is_file():
            scores[name] = json.loads(info.read_text())["best_val_f1"]
    if not scores:
        raise SystemExit(f"{run.path}: no finished stage")
    name = max(scores, key=lambda k: (scores[k], k == "stage1"))
    return name, scores[name]


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
    print(f"{args.name}: {stage} (validation F1 {score:.4f}) -> {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
