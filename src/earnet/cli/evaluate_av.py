"""``earnet evaluate rite``: artery/vein metrics of saved A/V predictions."""

from __future__ import annotations

import argparse
from pathlib import Path

from earnet.exceptions import EarnetError

AV_DATASETS = ("rite",)


def is_av_dataset(name: str) -> bool:
    """Whether ``earnet evaluate`` scores this dataset with the A/V metrics."""
    return name.lower() in AV_DATASETS


def run_av(args: argparse.Namespace) -> int:
    """Score ``<id>_artery_prob.png``, ``<id>_vein_prob.png`` and ``<id>_av.png`` against RITE."""
    from earnet.av_evaluate import (
        evaluate_av,
        folder_av_predictor,
        format_av_table,
        write_av_report,
    )
    from earnet.data.registry import get_dataset

    if args.observer:
        raise EarnetError("RITE has no second observer's A/V labels (its test labels trace DRIVE's 2nd observer)")
    if args.whole_image:
        raise EarnetError("A/V metrics count labelled vessel pixels only; --whole-image does not apply")
    if args.threshold not in ("model", "auto"):
        raise EarnetError("A/V predictions are already labelled (<id>_av.png); --threshold does not apply")
    dataset = get_dataset(args.dataset, args.root, args.split)
    result = evaluate_av(dataset, folder_av_predictor(args.predictions, dataset),
                         {"predictions": str(args.predictions)})
    out = args.out or Path("evaluation") / f"{dataset.name}-{dataset.split.replace('/', '-')}-av"
    paths = write_av_report(result, out)
    print(format_av_table(result))
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0
