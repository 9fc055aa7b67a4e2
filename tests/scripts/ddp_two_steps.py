"""Train two steps with DDP on 2 CPU processes (gloo); each rank saves its final weights.

Run as a script (Lightning's DDP launcher re-executes it for rank 1):
``python tests/scripts/ddp_two_steps.py OUT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import torch

from earnet.config import TrainConfig
from earnet.data.registry import get_dataset
from earnet.engine.datamodule import to_image_tensors
from earnet.engine.stage import train_stage


class SaveRankWeights(L.Callback):
    """Write each rank's weights and the first batch it saw."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.first_batch: torch.Tensor | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):  # noqa: ANN001
        if self.first_batch is None:
            self.first_batch = batch["image"].detach().clone()

    def on_train_end(self, trainer, module):  # noqa: ANN001
        torch.save({"state": {k: v.detach().cpu() for k, v in module.model.state_dict().items()},
                    "first_batch": self.first_batch, "steps": trainer.global_step},
                   self.out / f"rank{trainer.global_rank}.pt")


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(epochs=1, samples_per_epoch=8, batch_size=2, crop=64, accelerator="cpu", devices="2",
                         strategy="ddp", precision="32-true")
    samples = [to_image_tensors(s) for s in get_dataset("synthetic", split="train")][:4]
    train_stage(config, out / "stage", 1, samples[:3], samples[3:], 1, progress=False,
                extra_callbacks=[SaveRankWeights(out)])


if __name__ == "__main__":
    main()
