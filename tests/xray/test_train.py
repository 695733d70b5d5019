"""Seeded training on a tiny synthetic mask layout; checkpoints load into HeartDetector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardioclarity.checkpoints import load_checkpoint
from cardioclarity.errors import InvalidInputError
from cardioclarity.xray.datasets import load_mask_layout
from cardioclarity.xray.detect import HeartDetector
from cardioclarity.xray.train import (
    TrainConfig,
    _AugmentedImages,
    _weighted_dice_bce,
    augmentation,
    load_arrays,
    train_model,
)

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


def test_worker_processes_draw_the_same_batches(samples):
    # Each image's augmentation is seeded by (seed, epoch, index), not by the order in which
    # processes draw: DataLoader workers give exactly the in-process batches.
    imgs, masks = load_arrays(samples[:6], 64)
    data = _AugmentedImages(imgs, masks, 64, recipe="domain", seed=3, strength=1.0)
    keys = [7, 2, 9, 0, 11, 4]   # epoch 0 and 1, shuffled
    in_process = torch.stack([data[k][0] for k in keys])
    loader = torch.utils.data.DataLoader(data, batch_size=3, sampler=keys, num_workers=2)
    assert torch.equal(torch.cat([b[0] for b in loader]), in_process)
    # The seed moves with the epoch: image 1 of epoch 0 and of epoch 1 are augmented differently.
    assert not torch.equal(data[1][0], data[7][0])

    def run(workers: int) -> list[float]:
        cfg = TrainConfig(epochs=2, batch_size=4, seed=3, recipe="domain", workers=workers)
        info = train_model("seg", samples[:6], samples[6:], model_cfg=TINY["seg"], cfg=cfg, log=lambda m: None)[1]
        return [h["loss"] for h in info["history"]]

    # Same batches, so the same losses up to the rounding noise of torch's CPU kernels (~1e-5).
    assert run(2) == pytest.approx(run(0), rel=1e-3)


def test_training_device_is_checked(samples):
    with pytest.raises(InvalidInputError, match="valid options"):
        train_model("seg", samples[:4], samples[4:6], model_cfg=TINY["seg"],
                    cfg=TrainConfig(epochs=1, device="tpu7"), log=lambda m: None)
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="no GPU"):
            train_model("seg", samples[:4], samples[4:6], model_cfg=TINY["seg"],
                        cfg=TrainConfig(epochs=1, device="cuda"), log=lambda m: None)
    # "auto" runs wherever torch finds a device
    info = train_model("seg", samples[:4], samples[4:6], model_cfg=TINY["seg"],
                       cfg=TrainConfig(epochs=1, batch_size=4, device="auto"), log=lambda m: None)[1]
    assert np.isfinite(info["history"][0]["loss"])


def test_train_rejects_bad_input(samples):
    with pytest.raises(InvalidInputError, match="valid options"):
        train_model("unet3d", samples, samples)
    with pytest.raises(InvalidInputError, match="train and validation"):
        train_model("seg", samples, [])


def _film_dict(seed: int = 1, size: int = 96) -> dict:
    from .factory import synthetic_film

    img, masks = synthetic_film(size, seed=seed)
    return {"image": img[None].astype(np.float32),
            "mask": np.concatenate([masks.astype(np.float32), np.zeros((1, size, size), np.float32)])}


def test_domain_randomisation_is_seeded_and_keeps_masks_on_anatomy():
    runs = []
    for _ in range(2):
        t = augmentation("domain", seed=3, strength=1.0)
        runs.append([t(_film_dict()) for _ in range(8)])
    changed = 0
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["mask"], b["mask"])
        im, m = a["image"][0], a["mask"] > 0.5
        assert im.dtype == np.float32 and 0 <= im.min() and im.max() <= 1
        assert set(np.unique(a["mask"])) <= {0.0, 1.0}
        scored = ~m[3]
        if (m[0] & scored).sum() > 20 and ((m[1] | m[2]) & scored).sum() > 20:
            # Nothing inverts the film: the heart stays brighter than the lungs.
            assert im[m[0] & scored].mean() > im[(m[1] | m[2]) & scored].mean()
        changed += not np.array_equal(a["image"], _film_dict()["image"])
    assert changed >= 6


def test_unknown_recipe_is_refused(samples):
    with pytest.raises(InvalidInputError, match="valid options"):
        augmentation("heavy")
    with pytest.raises(InvalidInputError, match="valid options"):
        train_model("seg", samples[:4], samples[4:6], model_cfg=TINY["seg"],
                    cfg=TrainConfig(epochs=1, recipe="heavy"), log=lambda m: None)


def test_weighted_loss_matches_dice_ce_and_leaves_ignored_pixels_out():
    from monai.losses import DiceLoss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 16, 16, generator=g)
    target = (torch.rand(4, 3, 16, 16, generator=g) > 0.5).float()
    none = torch.zeros(4, 1, 16, 16)
    ref = (DiceLoss(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5)(logits, target)
           + torch.nn.functional.binary_cross_entropy_with_logits(logits, target))
    assert _weighted_dice_bce(logits, target, none, torch.ones(4)).item() == pytest.approx(ref.item(), rel=1e-4)
    # What lies under the ignore map does not change the loss.
    ignore = torch.zeros(4, 1, 16, 16)
    ignore[:, :, :8] = 1
    other = target.clone()
    other[:, :, :8] = 1 - other[:, :, :8]
    a = _weighted_dice_bce(logits, target, ignore, torch.ones(4))
    assert a.item() == pytest.approx(_weighted_dice_bce(logits, other, ignore, torch.ones(4)).item())
    # A zero-weight image does not count.
    w = torch.tensor([1.0, 1.0, 1.0, 0.0])
    bad = target.clone()
    bad[3] = 1 - bad[3]
    assert _weighted_dice_bce(logits, target, none, w).item() == pytest.approx(
        _weighted_dice_bce(logits, bad, none, w).item())


def test_pseudo_labelled_arrays_and_init_from_checkpoint(samples, tmp_path):
    out = tmp_path / "seg.pt"
    cfg = TrainConfig(epochs=1, batch_size=4, seed=1, recipe="domain")
    train_model("seg", samples[:4], samples[4:6], model_cfg=TINY["seg"], cfg=cfg, out=out, log=lambda m: None)
    imgs, masks = load_arrays(samples[:4], 64)
    arrays = {"train": (imgs, masks), "val": load_arrays(samples[4:6], 64),
              "train_weight": np.array([1, 1, 0.5, 0.5], np.float32),
              "train_ignore": np.zeros((4, 1, 64, 64), np.uint8)}
    zero = TrainConfig(epochs=1, batch_size=4, seed=1, lr=0.0, recipe="domain")
    model, info = train_model("seg", samples[:4], samples[4:6], model_cfg=TINY["seg"], cfg=zero,
                              arrays=arrays, init=out, log=lambda m: None)
    # With a zero learning rate the run keeps the initial weights: the checkpoint's.
    start = load_checkpoint(out, expected_kind="xray-heart-seg")["state_dict"]
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())
    assert info["init"] == str(out)
    with pytest.raises(InvalidInputError, match="network config"):
        train_model("seg", samples[:4], samples[4:6], model_cfg={**TINY["seg"], "channels": [4, 8, 8]},
                    cfg=zero, init=out, log=lambda m: None)
