"""Seeded training of the X-ray networks, with augmentation, early stopping and a time budget.

``train_model("seg" | "box", train_samples, val_samples, ...)`` trains on mask-layout samples
(:class:`~cardioclarity.xray.datasets.MaskSample`), keeps the weights of the best validation epoch
(heart Dice for ``seg``, heart-box IoU for ``box``) and writes a self-describing checkpoint that
:class:`~cardioclarity.xray.detect.HeartDetector` loads. Box targets are read from the (augmented)
heart mask, so image, masks and boxes always move together.

Each training image's augmentation is seeded by (run seed, epoch, image index), so a run draws the
same augmented batches in-process (``workers=0``, the default) and with DataLoader workers, and on
CPU or GPU (``device``); only floating-point rounding then differs between devices.
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

__all__ = ["RECIPES", "RandDomainRandomised", "TrainConfig", "augmentation", "load_arrays", "train_model"]

#: Augmentation recipes by name (``TrainConfig.recipe``).
RECIPES = ("basic", "domain")


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
    recipe: str = "basic"       # "basic" (affine + exposure) or "domain" (+ domain randomisation)
    seed: int = 0
    threads: int = 2
    device: str = "cpu"         # "cpu", "cuda", "cuda:N" or "auto" (cuda when available)
    workers: int = 0            # DataLoader processes augmenting batches (0 = in this process)


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


# ------------------------------------------------------------------------ domain randomisation
def _sample_grid(img: np.ndarray, msk: np.ndarray, grid: torch.Tensor, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample image (bilinear, ``fill`` outside) and masks (nearest, 0 outside) on ``grid`` (1, S, S, 2)."""
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None, None]
    m = torch.from_numpy(np.ascontiguousarray(msk, dtype=np.float32))[None]
    out = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = nn.functional.grid_sample(torch.ones_like(x), grid, mode="bilinear", padding_mode="zeros",
                                       align_corners=False)
    out = out + fill * (1 - inside)
    mo = nn.functional.grid_sample(m, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out[0, 0].numpy(), mo[0].numpy()


def _identity_grid(size: int) -> torch.Tensor:
    t = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx, yy], dim=-1)[None]


def _magnify(img: np.ndarray, msk: np.ndarray, r: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """AP-like magnification: the mediastinum enlarged against the rib cage.

    On an AP film the heart, far from the detector, is projected larger than on a PA film while
    the thorax changes less; a smooth radial warp centred near the heart reproduces that.
    """
    size = img.shape[-1]
    g = _identity_grid(size)
    hy, hx = np.nonzero(msk[0] > 0.5)
    cx, cy = ((hx.mean() + 0.5) / size * 2 - 1, (hy.mean() + 0.5) / size * 2 - 1) if hx.size else (0.0, 0.1)
    c = torch.tensor([cx, cy], dtype=torch.float32)
    amount = r.uniform(0.05, 0.2)
    sigma = r.uniform(0.25, 0.45)
    d = g - c
    w = torch.exp(-(d ** 2).sum(-1, keepdim=True) / (2 * sigma ** 2))
    return _sample_grid(img, msk, c + d * (1 - amount * w), float(img.min()))


def _reframe(img: np.ndarray, msk: np.ndarray, r: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """A tighter crop (zoom in, up to 15 %) or a film shrunk inside a black, white or grey frame.

    Exports are cropped, padded and scaled differently at every site; a wider frame often has a
    flat collimation or scanner border.
    """
    size = img.shape[-1]
    zoom = r.uniform(0.85, 1.25)   # > 1: film smaller inside the frame
    sx, sy = zoom * r.uniform(0.93, 1.07), zoom * r.uniform(0.93, 1.07)
    tx, ty = r.uniform(-0.08, 0.08), r.uniform(-0.08, 0.08)
    g = _identity_grid(size)
    grid = torch.stack([g[..., 0] * sx + tx, g[..., 1] * sy + ty], dim=-1)
    fill = float(r.choice([0.0, 1.0, r.uniform(0.2, 0.8), float(np.median(img))]))
    return _sample_grid(img, msk, grid, fill)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, sigma, mode="nearest")


def _remap_intensity(img: np.ndarray, r: np.random.RandomState) -> np.ndarray:
    """Exposure and processing of another site: window/level, gamma, equalisation, edge enhancement."""
    if r.rand() < 0.5:      # window/level: clip the dark and bright ends, or compress the range
        if r.rand() < 0.6:
            lo, hi = r.uniform(0.0, 0.25), r.uniform(0.75, 1.0)
            img = np.clip((img - lo) / (hi - lo), 0, 1)
        else:
            lo, hi = r.uniform(0.0, 0.25), r.uniform(0.6, 1.0)
            img = lo + (hi - lo) * img
    if r.rand() < 0.5:
        img = np.clip(img, 0, 1) ** float(np.exp(r.uniform(np.log(0.5), np.log(2.0))))
    if r.rand() < 0.3:      # (partial) histogram equalisation, as many exports apply
        hist, edges = np.histogram(img, bins=256, range=(0.0, 1.0))
        cdf = np.cumsum(hist).astype(np.float32)
        cdf /= cdf[-1]
        eq = np.interp(img, edges[1:], cdf)
        a = r.uniform(0.3, 1.0)
        img = (1 - a) * img + a * eq
    if r.rand() < 0.3:      # unsharp masking / local contrast processing of CR and DR systems
        img = img + r.uniform(0.3, 1.5) * (img - _blur(img, r.uniform(3, 12)))
    return np.clip(img, 0, 1).astype(np.float32)


def _burn_in(img: np.ndarray, msk: np.ndarray, r: np.random.RandomState) -> np.ndarray:
    """Burned-in text, side markers and small bright dots (electrodes, clips) drawn on the film.

    The masks stay as they are: the anatomy under a label is still there.
    """
    from PIL import Image, ImageDraw, ImageFont

    size = img.shape[-1]
    value = float(r.choice([0.0, 1.0])) if r.rand() < 0.8 else float(r.uniform(0.6, 1.0))
    pil = Image.fromarray(np.round(img * 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :/.-"
    for _ in range(r.randint(1, 5)):
        n = r.randint(1, 14)
        text = "".join(r.choice(list(chars), n)) if n > 2 else str(r.choice(["L", "R", "AP", "PA", "SUP"]))
        font = ImageFont.load_default(size=int(r.randint(max(6, size // 40), max(8, size // 12))))
        # Mostly near the edges and corners, where exports put them; sometimes anywhere.
        edge = r.rand() < 0.75
        x = r.choice([r.uniform(0, 0.15), r.uniform(0.6, 0.85)]) if edge else r.uniform(0, 0.8)
        y = r.choice([r.uniform(0, 0.1), r.uniform(0.8, 0.92)]) if edge else r.uniform(0, 0.9)
        draw.text((x * size, y * size), text, fill=int(value * 255), font=font)
    for _ in range(r.randint(0, 4)):   # electrodes, clips, buttons
        cx, cy, rad = r.uniform(0.1, 0.9) * size, r.uniform(0.1, 0.9) * size, r.uniform(0.005, 0.02) * size
        draw.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), fill=int(r.uniform(0.85, 1.0) * 255))
    return np.asarray(pil, dtype=np.float32) / 255


def _border(img: np.ndarray, msk: np.ndarray, r: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Flat bands on some sides (collimation, scanner frames). Labelled pixels hidden under a band
    are marked to be ignored by the loss (last mask channel), so the network is not asked to see
    through an opaque band."""
    size = img.shape[-1]
    band = np.zeros((size, size), bool)
    for side in range(4):
        if r.rand() < 0.4:
            k = int(r.uniform(0.01, 0.08) * size)
            if side == 0:
                band[:k] = True
            elif side == 1:
                band[-k:] = True
            elif side == 2:
                band[:, :k] = True
            else:
                band[:, -k:] = True
    img = img.copy()
    img[band] = float(r.choice([0.0, 1.0, r.uniform(0.1, 0.9)]))
    msk = msk.copy()
    msk[-1][band & (msk[:-1] > 0.5).any(0)] = 1.0
    return img, msk


def _degrade(img: np.ndarray, r: np.random.RandomState) -> np.ndarray:
    """Blur, noise, fewer grey levels and JPEG compression: what exports and downscaling do."""
    from PIL import Image

    if r.rand() < 0.3:
        img = _blur(img, r.uniform(0.4, 2.0))
    if r.rand() < 0.4:
        std = r.uniform(0.005, 0.04)
        noise = r.normal(0, 1, img.shape).astype(np.float32)
        # Quantum noise grows with the signal; electronic noise does not.
        img = img + std * noise * (np.sqrt(np.clip(img, 0, 1)) if r.rand() < 0.5 else 1.0)
    img = np.clip(img, 0, 1)
    if r.rand() < 0.2:      # fewer grey levels (a narrow window of deep data, then 8 bits or fewer)
        levels = 2 ** r.randint(4, 8) - 1
        img = np.round(img * levels) / levels
    if r.rand() < 0.4:
        import io

        buf = io.BytesIO()
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(buf, format="JPEG",
                                                                    quality=int(r.randint(10, 80)))
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255
    return img.astype(np.float32)


class RandDomainRandomised:
    """Domain-randomising augmentation of a film and its masks (seeded; MONAI ``Randomizable``).

    Each call draws, with its own probability: an AP-like magnification of the mediastinum, a
    tighter crop or a frame around a shrunk film, intensity remaps (window/level, gamma, histogram
    equalisation, edge enhancement), burned-in text and markers, flat borders, blur, noise, fewer
    grey levels and JPEG compression. Nothing inverts the image (a negative film is a reading error
    the input stage handles, not a site style).

    Works on a dict with ``image`` (1, S, S) in [0, 1] and ``mask`` (C, S, S) whose last channel is
    the ignore map of the loss (1 = pixel not scored).

    Parameters
    ----------
    strength : float
        Scales how often each change is drawn (1 = the training recipe, 0 = never).
    """

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = float(strength)
        self.R = np.random.RandomState()

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        """Seed the transform (MONAI ``Compose.set_random_state`` calls this)."""
        self.R = state if state is not None else np.random.RandomState(seed)
        return self

    def _p(self, p: float) -> bool:
        return self.R.rand() < min(1.0, p * self.strength)

    def __call__(self, data: dict) -> dict:
        d = dict(data)
        img = np.asarray(d["image"], dtype=np.float32)[0]
        msk = np.asarray(d["mask"], dtype=np.float32)
        r = self.R
        if self._p(0.3):
            img, msk = _magnify(img, msk, r)
        if self._p(0.4):
            img, msk = _reframe(img, msk, r)
        if self._p(0.8):
            img = _remap_intensity(img, r)
        if self._p(0.3):
            img = _burn_in(img, msk, r)
        if self._p(0.2):
            img, msk = _border(img, msk, r)
        if self._p(0.7):
            img = _degrade(img, r)
        d["image"], d["mask"] = np.clip(img, 0, 1)[None].astype(np.float32), msk
        return d


class _Augmentation:
    """A recipe's transforms as one callable that :meth:`reseed` restarts (see :func:`augmentation`)."""

    def __init__(self, recipe: str, seed: int, strength: float) -> None:
        self.basic = augment_transforms(seed=seed, strength=strength)
        self.domain = RandDomainRandomised(strength).set_random_state(seed + 1) if recipe == "domain" else None

    def reseed(self, seed: int) -> _Augmentation:
        """Restart every random draw from ``seed`` (what a per-image seed needs)."""
        self.basic.set_random_state(seed=seed)
        if self.domain is not None:
            self.domain.set_random_state(seed + 1)
        return self

    def __call__(self, d: dict) -> dict:
        d = self.basic(d)
        return self.domain(d) if self.domain is not None else d


def augmentation(recipe: str = "basic", *, seed: int = 0, strength: float = 1.0) -> _Augmentation:
    """The training augmentation of ``recipe``: ``"basic"`` (MONAI affine + exposure,
    :func:`~cardioclarity.xray.datasets.augment_transforms`) or ``"domain"`` (the same, then
    :class:`RandDomainRandomised`). Seeded: the same seed gives the same sequence of draws; the
    returned callable's ``reseed(seed)`` restarts it."""
    if recipe not in RECIPES:
        raise InvalidInputError(f"unknown augmentation recipe '{recipe}'.", hint=f"valid options: {list(RECIPES)}.")
    return _Augmentation(recipe, seed, strength)


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


class _AugmentedImages(torch.utils.data.Dataset):
    """Training images keyed by ``epoch * N + index``: item = (input, masks, ignore map, weight).

    The key seeds the image's augmentation, so a batch does not depend on which process drew it.
    The ignore map travels with the masks through every transform, so a pseudo-label's uncertain
    pixels (and labels hidden under a drawn border) stay unscored wherever they move.
    """

    def __init__(self, imgs: np.ndarray, masks: np.ndarray, size: int, *, recipe: str, seed: int,
                 strength: float, ignore: np.ndarray | None = None, weight: np.ndarray | None = None) -> None:
        self.imgs, self.masks, self.size, self.ignore = imgs, masks, size, ignore
        self.weight = weight if weight is not None else np.ones(len(imgs), np.float32)
        self.recipe, self.seed, self.strength = recipe, seed, strength
        self._aug: _Augmentation | None = None   # built in the process that draws (workers too)

    def __len__(self) -> int:
        return len(self.imgs)

    def __getitem__(self, key: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, i = divmod(int(key), len(self.imgs))
        ign = (self.ignore[i].astype(np.float32) if self.ignore is not None
               else np.zeros((1, *self.masks.shape[-2:]), np.float32))
        d = {"image": self.imgs[i], "mask": np.concatenate([self.masks[i].astype(np.float32), ign])}
        if self.strength > 0:
            if self._aug is None:
                self._aug = augmentation(self.recipe, seed=self.seed, strength=self.strength)
            # One seed per (run, epoch, image), below 2**32 as NumPy's RandomState needs.
            d = self._aug.reseed((self.seed * 1_000_003 + epoch * 10_007 + i) % 2**32)(d)
        x = torch.as_tensor(np.asarray(d["image"]), dtype=torch.float32).clamp(0, 1)
        m = (torch.as_tensor(np.asarray(d["mask"]), dtype=torch.float32) > 0.5).float()
        return (preprocess(x[None], self.size)[0], m[:-1], m[-1:],
                torch.tensor(float(self.weight[i]), dtype=torch.float32))


def _validate(name: str, model: nn.Module, imgs: np.ndarray, masks: np.ndarray, size: int,
              device: torch.device) -> float:
    """Validation score: mean heart Dice (seg) or mean heart-box IoU (box), higher = better."""
    from cardioclarity.metrics import box_iou

    model.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(imgs), 16):
            x = preprocess(torch.from_numpy(imgs[start:start + 16]), size).to(device)
            m = torch.from_numpy(masks[start:start + 16]).float()
            if name == "seg":
                p = model(x)[:, 0].cpu() > 0
                t = m[:, 0] > 0.5
                inter = (p & t).sum(dim=(1, 2)).float()
                tot = (p.sum(dim=(1, 2)) + t.sum(dim=(1, 2))).float()
                scores += (2 * inter / tot.clamp_min(1)).tolist()
            else:
                scores += box_iou(model(x).cpu().numpy(), _boxes_from_masks(m[:, 0]).numpy()).tolist()
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
    data: _AugmentedImages
    opt: torch.optim.Optimizer
    loss_fn: Callable[..., torch.Tensor | None]
    rng: np.random.Generator
    t0: float
    device: torch.device

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.data) / self.cfg.batch_size)

    def batches(self, epoch: int) -> torch.utils.data.DataLoader:
        """This epoch's shuffled, augmented batches (keys ``epoch * N + index``)."""
        n = len(self.data)
        keys = (epoch * n + self.rng.permutation(n)).tolist()
        return torch.utils.data.DataLoader(self.data, batch_size=self.cfg.batch_size, sampler=keys,
                                           num_workers=self.cfg.workers,
                                           pin_memory=self.device.type == "cuda")


def _weighted_dice_bce(logits: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor,
                       weight: torch.Tensor) -> torch.Tensor:
    """Soft Dice + binary cross-entropy per image (mean over channels), ignored pixels left out,
    then the weighted mean over the batch. With unit weights and nothing ignored this is MONAI's
    sigmoid ``DiceLoss`` plus the mean binary cross-entropy. (MONAI's ``DiceCELoss`` would apply a
    softmax cross-entropy across the channels, which does not fit three independent, overlapping
    sigmoid masks.)"""
    keep = 1 - ignore
    p = torch.sigmoid(logits) * keep
    t = target * keep
    inter = (p * t).sum(dim=(2, 3))
    dice = 1 - (2 * inter + 1e-5) / (p.sum(dim=(2, 3)) + t.sum(dim=(2, 3)) + 1e-5)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none") * keep
    n_kept = (keep.sum(dim=(2, 3)) * logits.shape[1]).clamp_min(1)
    per_image = dice.mean(dim=1) + bce.sum(dim=(1, 2, 3)) / n_kept[:, 0]
    return (per_image * weight).sum() / weight.sum().clamp_min(1e-9)


def _loss_function(name: str) -> Callable[..., torch.Tensor | None]:
    """Loss of a batch ``(model, x, masks, ignore, weight)``: weighted Dice + cross-entropy on the
    masks (seg), smooth L1 + GIoU on the heart box read from the augmented mask (box; None when no
    image of the batch shows a heart)."""
    if name == "seg":
        return lambda model, x, m, ignore, weight: _weighted_dice_bce(model(x), m, ignore, weight)

    def box_loss(model: nn.Module, x: torch.Tensor, m: torch.Tensor, ignore: torch.Tensor,
                 weight: torch.Tensor) -> torch.Tensor | None:
        target = _boxes_from_masks(m[:, 0])
        keep = ~torch.isnan(target[:, 0])
        if not keep.any():
            return None
        pred = model(x[keep])
        return nn.functional.smooth_l1_loss(pred, target[keep], beta=0.02) + _giou_loss(pred, target[keep])

    return box_loss


def _train_epoch(model: nn.Module, run: _Run, epoch: int) -> float:
    """One pass over the shuffled training images; returns the mean batch loss."""
    cfg, steps, dev = run.cfg, run.steps_per_epoch, run.device
    model.train()
    losses = []
    batches = run.batches(epoch)
    for b, (x, m, ignore, weight) in enumerate(progress(batches, desc=f"{run.name} epoch {epoch + 1}",
                                                        unit="batch", total=steps)):
        x, m, ignore, weight = (t.to(dev, non_blocking=True) for t in (x, m, ignore, weight))
        loss = run.loss_fn(model, x, m, ignore, weight)
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


def _device(name: str) -> torch.device:
    """``TrainConfig.device`` as a torch device; "auto" = the first GPU when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise InvalidInputError(f"unknown training device '{name}'.",
                                hint="valid options: 'cpu', 'cuda', 'cuda:N', 'auto'.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"training device '{name}' asked for, but torch sees no GPU.",
                                hint="use device='cpu' or 'auto'.")
    return dev


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
    init: str | Path | None = None,
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
        Pre-loaded ``{"train": (imgs, masks), "val": (imgs, masks)}`` at the model's input size;
        optionally ``"train_weight"`` (N,) per-image loss weights and ``"train_ignore"``
        (N, 1, S, S) maps of pixels the loss leaves out (both for pseudo-labelled films, which
        may be appended to the train arrays).
    init : str or Path, optional
        Checkpoint (path or bundled name) whose weights start the run (fine-tuning); its network
        config must match ``model_cfg``.

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
    if cfg.recipe not in RECIPES:
        raise InvalidInputError(f"unknown augmentation recipe '{cfg.recipe}'.",
                                hint=f"valid options: {list(RECIPES)}.")
    mcfg = config_from_dict(name, model_cfg) if not hasattr(model_cfg, "input_size") else model_cfg
    size = mcfg.input_size
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))
    device = _device(cfg.device)
    data = _load_data(train_samples, val_samples, size, arrays)
    va_x, va_m = data["val"]
    model = build_model(name, mcfg)
    if init is not None:
        from cardioclarity.checkpoints import load_checkpoint

        ck = load_checkpoint(str(init), expected_kind=KINDS[name])
        if config_from_dict(name, ck["config"]) != mcfg:
            raise InvalidInputError(f"checkpoint {init} has another network config than this run.",
                                    hint=f"run with model_cfg={ck['config']} or start without init.")
        model.load_state_dict(ck["state_dict"])
    model.to(device)
    images = _AugmentedImages(*data["train"], size, recipe=cfg.recipe, seed=cfg.seed, strength=cfg.augment,
                              ignore=data.get("train_ignore"), weight=data.get("train_weight"))
    run = _Run(name, cfg, images,
               opt=torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay),
               loss_fn=_loss_function(name), rng=np.random.default_rng(cfg.seed), t0=time.perf_counter(),
               device=device)
    best, best_state, best_epoch, bad = -np.inf, None, -1, 0
    history: list[dict] = []
    stopped = "epochs"
    for epoch in range(cfg.epochs):
        loss = _train_epoch(model, run, epoch)
        val = _validate(name, model, va_x, va_m, size, device)
        elapsed = time.perf_counter() - run.t0
        history.append({"epoch": epoch + 1, "loss": loss, "val": val, "minutes": elapsed / 60})
        log(f"[{name}] epoch {epoch + 1}/{cfg.epochs} loss {loss:.4f} "
            f"val {'heart Dice' if name == 'seg' else 'box IoU'} {val:.4f} ({elapsed / 60:.1f} min)")
        if val > best:
            best, best_epoch, bad = val, epoch + 1, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
        if bad >= cfg.patience:
            stopped = "early stopping"
            break
        if elapsed / 60 >= cfg.max_minutes * 0.98:
            stopped = "time budget"
            break
    model.cpu().load_state_dict(best_state)
    model.eval()
    info = {"history": history, "best_epoch": best_epoch, "best_val": best, "stopped": stopped,
            "seconds": time.perf_counter() - run.t0, "init": None if init is None else str(init)}
    if out is not None:
        _save(out, name, mcfg, model, cfg, info, metadata)
    return model, info
