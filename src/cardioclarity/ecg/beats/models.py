"""Autoencoder architectures for single heartbeats, chosen by name from a small registry.

Every model maps a batch of beats ``(batch, length)`` to reconstructions of the same shape and is
built from a typed dataclass config, so a checkpoint can rebuild it from ``(name, asdict(config))``
without guessing. Nothing here assumes a beat length: the length is part of the config
(``input_length``), chosen when the detector is fitted (ECG5000 beats have 140 samples, the MIT-BIH
windows of the record pipeline have another length).

Registry
--------
``dense``
    The tutorial notebook's baseline, exactly as published:
    ``L -> 32 -> 16 -> 8 -> 16 -> 32 -> L``, ReLU, sigmoid output on min-max scaled input, L1 loss.
``conv1d``
    1-D convolutional autoencoder (strided convs, linear bottleneck, transposed convs).
``lstm``
    Recurrent autoencoder: an LSTM encodes the beat into one vector, a second LSTM unrolls it back.
``resconv``
    Denoising residual convolutional autoencoder: wider residual conv blocks, a narrow linear
    bottleneck and Gaussian input noise during training (the detector's default training recipe for
    it), which keeps it from learning the identity and sharpens the normal/abnormal error gap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cardioclarity.ecg.beats.names import MODEL_DESCRIPTIONS
from cardioclarity.errors import InvalidInputError

__all__ = [
    "MODEL_REGISTRY",
    "Conv1dAEConfig",
    "ConvAutoencoder",
    "DenseAEConfig",
    "DenseAutoencoder",
    "LSTMAEConfig",
    "LSTMAutoencoder",
    "ModelSpec",
    "ResConvAEConfig",
    "ResConvAutoencoder",
    "build_model",
    "list_models",
    "model_spec",
]

#: Shortest beat the convolutional models accept (three stride-2 stages need some room).
MIN_LENGTH = 16


# --------------------------------------------------------------------------------------- configs
@dataclass
class DenseAEConfig:
    """Config of :class:`DenseAutoencoder` (the tutorial baseline)."""

    input_length: int = 140
    hidden: tuple[int, ...] = (32, 16, 8)


@dataclass
class Conv1dAEConfig:
    """Config of :class:`ConvAutoencoder`."""

    input_length: int = 140
    channels: tuple[int, ...] = (8, 16, 32)
    kernel_size: int = 5
    latent_dim: int = 16


@dataclass
class LSTMAEConfig:
    """Config of :class:`LSTMAutoencoder`.

    ``patch`` samples are fed per LSTM step: 140 samples become 28 steps, which keeps a
    recurrent model trainable on a CPU without losing the beat's shape.
    """

    input_length: int = 140
    hidden_size: int = 32
    latent_dim: int = 16
    patch: int = 5


@dataclass
class ResConvAEConfig:
    """Config of :class:`ResConvAutoencoder`."""

    input_length: int = 140
    channels: tuple[int, ...] = (16, 24, 32)
    kernel_size: int = 5
    latent_dim: int = 12
    dropout: float = 0.1


# ---------------------------------------------------------------------------------------- models
class DenseAutoencoder(nn.Module):
    """Fully connected autoencoder of the public tutorial (sigmoid output: inputs in [0, 1])."""

    def __init__(self, config: DenseAEConfig) -> None:
        super().__init__()
        self.config = config
        sizes = [config.input_length, *config.hidden]
        enc: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            enc += [nn.Linear(a, b), nn.ReLU()]
        rev = sizes[::-1]
        dec: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:], strict=True)):
            dec += [nn.Linear(a, b), nn.Sigmoid() if i == len(rev) - 2 else nn.ReLU()]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    # Replicate-pad the end so every stride-2 stage halves exactly; the decoder output is cropped
    # back to the input length, so any beat length works.
    extra = (-x.shape[-1]) % multiple
    return F.pad(x, (0, extra), mode="replicate") if extra else x


class _BottleneckConv(nn.Module):
    """Shared frame of the conv autoencoders: pad, encode, linear bottleneck, decode, crop.

    Subclasses set ``self.encoder`` (``len(channels)`` stride-2 stages) and ``self.decoder``.
    The linear bottleneck (not a wide feature map) is what keeps the model from learning the
    identity, so abnormal beats reconstruct badly.
    """

    def _init_bottleneck(self, config: Any) -> None:
        self.config = config
        self.stride_total = 2 ** len(config.channels)
        self.padded_length = config.input_length + (-config.input_length) % self.stride_total
        self.reduced_length = self.padded_length // self.stride_total
        flat = config.channels[-1] * self.reduced_length
        self.to_latent = nn.Linear(flat, config.latent_dim)
        self.from_latent = nn.Linear(config.latent_dim, flat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length = x.shape
        h = self.encoder(_pad_to_multiple(x.unsqueeze(1), self.stride_total))
        z = self.to_latent(h.flatten(1))
        h = self.from_latent(z).view(n, self.config.channels[-1], self.reduced_length)
        return self.decoder(h)[:, 0, :length]


class ConvAutoencoder(_BottleneckConv):
    """Strided 1-D conv encoder, linear bottleneck, transposed-conv decoder."""

    def __init__(self, config: Conv1dAEConfig) -> None:
        super().__init__()
        self._init_bottleneck(config)
        k, ch = config.kernel_size, config.channels
        enc: list[nn.Module] = []
        c_in = 1
        for c in ch:
            enc += [nn.Conv1d(c_in, c, k, stride=2, padding=k // 2), nn.BatchNorm1d(c), nn.ReLU()]
            c_in = c
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = []
        rev = [*ch[::-1], ch[0]]
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:], strict=True)):
            dec += [nn.ConvTranspose1d(a, b, 4, stride=2, padding=1)]
            if i < len(rev) - 2:
                dec += [nn.BatchNorm1d(b), nn.ReLU()]
        dec += [nn.ReLU(), nn.Conv1d(ch[0], 1, k, padding=k // 2)]
        self.decoder = nn.Sequential(*dec)


class LSTMAutoencoder(nn.Module):
    """Sequence-to-vector-to-sequence LSTM autoencoder."""

    def __init__(self, config: LSTMAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = nn.LSTM(config.patch, config.hidden_size, batch_first=True)
        self.to_latent = nn.Linear(config.hidden_size, config.latent_dim)
        self.from_latent = nn.Linear(config.latent_dim, config.hidden_size)
        # The decoder sees the latent vector plus a position code at every step, so it knows
        # where in the beat it is without having to count.
        self.decoder = nn.LSTM(config.hidden_size + 1, config.hidden_size, batch_first=True)
        self.out = nn.Linear(config.hidden_size, config.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length = x.shape
        p = self.config.patch
        steps = _pad_to_multiple(x.unsqueeze(1), p)[:, 0].reshape(n, -1, p)
        _, (h, _) = self.encoder(steps)
        z = self.to_latent(h[-1])
        t = steps.shape[1]
        seed = self.from_latent(z).unsqueeze(1).expand(n, t, -1)
        pos = torch.linspace(0, 1, t, device=x.device).view(1, t, 1).expand(n, -1, -1)
        y, _ = self.decoder(torch.cat([seed, pos], dim=-1))
        return self.out(y).reshape(n, -1)[:, :length]


class _ResBlock(nn.Module):
    def __init__(self, c: int, k: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(c, c, k, padding=k // 2), nn.BatchNorm1d(c), nn.GELU(), nn.Dropout(dropout),
            nn.Conv1d(c, c, k, padding=k // 2), nn.BatchNorm1d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x + self.body(x))


class ResConvAutoencoder(_BottleneckConv):
    """Residual 1-D conv encoder, narrow linear bottleneck, conv decoder (a denoising AE)."""

    def __init__(self, config: ResConvAEConfig) -> None:
        super().__init__()
        self._init_bottleneck(config)
        k, ch = config.kernel_size, config.channels
        enc: list[nn.Module] = []
        c_in = 1
        for c in ch:
            enc += [nn.Conv1d(c_in, c, 4, stride=2, padding=1), nn.BatchNorm1d(c), nn.GELU(),
                    _ResBlock(c, k, config.dropout)]
            c_in = c
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = []
        rev = [*ch[::-1], ch[0]]
        for a, b in zip(rev[:-1], rev[1:], strict=True):
            dec += [nn.ConvTranspose1d(a, b, 4, stride=2, padding=1), nn.BatchNorm1d(b), nn.GELU()]
        dec += [nn.Conv1d(ch[0], 1, k, padding=k // 2)]
        self.decoder = nn.Sequential(*dec)


# -------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class ModelSpec:
    """How a registered architecture is built and trained by default.

    Attributes
    ----------
    module, config : type
        ``nn.Module`` class and its dataclass config.
    scaling : str
        Default input scaling (see ``cardioclarity.ecg.beats.detector.SCALINGS``).
    loss : str
        Default reconstruction loss (``"l1"`` or ``"mse"``), also the per-beat anomaly score.
    noise_std : float
        Std of Gaussian noise added to inputs during training (denoising AE); 0 = plain AE.
    description : str
        One line for ``--help`` and model cards.
    """

    module: type[nn.Module]
    config: type
    scaling: str
    loss: str
    noise_std: float
    description: str


MODEL_REGISTRY: dict[str, ModelSpec] = {
    "dense": ModelSpec(DenseAutoencoder, DenseAEConfig, "minmax", "l1", 0.0, MODEL_DESCRIPTIONS["dense"]),
    "conv1d": ModelSpec(ConvAutoencoder, Conv1dAEConfig, "standard", "l1", 0.0, MODEL_DESCRIPTIONS["conv1d"]),
    "lstm": ModelSpec(LSTMAutoencoder, LSTMAEConfig, "standard", "l1", 0.0, MODEL_DESCRIPTIONS["lstm"]),
    "resconv": ModelSpec(ResConvAutoencoder, ResConvAEConfig, "standard", "l1", 0.1,
                         MODEL_DESCRIPTIONS["resconv"]),
}


def list_models() -> list[str]:
    """Names of the registered autoencoder architectures."""
    return list(MODEL_REGISTRY)


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``, with an error listing the valid names."""
    if name not in MODEL_REGISTRY:
        raise InvalidInputError(
            f"Unknown model '{name}'.", hint=f"valid models: {', '.join(MODEL_REGISTRY)}.")
    return MODEL_REGISTRY[name]


def _coerce_config(cls: type, values: dict[str, Any]) -> Any:
    # Checkpoints store configs as plain dicts (tuples may come back as lists): rebuild exactly
    # the dataclass, rejecting unknown fields so a foreign config fails loudly.
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise InvalidInputError(
            f"Config for {cls.__name__} has unknown fields {sorted(unknown)}.",
            hint=f"valid fields: {sorted(fields)}.")
    out = {}
    for k, v in values.items():
        out[k] = tuple(v) if isinstance(v, list) else v
    return cls(**out)


def build_model(name: str, input_length: int, **config: Any) -> nn.Module:
    """Build a registered autoencoder for beats of ``input_length`` samples.

    Parameters
    ----------
    name : str
        One of :func:`list_models`.
    input_length : int
        Samples per beat (>= 16).
    **config
        Overrides of the architecture's config fields (e.g. ``latent_dim=8``).
    """
    spec = model_spec(name)
    if not isinstance(input_length, int | None) or int(input_length) < MIN_LENGTH:
        raise InvalidInputError(
            f"input_length must be an integer >= {MIN_LENGTH} samples, got {input_length!r}.")
    cfg = _coerce_config(spec.config, {**config, "input_length": int(input_length)})
    return spec.module(cfg)
