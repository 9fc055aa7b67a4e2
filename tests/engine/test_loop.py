"""The shared Lightning loop (earnet.engine.loop): its two checkpoints."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from earnet.config import TrainConfig
from earnet.engine.loop import Fitted, fit_and_export


class _Worsening(L.LightningModule):
    """A tiny regression whose monitored validation score only gets worse after the first epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.model = torch.nn.Linear(2, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.model(x), y)

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        self.log("val/score", -float(self.current_epoch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


class _Data(L.LightningDataModule):
    def _loader(self) -> DataLoader:
        return DataLoader(TensorDataset(torch.randn(8, 2), torch.randn(8, 1)), batch_size=4)

    def train_dataloader(self) -> DataLoader:
        return self._loader()

    def val_dataloader(self) -> DataLoader:
        return self._loader()


def test_last_checkpoint_follows_every_epoch_and_best_the_score(tmp_path: Path) -> None:
    """last.ckpt (what --resume continues from) is the latest epoch even when the score did not
    improve; Lightning's own save_last only rewrote it on improvement (session 6)."""
    exported: list[Fitted] = []
    fit_and_export(_Worsening(), _Data(), TrainConfig(), tmp_path, epochs=3, monitor="val/score",
                   export=exported.append, progress=False)
    checkpoints = tmp_path / "checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["epoch"] == 2
    assert torch.load(checkpoints / "best.ckpt", weights_only=True)["epoch"] == 0
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert len(exported) == 1 and exported[0].score == 0.0 and exported[0].checkpoint.name == "best.ckpt"
