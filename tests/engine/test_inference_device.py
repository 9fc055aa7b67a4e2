"""A run's own inference (thresholds, error maps, test) goes where it trains."""

from __future__ import annotations

import pytest
import torch

from earnet.config import TrainConfig
from earnet.engine.pipeline import inference_device


@pytest.mark.parametrize("accelerator", ["gpu", "cuda", "auto"])
def test_a_run_trained_on_a_gpu_infers_on_it(monkeypatch: pytest.MonkeyPatch, accelerator: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert inference_device(TrainConfig(accelerator=accelerator)) == "cuda"


def test_a_cpu_run_or_a_machine_without_a_gpu_infers_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert inference_device(TrainConfig(accelerator="cpu")) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert inference_device(TrainConfig(accelerator="gpu")) == "cpu"
