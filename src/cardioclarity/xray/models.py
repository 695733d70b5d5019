"""Networks for heart detection (MONAI, one input channel) and their registry by name.

* ``seg`` — a MONAI residual U-Net segmenting heart, right lung and left lung (3 sigmoid channels,
  so overlapping labels are allowed); the heart box, heart width and thoracic width are measured
  from its masks (:mod:`cardioclarity.xray.measure`).
* ``box`` — a CNN (a small MONAI ``ResNet``) regressing the heart box ``[x_min, y_min, x_max,
  y_max]`` as fractions of the image size: the direct approach, kept as the reference model and
  for Grad-CAM.

Both take a square, per-image standardised input made by :func:`preprocess`; the input size is part
of the config, so a checkpoint rebuilds its network and its preprocessing without guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from cardioclarity.errors import InvalidInputError

__all__ = [
    "KINDS",
    "MODELS",
    "BoxConfig",
    "BoxNet",
    "SegConfig",
    "build_model",
    "config_dict",
    "config_from_dict",
    "preprocess",
]

#: Checkpoint kind of each model name: what training writes and HeartDetector.load accepts.
KINDS = {"seg": "xray-heart-seg", "box": "xray-heart-box"}


@dataclass
class SegConfig:
    """Segmentation U-Net (heart, right lung, left lung)."""

    input_size: int = 320
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    strides: tuple[int, ...] = (2, 2, 2, 2)
    num_res_units: int = 1
    dropout: float = 0.0
    out_channels: int = 3

    def __post_init__(self) -> None:
        # The U-Net halves the image once per stride and concatenates skip connections, so every
        # level must divide evenly; otherwise torch fails deep inside forward() with a size mismatch.
        step = int(np.prod(self.strides))
        if self.input_size < 64 or self.input_size % step:
            raise InvalidInputError(
                f"seg input_size must be a multiple of {step} (the product of the U-Net strides) and "
                f"at least 64 pixels, got {self.input_size}.",
                hint=f"use e.g. {max(64, round(self.input_size / step) * step)} (the bundled model uses 320).")


@dataclass
class BoxConfig:
    """Heart-box regressor: a small ResNet, global pooling, 4 outputs."""

    input_size: int = 224
    layers: tuple[int, ...] = (1, 1, 1, 1)
    block_inplanes: tuple[int, ...] = (16, 32, 64, 128)
    conv1_stride: int = 2


class BoxNet(nn.Module):
    """MONAI ``ResNet`` (basic blocks) + sigmoid: ``[x_min, y_min, x_max, y_max]`` in [0, 1].

    The corners are parameterised as centre and size, so x_max > x_min always holds.
    """

    def __init__(self, cfg: BoxConfig) -> None:
        super().__init__()
        from monai.networks.nets import ResNet

        self.net = ResNet("basic", list(cfg.layers), list(cfg.block_inplanes), spatial_dims=2,
                          n_input_channels=1, conv1_t_stride=cfg.conv1_stride, num_classes=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, S, S) standardised images → (N, 4) boxes as fractions of the image size."""
        z = torch.sigmoid(self.net(x))
        cx, cy, w, h = z[:, 0], z[:, 1], z[:, 2], z[:, 3]
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1)


def _build_seg(cfg: SegConfig) -> nn.Module:
    from monai.networks.nets import UNet

    return UNet(spatial_dims=2, in_channels=1, out_channels=cfg.out_channels,
                channels=cfg.channels, strides=cfg.strides, num_res_units=cfg.num_res_units,
                dropout=cfg.dropout)


#: name -> (config class, builder). Add an architecture by registering it here.
MODELS: dict[str, tuple[type, Callable[..., nn.Module]]] = {
    "seg": (SegConfig, _build_seg),
    "box": (BoxConfig, BoxNet),
}


def _check_name(name: str) -> None:
    if name not in MODELS:
        raise InvalidInputError(f"unknown X-ray model '{name}'.",
                                hint=f"valid options: {sorted(MODELS)}.")


def config_from_dict(name: str, cfg: dict | None = None) -> SegConfig | BoxConfig:
    """The typed config of model ``name`` from plain values (as stored in checkpoints)."""
    _check_name(name)
    cls = MODELS[name][0]
    cfg = dict(cfg or {})
    known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()
             if k in cls.__dataclass_fields__}
    return cls(**known)


def build_model(name: str, cfg: SegConfig | BoxConfig | dict | None = None) -> nn.Module:
    """Build network ``name`` ("seg" or "box") from a config (dataclass, dict or None = default)."""
    _check_name(name)
    cls, builder = MODELS[name]
    if cfg is None or isinstance(cfg, dict):
        cfg = config_from_dict(name, cfg)
    if not isinstance(cfg, cls):
        raise InvalidInputError(f"model '{name}' needs a {cls.__name__}, got {type(cfg).__name__}.")
    return builder(cfg)


def config_dict(cfg: SegConfig | BoxConfig) -> dict:
    """Plain-value dict of a config (lists instead of tuples, for checkpoints and JSON)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


def preprocess(pixels: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """Image(s) in [0, 1] → network input: resized to ``size`` x ``size``, standardised per image.

    The image is squashed to a square (no padding): the CTR compares two horizontal widths, so it
    is unchanged by a different vertical scale, and boxes map back by scaling each axis.
    Per-image standardisation removes exposure and windowing differences between sites.

    Parameters
    ----------
    pixels : array (H, W) or tensor (N, 1, H, W)
    size : int

    Returns
    -------
    tensor (N, 1, size, size), float32
    """
    x = torch.as_tensor(np.asarray(pixels, dtype=np.float32)) if not torch.is_tensor(pixels) else pixels
    if x.ndim == 2:
        x = x[None, None]
    x = x.float()
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                            align_corners=False, antialias=True)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)
    return (x - mean) / std
