"""The Lightning module of the artery/vein model (``earnet fit rite``).

Each of the three maps (artery, vein, vessel) gets BCE + Dice inside the FOV; the
artery and vein maps leave out pixels the reference marks uncertain (vessel with no
A/V target). A third term, BCE of artery and vein on the reference's known-type
vessel pixels only, weighs the A/V decision itself, which the background-dominated
map losses would otherwise drown. An optional fourth (``av_decision_weight``) is the
decision as the metrics take it: BCE of ``logit_artery - logit_vein`` on the vessel
pixels of exactly one known type (crossings are both, so they are left out). An optional
``av_thin_weight`` makes thin reference vessels (batch map ``thin``) weigh more in the two
terms on vessel pixels, where A/V accuracy is lowest. Validation scores whole validation
images with the metrics of :mod:`earnet.av_metrics`; counts are summed across processes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from earnet.av_metrics import COUNT_KEYS, av_counts, av_label_map, av_scores
from earnet.data.resolution import scale_factor
from earnet.data.rite import ARTERY, BACKGROUND, CROSSING, UNCERTAIN, VEIN
from earnet.data.transforms import normalise
from earnet.engine.task import CropEpochTask
from earnet.inference.tiling import sliding_window
from earnet.losses import bce_dice, masked_bce
from earnet.models.av import AVWNet, create_av_model

VAL_TILE = 1024
MONITOR = "val/av_score"
VESSEL_INPUT = "vessel_input"
"""Batch key of the vessel probability an A/V model with a vessel input sees."""
THIN = "thin"
"""Batch key of the thin reference vessels (``earnet.data.rite.thin_vessels``), for ``av_thin_weight``."""


def av_loss(logits: torch.Tensor, batch: dict[str, torch.Tensor], decision_weight: float = 0.0,
            thin_weight: float = 0.0) -> torch.Tensor:
    """Loss of ``(N, 3, H, W)`` logits (artery, vein, vessel) against a batch's maps; with
    ``thin_weight`` the batch's ``thin`` pixels weigh ``1 + thin_weight`` on vessel pixels."""
    fov = batch["fov"]
    scored = fov * batch["known"]
    on_vessels = scored * batch["label"]
    if thin_weight:
        on_vessels = on_vessels * (1 + thin_weight * batch[THIN])
    loss = bce_dice(logits[:, 2:3], batch["label"], fov)
    for channel, key in ((0, "artery"), (1, "vein")):
        loss = loss + bce_dice(logits[:, channel:channel + 1], batch[key], scored)
        loss = loss + masked_bce(logits[:, channel:channel + 1], batch[key], on_vessels)
    if decision_weight:
        # soft targets (half scale): a pixel partly artery, partly background is all artery here
        artery, vein = batch["artery"], batch["vein"]
        one_type = on_vessels * (artery - vein).abs()
        target = artery / (artery + vein).clamp_min(1e-6)
        loss = loss + decision_weight * masked_bce(logits[:, 0:1] - logits[:, 1:2], target, one_type)
    return loss


def reference_classes(batch: dict[str, torch.Tensor]) -> np.ndarray:
    """RITE classes rebuilt from a batch's target maps (first image)."""
    artery = batch["artery"][0, 0].cpu().numpy() > 0
    vein = batch["vein"][0, 0].cpu().numpy() > 0
    vessel = batch["label"][0, 0].cpu().numpy() > 0
    known = batch["known"][0, 0].cpu().numpy() > 0
    classes = np.full(artery.shape, BACKGROUND, dtype=np.uint8)
    classes[vessel & ~known] = UNCERTAIN
    classes[artery & ~vein & known] = ARTERY
    classes[vein & ~artery & known] = VEIN
    classes[artery & vein & known] = CROSSING
    return classes


class AVTask(CropEpochTask):
    """Trains ``create_av_model(config["backbone"])``."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config
        self.model: AVWNet = create_av_model(config["backbone"])
        self._counts: list[torch.Tensor] = []

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits of a normalised image, its channel 4 (if any) the vessel probability."""
        if self.model.vessel_input:
            return self.model(image[:, :3], image[:, 3:]).logits
        return self.model(image).logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        image = batch["image"].contiguous(memory_format=torch.channels_last)
        out = self.model(image, batch.get(VESSEL_INPUT))
        decision = self.config.get("av_decision_weight", 0.0)
        thin = self.config.get("av_thin_weight", 0.0)
        loss = av_loss(out.logits, batch, decision, thin)
        for aux, weight in zip(out.aux_logits, out.aux_weights):
            loss = loss + weight * self.config["aux_weight_scale"] * av_loss(aux, batch, decision, thin)
        self.log("train/loss", loss.detach(), on_step=False, on_epoch=True, batch_size=image.shape[0],
                 sync_dist=True)
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False, logger=False)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        fov = batch["fov"][0, 0].cpu().numpy() > 0
        probability = self._val_probability(batch["image"], fov, batch.get(VESSEL_INPUT))
        artery, vein, vessel = probability
        predicted = av_label_map(artery, vein, vessel >= 0.5)
        counts = av_counts(artery, vein, predicted, reference_classes(batch), fov)
        self._counts.append(torch.tensor([counts[k] for k in COUNT_KEYS], dtype=torch.float64,
                                         device=self.device))

    def _val_probability(self, image: torch.Tensor, fov: np.ndarray, vessel: torch.Tensor | None = None) -> np.ndarray:
        """``(3, H, W)`` probabilities of a full-size image, at the training resolution as
        :class:`earnet.inference.av.AVPredictor` does it (resize, predict, resize back)."""
        height, width = image.shape[-2:]
        factor = scale_factor(fov, self.config.get("fov_diameter"))
        if factor != 1.0:
            size = (round(height * factor), round(width * factor))
            image = F.interpolate(image, size=size, mode="bicubic", align_corners=False,
                                  antialias=factor < 1).clamp(0, 1)
            if vessel is not None:
                vessel = F.interpolate(vessel, size=size, mode="bilinear", align_corners=False, antialias=factor < 1)
        inputs = normalise(image) if vessel is None else torch.cat([normalise(image), vessel], dim=1)
        probability = torch.sigmoid(sliding_window(self, inputs, VAL_TILE, out_channels=3)).float()
        if factor != 1.0:
            probability = F.interpolate(probability, size=(height, width), mode="bilinear", align_corners=False)
        return probability[0].cpu().numpy()

    def on_validation_epoch_end(self) -> None:
        if not self._counts:
            return
        local = torch.stack(self._counts).sum(0)
        self._counts.clear()
        gathered = self.all_gather(local)
        total = gathered.sum(0) if gathered.ndim == 2 else gathered
        scores = av_scores({k: int(v) for k, v in zip(COUNT_KEYS, total.tolist())})
        scores = {k: (0.0 if v != v else v) for k, v in scores.items()}
        scores["av_score"] = (scores["acc"] + (scores["f1_artery"] + scores["f1_vein"]) / 2) / 2
        self.log_dict({f"val/{k}": torch.tensor(v) for k, v in scores.items()
                       if k in ("acc", "f1_artery", "f1_vein", "av_score")}, prog_bar=True, sync_dist=False)

    def configure_optimizers(self) -> dict[str, Any]:
        lr = self.config["lr"]
        optimizer = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=self.config["weight_decay"])
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
