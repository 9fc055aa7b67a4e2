"""The Lightning module: one segmenter (stage 1) or refiner (stage 2) and its losses.

Validation scores whole validation images with the same sliding-window code as
inference; its metrics come from probability histograms that are summed across
processes (counts first), so they are right under DDP too.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from earnet.data.transforms import normalise
from earnet.inference.tiling import tiled_runner
from earnet.losses import error_pixel_weights, get_segmentation_loss, total_loss
from earnet.models.chain import stage_output, stage_probability
from earnet.models.registry import create_model
from earnet.types import ModelOutput

HISTOGRAM_BINS = 1000
VAL_TILE = 1024


class CropEpochTask(L.LightningModule):
    """Tells the training crops which epoch it is, so each epoch draws new ones (reproducibly)."""

    def on_train_epoch_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None:
            datamodule.train_set.epoch = self.current_epoch


class SegmentationTask(CropEpochTask):
    """Trains ``create_model(backbone, refinement)`` with FOV-masked losses.

    Args:
        config: the run's :class:`~earnet.config.TrainConfig` as a dict.
        stage: 1 (segmenter) or 2 (error-attention refiner).
    """

    def __init__(self, config: dict[str, Any], stage: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config
        self.stage = stage
        refinement = config["refinement"] if stage == 2 else "none"
        self.model = create_model(config["backbone"], refinement=refinement,
                                  attention_weight=config["attention_weight"])
        self.segmentation_loss = get_segmentation_loss(config["loss"])
        self._histograms: list[torch.Tensor] = []

    def forward(self, image: torch.Tensor, stage1: torch.Tensor | None = None) -> ModelOutput:
        return stage_output(self.model, image, stage1)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        image = batch["image"].contiguous(memory_format=torch.channels_last)
        if "teacher" in batch:  # distillation: the target is the label blended with the teacher's probability
            batch = {**batch, "label": torch.lerp(batch["label"], batch["teacher"], self.config["teacher_weight"])}
        output = self(image, batch.get("stage1"))
        guided_loss = self.stage == 2 and self.config.get("error_guidance") == "loss"
        parts = total_loss(output, batch, self.segmentation_loss, self.config["error_weight"],
                           self.config["aux_weight_scale"], error_pixel_weights(batch) if guided_loss else None)
        self.log_dict({f"train/{k}": v.detach() for k, v in parts.items()}, prog_bar=False,
                      on_step=False, on_epoch=True, batch_size=image.shape[0], sync_dist=True)
        self.log("loss", parts["loss"].detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)
        return parts["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        stage1 = batch["stage1"] if self.model.needs_stage1 else None
        # one stage, scored as the predictor runs it (tiled; stage 2 given its batch's stage-1 map)
        probability = stage_probability(self.model, normalise(batch["image"]), stage1, tiled_runner(VAL_TILE))
        fov = batch["fov"] > 0
        label = batch["label"][fov] > 0
        scores = probability[fov].float()
        bins = torch.clamp((scores * HISTOGRAM_BINS).long(), max=HISTOGRAM_BINS - 1)
        histogram = torch.stack([torch.bincount(bins[label], minlength=HISTOGRAM_BINS),
                                 torch.bincount(bins[~label], minlength=HISTOGRAM_BINS)]).double()
        self._histograms.append(histogram)

    def on_validation_epoch_end(self) -> None:
        if not self._histograms:
            return
        local = torch.stack(self._histograms).sum(0)
        self._histograms.clear()
        gathered = self.all_gather(local)
        histogram = gathered.sum(0) if gathered.ndim == 3 else gathered
        scores = histogram_scores(histogram[0], histogram[1])
        self.log_dict({f"val/{k}": v for k, v in scores.items()}, prog_bar=True, sync_dist=False)

    def configure_optimizers(self) -> dict[str, Any]:
        lr = self.config["lr"] if self.stage == 1 else self.config["stage2_lr"]
        optimizer = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=self.config["weight_decay"])
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def histogram_scores(positive: torch.Tensor, negative: torch.Tensor) -> dict[str, torch.Tensor]:
    """F1 at 0.5, best F1 over thresholds and AUC-ROC from binned probabilities.

    ``positive[b]``/``negative[b]`` count vessel/background pixels whose probability
    falls in bin ``b`` of ``len(positive)`` equal bins over [0, 1].
    """
    n = len(positive)
    # predicted positive at threshold b/n: pixels in bins >= b
    tp = positive.flip(0).cumsum(0).flip(0)
    fp = negative.flip(0).cumsum(0).flip(0)
    fn = positive.sum() - tp
    f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
    best = int(torch.argmax(f1))
    # ROC points from threshold 0 (everything positive) to above 1 (nothing positive)
    tpr = torch.cat([tp, tp.new_zeros(1)]) / positive.sum().clamp_min(1)
    fpr = torch.cat([fp, fp.new_zeros(1)]) / negative.sum().clamp_min(1)
    auc = torch.trapezoid(tpr.flip(0), fpr.flip(0))
    return {"f1": f1[n // 2].float(), "f1_best": f1[best].float(), "threshold": torch.tensor(best / n),
            "auc": auc.float()}
