"""Compare A/V models the way a user runs them, on validation images and unseen cameras.

For each A/V model (an ``av/model.safetensors`` of an ``earnet fit rite`` run, or a
bundle with an A/V model) a temporary bundle ``<base> + A/V model`` is built and run
through :class:`earnet.av.ArteryVeinSegmenter` (the bundle's EAR-Net vessel mask, FOV
derived from the photograph, the resolution rule), with each A/V clean-up (graph, vote, none):

- RITE **validation** images (carved from RITE's training split; ids from the model's
  metadata): the pooled A/V metrics of ``earnet evaluate rite``. Test images are never
  touched here: candidates are chosen on these numbers.
- photographs of cameras the model never saw (CHASE_DB1, STARE): no A/V labels, so the
  share of vessel pixels labelled artery (RITE's reference: ~45 %) catches gross failures.

Results go to ``benchmarks/results/av_check.json`` (one record per model and TTA mode, updated in place).

    python benchmarks/av_check.py RUN/av/model.safetensors drive_av --root ../shared/data
    python benchmarks/av_check.py drive_av --tta flip --root ../shared/data   # flips for vessels and A/V
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

from earnet.av import ArteryVeinSegmenter
from earnet.av_bundle import add_av_to_bundle, load_av_model
from earnet.av_evaluate import evaluate_av
from earnet.av_graph import CLEANUPS, DEFAULT_CLEANUP
from earnet.av_metrics import artery_share, label_counts
from earnet.bundle import resolve
from earnet.data.registry import get_dataset
from earnet.io import read_rgb
from earnet.model_file import read_metadata
from earnet.types import Sample

RESULTS = Path(__file__).parent / "results" / "av_check.json"
UNSEEN = ("CHASEDB1/Image_01L.jpg", "CHASEDB1/Image_05R.jpg", "CHASEDB1/Image_11L.jpg", "CHASEDB1/Image_13R.jpg",
          "STARE/stare-images/im0001.ppm.gz", "STARE/stare-images/im0044.ppm.gz",
          "STARE/stare-images/im0082.ppm.gz", "STARE/stare-images/im0255.ppm.gz")
"""The unseen-camera photographs of the first check (BENCHMARKS.md), kept for comparison."""


class Subset:
    """The samples of a dataset with these ids (what :func:`evaluate_av` iterates)."""

    def __init__(self, dataset: object, ids: list[str]) -> None:
        self.name, self.split = dataset.name, dataset.split  # type: ignore[attr-defined]
        wanted = set(ids)
        self.samples = [s for s in dataset if s.id in wanted]  # type: ignore[attr-defined]
        if len(self.samples) != len(wanted):
            raise SystemExit(f"validation ids {sorted(wanted)} not all found")

    def __iter__(self):
        return iter(self.samples)


def as_bundle(model: str, base: str, folder: Path) -> tuple[Path, str]:
    """A bundle path for ``model`` and the vessel bundle it uses: itself if it is a bundle,
    else ``base`` + this A/V model."""
    path = Path(model)
    if not path.is_file() or "av" in read_metadata(path, "model"):
        return resolve(model), str(model)
    av_model, meta = load_av_model(path)
    base = meta.get("vessel_model") or base  # a model with a vessel input runs on the bundle it learned from
    out = folder / f"candidate{len(list(folder.iterdir()))}.safetensors"
    add_av_to_bundle(resolve(base), av_model, meta, out)
    return out, base


def unseen_shares(segmenter: ArteryVeinSegmenter, root: str) -> dict[str, float]:
    """Share of vessel pixels labelled artery (crossings count half) on the unseen photographs."""
    shares = {}
    for name in UNSEEN:
        classes = segmenter.segment(read_rgb(Path(root) / name)).classes
        shares[name.split("/")[-1].split(".")[0]] = round(artery_share(label_counts(classes)), 3)
    return shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="A/V model files or bundles (names or paths)")
    parser.add_argument("--root", required=True, help="folder holding RITE/, DRIVE/, CHASEDB1/, STARE/")
    parser.add_argument("--base", default="general",
                        help="vessel bundle a bare A/V model is attached to (default: general, segment's default)")
    parser.add_argument("--no-unseen", action="store_true", help="skip the CHASE_DB1/STARE photographs")
    parser.add_argument("--tta", choices=("none", "flip"), default=None,
                        help="test-time augmentation (default: the bundle's; flip also averages the A/V maps)")
    args = parser.parse_args()
    train = get_dataset("rite", args.root, "train")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            bundle, vessels = as_bundle(model, args.base, Path(tmp))
            record: dict[str, object] = {"model": model, "vessel_bundle": vessels}
            if args.tta is not None:
                record["tta"] = args.tta
            for cleanup in CLEANUPS:
                segmenter = ArteryVeinSegmenter(bundle, cleanup=cleanup, tta=args.tta)
                val = Subset(train, segmenter.av_metadata["val_ids"])

                def predict(sample: Sample, segmenter: ArteryVeinSegmenter = segmenter) -> tuple:
                    result = segmenter.segment(sample.image)
                    return result.artery, result.vein, result.classes

                pooled = evaluate_av(val, predict).pooled  # type: ignore[arg-type]
                record[f"validation_{cleanup}"] = {k: round(float(v), 4) for k, v in pooled.items()}
                if cleanup == DEFAULT_CLEANUP and not args.no_unseen:
                    record["artery_share_unseen"] = unseen_shares(segmenter, args.root)
            records.append(record)
            print(json.dumps(record, indent=1), flush=True)
    # results of earlier invocations for other models (or TTA modes) are kept (one record per model and mode)
    earlier = json.loads(RESULTS.read_text())["results"] if RESULTS.exists() else []
    checked = {(r["model"], r.get("tta")) for r in records}
    for record in records:
        record["date"] = datetime.date.today().isoformat()
    merged = [r for r in earlier if (r["model"], r.get("tta")) not in checked] + records
    RESULTS.write_text(json.dumps({"root": args.root, "results": merged}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
