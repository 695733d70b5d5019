"""Seeded training on a tiny synthetic mask layout; checkpoints load into HeartDetector."""

from __future__ import annotations

import pytest
import torch

from cardioclarity.checkpoints import load_checkpoint
from cardioclarity.errors import InvalidInputError
from cardioclarity.xray.datasets import load_mask_layout
from cardioclarity.xray.detect import HeartDetector
from cardioclarity.xray.train import TrainConfig, train_model

from .factory import write_mask_layout

TINY = {"seg": {"input_size": 64, "channels": [4, 8, 16], "strides": [2, 2]},
        "box": {"input_size": 64, "block_inplanes": [4, 8, 16, 16]}}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = write_mask_layout(tmp_path_factory.mktemp("layout"), n_per_set=4, size=96)
    return load_mask_layout(root)[0]


@pytest.mark.parametrize("name", ["seg", "box"])
def test_train_saves_loadable_checkpoint(samples, tmp_path, name):
    out = tmp_path / f"{name}.pt"
    cfg = TrainConfig(epochs=2, batch_size=4, seed=1)
    model, info = train_model(name, samples[:5], samples[5:], model_cfg=TINY[name], cfg=cfg, out=out,
                              log=lambda m: None)
    assert len(info["history"]) == 2 and info["best_epoch"] in (1, 2)
    ck = load_checkpoint(out, expected_kind=f"xray-heart-{name}")
    assert ck["input_size"] == 64 and ck["training"]["best_val"] == info["best_val"]
    det = HeartDetector.load(str(out))
    assert det.model_name == name
    # The loaded network reproduces the trained one.
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(det.net(x), model(x), atol=1e-5)


def test_training_is_seeded(samples):
    cfg = TrainConfig(epochs=1, batch_size=4, seed=7)
    runs = [train_model("seg", samples[:4], samples[4:6], model_cfg=TINY["seg"], cfg=cfg, log=lambda m: None)[1]
            for _ in range(2)]
    assert runs[0]["history"][0]["loss"] == pytest.approx(runs[1]["history"][0]["loss"], rel=1e-5)


def test_train_rejects_bad_input(samples):
    with pytest.raises(InvalidInputError, match="valid options"):
        train_model("unet3d", samples, samples)
    with pytest.raises(InvalidInputError, match="train and validation"):
        train_model("seg", samples, [])
