"""Seeded CPU training of the X-ray networks, with augmentation, early stopping and a time budget.

``train_model("seg" | "box", train_samples, val_samples, ...)`` trains on mask-layout samples
(:class:`~cardioclarity.xray.datasets.MaskSample`), keeps the weights of the best validation epoch
(heart Dice for ``seg``, heart-box IoU for ``box``) and writes a self-describing checkpoint that
:class:`~cardioclarity.xray.detect.HeartDetector` loads. Box targets are read from the (augmented)
heart mask, so image, masks and boxes always move together.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cardioclarity.checkpoints import save_checkpoint
from cardioclarity.errors import InvalidInputError
from cardioclarity.reporting import progress
from cardioclarity.xray.datasets import MASK_CHANNELS, MaskSample, augment_transforms
from cardioclarity.xray.models import (
    KINDS,
    BoxConfig,
    SegConfig,
    build_model,
    config_dict,
    config_from_dict,
    preprocess,
)

__all__ = ["TrainConfig", "load_arrays", "train_model"]


@dataclass
class TrainConfig:
    """Optimisation settings (the network's own settings live in its model config)."""

    epochs: int = 60
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 10          # epochs without validation improvement before stopping
    max_minutes: float = 30.0   # wall-clock budget: stop after the epoch that crosses it
    augment: float = 1.0        # augmentation strength (0 = none)
    seed: int = 0
    threads: int = 2


def load_arrays(samples: list[MaskSample], size: int, desc: str = "loading") -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, size, size) float32 in [0, 1] and masks (N, 3, size, size) uint8 at ``size``."""
    imgs = np.zeros((len(samples), 1, size, size), np.float32)
    masks = np.zeros((len(samples), len(MASK_CHANNELS), size, size), np.uint8)
    for i, s in enumerate(progress(samples, desc=desc, unit="img")):
        img = torch.from_numpy(s.load_image())[None, None]
        imgs[i, 0] = nn.functional.interpolate(img, size=(size, size), mode="bilinear",
                                               antialias=True, align_corners=False)[0, 0].numpy()
        m = torch.from_numpy(s.load_masks().astype(np.float32))[None]
        m = nn.functional.interpolate(m, size=(size, size), mode="area")[0]
        masks[i] = (m.numpy() >= 0.5).astype(np.uint8)
    return imgs, masks


def _boxes_from_masks(heart: torch.Tensor) -> torch.Tensor:
    """Normalised boxes (N, 4) from heart masks (N, S, S); NaN rows for empty masks."""
    n, s, _ = heart.shape
    out = torch.full((n, 4), float("nan"))
    for i in range(n):
        ys, xs = torch.nonzero(heart[i] > 0.5, as_tuple=True)
        if xs.numel():
            out[i] = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32) / s
    return out


def _lr_at(cfg: TrainConfig, step_frac: float, time_frac: float) -> float:
    """Warm-up then cosine decay over whichever runs out first: the epochs or the time budget.

    On a shared CPU the number of epochs that fit in the budget is unknown in advance; driving the
    schedule by the larger of the two fractions always ends the run at a low learning rate.
    """
    p = min(1.0, max(step_frac, time_frac))
    if p < 0.05:
        return cfg.lr * (0.1 + 0.9 * p / 0.05)
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (p - 0.05) / 0.95)))


def _giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - generalised IoU of boxes (N, 4), mean over the batch."""
    ix = (torch.minimum(pred[:, 2], target[:, 2]) - torch.maximum(pred[:, 0], target[:, 0])).clamp_min(0)
    iy = (torch.minimum(pred[:, 3], target[:, 3]) - torch.maximum(pred[:, 1], target[:, 1])).clamp_min(0)
    inter = ix * iy
    area_p = (pred[:, 2] - pred[:, 0]).clamp_min(0) * (pred[:, 3] - pred[:, 1]).clamp_min(0)
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    union = area_p + area_t - inter
    iou = inter / union.clamp_min(1e-9)
    cx = torch.maximum(pred[:, 2], target[:, 2]) - torch.minimum(pred[:, 0], target[:, 0])
    cy = torch.maximum(pred[:, 3], target[:, 3]) - torch.minimum(pred[:, 1], target[:, 1])
    hull = (cx * cy).clamp_min(1e-9)
    return (1 - (iou - (hull - union) / hull)).mean()


def _batch(imgs: np.ndarray, masks: np.ndarray, idx: np.ndarray, aug: Callable | None, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ms = [], []
    for i in idx:
        d = {"image": imgs[i], "mask": masks[i].astype(np.float32)}
        if aug is not None:
            d = aug(d)
        xs.append(torch.as_tensor(np.asarray(d["image"]), dtype=torch.float32))
        ms.append(torch.as_tensor(np.asarray(d["mask"]), dtype=torch.float32))
    x = torch.stack(xs).clamp(0, 1)
    return preprocess(x, size), (torch.stack(ms) > 0.5).float()


def _validate(name: str, model: nn.Module, imgs: np.ndarray, masks: np.ndarray, size: int) -> float:
    """Validation score: mean heart Dice (seg) or mean heart-box IoU (box), higher = better."""
    from cardioclarity.metrics import box_iou

    model.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(imgs), 16):
            x = preprocess(torch.from_numpy(imgs[start:start + 16]), size)
            m = torch.from_numpy(masks[start:start + 16]).float()
            if name == "seg":
                p = model(x)[:, 0] > 0
                t = m[:, 0] > 0.5
                inter = (p & t).sum(dim=(1, 2)).float()
                tot = (p.sum(dim=(1, 2)) + t.sum(dim=(1, 2))).float()
                scores += (2 * inter / tot.clamp_min(1)).tolist()
            else:
                scores += box_iou(model(x).numpy(), _boxes_from_masks(m[:, 0]).numpy()).tolist()
    return float(np.mean(scores))


def _check_inputs(name: str, train_samples: list, val_samples: list) -> None:
    if name not in KINDS:
        raise InvalidInputError(f"unknown X-ray model '{name}'.", hint=f"valid options: {sorted(KINDS)}.")
    if not train_samples or not val_samples:
        raise InvalidInputError(
            f"training needs train and validation images, got {len(train_samples)} and {len(val_samples)}.")


def _load_data(train_samples: list[MaskSample], val_samples: list[MaskSample], size: int,
               arrays: dict | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train": (imgs, masks), "val": (imgs, masks)}`` at ``size``, read unless given."""
    if arrays is not None:
        return arrays
    return {"train": load_arrays(train_samples, size, "loading train"),
            "val": load_arrays(val_samples, size, "loading val")}


@dataclass
class _Run:
    """What one epoch needs besides the model: data, optimiser, loss, schedule clock."""

    name: str
    cfg: TrainConfig
    size: int
    imgs: np.ndarray
    masks: np.ndarray
    opt: torch.optim.Optimizer
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor | None]
    aug: Callable | None
    rng: np.random.Generator
    t0: float

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.imgs) / self.cfg.batch_size)


def _loss_function(name: str) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor | None]:
    """Loss of a batch: Dice + cross-entropy on the masks (seg), smooth L1 + GIoU on the heart box
    read from the augmented mask (box; None when no image of the batch shows a heart)."""
    if name == "seg":
        from monai.losses import DiceCELoss

        seg_loss = DiceCELoss(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5)
        return lambda model, x, m: seg_loss(model(x), m)

    def box_loss(model: nn.Module, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor | None:
        target = _boxes_from_masks(m[:, 0])
        keep = ~torch.isnan(target[:, 0])
        if not keep.any():
            return None
        pred = model(x[keep])
        return nn.functional.smooth_l1_loss(pred, target[keep], beta=0.02) + _giou_loss(pred, target[keep])

    return box_loss


def _train_epoch(model: nn.Module, run: _Run, epoch: int) -> float:
    """One pass over the shuffled training images; returns the mean batch loss."""
    cfg, steps = run.cfg, run.steps_per_epoch
    model.train()
    order = run.rng.permutation(len(run.imgs))
    losses = []
    for b in progress(range(steps), desc=f"{run.name} epoch {epoch + 1}", unit="batch"):
        x, m = _batch(run.imgs, run.masks, order[b * cfg.batch_size:(b + 1) * cfg.batch_size],
                      run.aug, run.size)
        loss = run.loss_fn(model, x, m)
        if loss is None:
            continue
        run.opt.zero_grad()
        loss.backward()
        for g in run.opt.param_groups:
            g["lr"] = _lr_at(cfg, (epoch * steps + b) / (cfg.epochs * steps),
                             (time.perf_counter() - run.t0) / 60 / cfg.max_minutes)
        run.opt.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def _save(out: str | Path, name: str, mcfg: SegConfig | BoxConfig, model: nn.Module, cfg: TrainConfig, info: dict,
          metadata: dict | None) -> None:
    """Write the self-describing checkpoint that HeartDetector.load reads back."""
    size = mcfg.input_size
    save_checkpoint(
        out, kind=KINDS[name], model=name, config=config_dict(mcfg), state_dict=model.state_dict(),
        input_size=size, mask_channels=list(MASK_CHANNELS) if name == "seg" else None,
        preprocessing="read_xray -> [0,1], 0 = black; bilinear antialiased resize to a square "
                      f"{size} x {size}; per-image standardisation",
        train_config=asdict(cfg), training=info, **(metadata or {}))


def train_model(
    name: str,
    train_samples: list[MaskSample],
    val_samples: list[MaskSample],
    *,
    model_cfg: SegConfig | BoxConfig | dict | None = None,
    cfg: TrainConfig | None = None,
    out: str | Path | None = None,
    metadata: dict | None = None,
    log: Callable[[str], None] = print,
    arrays: dict | None = None,
) -> tuple[nn.Module, dict]:
    """Train network ``name`` ("seg" or "box") and optionally save the best checkpoint.

    Stages: check and load the data (:func:`load_arrays`), then per epoch one training pass
    and one validation score; the best epoch's weights are kept, and training stops early after
    ``cfg.patience`` epochs without improvement or when the time budget is spent.

    Parameters
    ----------
    name : str
        Registry name in :data:`cardioclarity.xray.models.MODELS`.
    train_samples, val_samples : list of MaskSample
        From :func:`~cardioclarity.xray.datasets.load_mask_layout` (+ a split).
    model_cfg : dataclass or dict, optional
        Network config (default config of ``name``).
    cfg : TrainConfig, optional
    out : path, optional
        Where to write the checkpoint (kind ``xray-heart-seg`` / ``xray-heart-box``).
    metadata : dict, optional
        Extra plain values for the checkpoint (training data, split file...).
    log : callable
        Receives one line per epoch.
    arrays : dict, optional
        Pre-loaded ``{"train": (imgs, masks), "val": (imgs, masks)}`` at the model's input size.

    Returns
    -------
    model, info : nn.Module, dict
        The model with the best validation weights and ``{"history", "best_epoch",
        "best_val", "stopped", "seconds"}``.

    Raises
    ------
    InvalidInputError
        Unknown model name, or no training or validation images.
    """
    _check_inputs(name, train_samples, val_samples)
    cfg = cfg or TrainConfig()
    mcfg = config_from_dict(name, model_cfg) if not hasattr(model_cfg, "input_size") else model_cfg
    size = mcfg.input_size
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))
    data = _load_data(train_samples, val_samples, size, arrays)
    va_x, va_m = data["val"]
    model = build_model(name, mcfg)
    run = _Run(name, cfg, size, *data["train"],
               opt=torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay),
               loss_fn=_loss_function(name),
               aug=augment_transforms(seed=cfg.seed, strength=cfg.augment) if cfg.augment > 0 else None,
               rng=np.random.default_rng(cfg.seed), t0=time.perf_counter())
    best, best_state, best_epoch, bad = -np.inf, None, -1, 0
    history: list[dict] = []
    stopped = "epochs"
    for epoch in range(cfg.epochs):
        loss = _train_epoch(model, run, epoch)
        val = _validate(name, model, va_x, va_m, size)
        elapsed = time.perf_counter() - run.t0
        history.append({"epoch": epoch + 1, "loss": loss, "val": val, "minutes": elapsed / 60})
        log(f"[{name}] epoch {epoch + 1}/{cfg.epochs} loss {loss:.4f} "
            f"val {'heart Dice' if name == 'seg' else 'box IoU'} {val:.4f} ({elapsed / 60:.1f} min)")
        if val > best:
            best, best_epoch, bad = val, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
        if bad >= cfg.patience:
            stopped = "early stopping"
            break
        if elapsed / 60 >= cfg.max_minutes * 0.98:
            stopped = "time budget"
            break
    model.load_state_dict(best_state)
    model.eval()
    info = {"history": history, "best_epoch": best_epoch, "best_val": best, "stopped": stopped,
            "seconds": time.perf_counter() - run.t0}
    if out is not None:
        _save(out, name, mcfg, model, cfg, info, metadata)
    return model, info
