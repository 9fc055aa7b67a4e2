"""Prepare a fine-tuning run whose validation images its starting model never trained on.

A model pretrained on several datasets (e.g. the wide ``all`` run, ``runs/all-wide/s0``)
saw every training image except its own validation ones. Fine-tuning it on one dataset
with a fresh random validation split would choose the epoch and threshold on images the
start already learned. This writes ``OUT/split.json`` (which ``earnet train`` reuses)
with the pretraining run's validation images of that dataset as validation and the rest
of the dataset's training split for training. Then train into ``OUT``:

    python benchmarks/finetune_split.py --pretrained runs/all-wide/s0 --dataset chase_db1 \\
        --root ../shared/data/CHASEDB1 --out runs/finetune-general/chase_db1-s0
    earnet train --stage 1 --dataset chase_db1 --root ../shared/data/CHASEDB1 \\
        --out runs/finetune-general/chase_db1-s0 --backbone wnet_wide --init all --fov-diameter 540 \\
        --val-count 3 --epochs 20 --lr 0.001 --samples-per-epoch 1024 --seed 0 --test
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from earnet.data.registry import get_dataset


def finetune_split(pretrained_val: list[str], dataset: str, ids: list[str]) -> dict[str, list[str]]:
    """Train/val ids of ``dataset``: validation = the pretraining run's validation ids of it.

    Multi-dataset runs name images ``<dataset>_<id>``; single-dataset ones by ``<id>``.
    """
    prefix = dataset + "_"
    held = [i.removeprefix(prefix) for i in pretrained_val if i.startswith(prefix) or i in ids]
    missing = sorted(set(held) - set(ids))
    if missing:
        raise ValueError(f"validation ids not in {dataset}'s training split: {', '.join(missing)}")
    if not held:
        raise ValueError(f"the pretraining run held out no {dataset} image: every one was trained on")
    return {"train": [i for i in ids if i not in held], "val": [i for i in ids if i in held]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained", type=Path, required=True, help="the pretraining run folder")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--out", type=Path, required=True, help="the new run folder (must not hold a run)")
    args = parser.parse_args()
    if (args.out / "config.yaml").exists():
        raise SystemExit(f"{args.out}: already holds a run")
    pretrained_val = json.loads((args.pretrained / "split.json").read_text())["val"]
    try:
        split = finetune_split(pretrained_val, args.dataset, get_dataset(args.dataset, args.root, "train").ids)
    except ValueError as error:
        raise SystemExit(f"{args.pretrained / 'split.json'}: {error}") from None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "split.json").write_text(json.dumps(split, indent=2) + "\n")
    print(f"{args.out / 'split.json'}: {len(split['train'])} training, validation {', '.join(split['val'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
