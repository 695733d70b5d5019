"""Learned R-peak detector: a small 1-D U-Net that marks QRS complexes in noisy leads.

The energy-envelope detector (:func:`~cardioclarity.ecg.records.processing.ecg_peaks`,
``method="cardioclarity"``) is accurate on clean Holter leads but takes electrode-motion artefacts,
which share the QRS band, for beats. This network sees 16 s of signal at once, so it can use the
rhythm and the shape of the neighbouring beats to tell a QRS from an artefact.

Stages (:func:`net_peaks` runs them in order):

1. :func:`net_input` — resample to :data:`NET_FS` (128 Hz) and keep the 0.5-40 Hz band;
2. :func:`peak_probability` — overlapping 16-s windows, each scaled by its own standard
   deviation (as in training), through :class:`RPeakNet`; the middle of each window is kept;
3. :func:`probability_peaks` — maxima of the probability above the checkpoint's threshold,
   >= 25 samples (195 ms) apart; :func:`refine_peaks` places them between samples; they are
   then mapped to the record's own sampling rate.

Weights: the bundled ``rpeak-net`` (``training/train_rpeaks.py``; model card beside it). The
model is loaded once per process.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import signal as sps
from torch import nn

from cardioclarity.ecg.records.ec57 import nearest

__all__ = [
    "DEFAULT_RPEAK_MODEL",
    "KIND_RPEAK",
    "NET_FS",
    "RPeakDetector",
    "RPeakNet",
    "RPeakNetConfig",
    "net_input",
    "net_peaks",
    "peak_probability",
    "place_like",
    "probability_peaks",
    "refine_peaks",
    "scale_windows",
]

KIND_RPEAK = "ecg-rpeak-detector"
DEFAULT_RPEAK_MODEL = "rpeak-net"
#: Sampling rate the network runs at: the QRS band (5-40 Hz) survives it, and it is SVDB's own.
NET_FS = 128.0
#: Window length in samples at NET_FS (16 s), in training and at inference.
WINDOW = 2048
#: Context dropped at each side of an inference window (2 s): the network's edges see less.
MARGIN = 256
#: Refractory period between two detections, seconds (25 samples at NET_FS).
REFRACTORY_S = 0.2
#: The network's input band (0.5-40 Hz), as second-order sections at NET_FS.
NET_BAND_SOS = sps.butter(2, (0.5, 40.0), btype="bandpass", fs=NET_FS, output="sos")


@dataclass
class RPeakNetConfig:
    """Architecture of :class:`RPeakNet` (stored in the checkpoint)."""

    widths: tuple[int, ...] = (16, 24, 32, 48)
    kernel: int = 7
    bottleneck_dilations: tuple[int, ...] = (1, 2, 4)


def _block(c_in: int, c_out: int, k: int, dilations=(1, 1)) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, d in enumerate(dilations):
        layers += [nn.Conv1d(c_in if i == 0 else c_out, c_out, k, padding=d * (k // 2),
                             dilation=d, bias=False),
                   nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class RPeakNet(nn.Module):
    """The 1-D U-Net: one level per width (each halves the rate), dilated convolutions at the
    bottom (16 Hz, ~3 s receptive field), skip connections up to a per-sample logit.

    Input ``(batch, 1, length)`` at :data:`NET_FS`; output ``(batch, length)`` logits.
    """

    def __init__(self, config: RPeakNetConfig | None = None):
        super().__init__()
        cfg = config or RPeakNetConfig()
        w, k = list(cfg.widths), cfg.kernel
        self.down = nn.ModuleList([_block(1 if i == 0 else w[i - 1], w[i], k)
                                   for i in range(len(w) - 1)])
        self.bottom = _block(w[-2], w[-1], k, cfg.bottleneck_dilations)
        self.up = nn.ModuleList([_block(w[i + 1] + w[i], w[i], k)
                                 for i in reversed(range(len(w) - 1))])
        self.head = nn.Conv1d(w[0], 1, 1)
        self.pool = nn.MaxPool1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for blk in self.down:
            x = blk(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for blk, s in zip(self.up, reversed(skips), strict=True):
            x = nn.functional.interpolate(x, size=s.shape[-1], mode="nearest")
            x = blk(torch.cat([x, s], dim=1))
        return self.head(x)[:, 0]


def net_input(x, fs: float) -> np.ndarray:
    """Stage 1: the lead at :data:`NET_FS` Hz, 0.5-40 Hz band (float32, shape ``(m,)``)."""
    from cardioclarity.ecg.records.processing import resample_sig

    x = np.asarray(x, dtype=np.float64)
    # The median goes first: the resampler pads with zeros, so an offset would ring at the ends.
    y = resample_sig(x - np.median(x), fs, NET_FS)
    return sps.sosfiltfilt(NET_BAND_SOS, y).astype(np.float32)


def scale_windows(w: np.ndarray) -> np.ndarray:
    """Each row (a window) minus its median, over its standard deviation, clipped to +-25:
    the same scaling in training and at inference, so no record-wide statistic is needed.

    NaN samples (padding past a record's ends) take no part in the statistics and are filled
    with 0, the baseline of a band-passed signal (not the window's median, which QRS and T waves
    pull off it: a step there reads as a beat). Padding counted in the statistics would shrink
    the deviation of the end windows and so amplify their last T wave into a beat: on a 10-s
    12-lead ECG, one false beat in the last 0.3 s of the inferior leads.
    """
    w = np.asarray(w, dtype=np.float64)
    pad = np.isnan(w)
    if pad.any():
        v = np.where(pad.all(axis=-1, keepdims=True), 0.0, w)  # all padding: a row of zeros
        med = np.nanmedian(v, axis=-1, keepdims=True)
        sd = np.nanstd(v, axis=-1, keepdims=True)
        w = np.where(pad, 0.0, w)
    else:
        med = np.median(w, axis=-1, keepdims=True)
        sd = w.std(axis=-1, keepdims=True)
    return np.clip((w - med) / (sd + 1e-3), -25.0, 25.0).astype(np.float32)


def peak_probability(net: nn.Module, y: np.ndarray, *, batch: int = 64) -> np.ndarray:
    """Stage 2: per-sample QRS probability of a :func:`net_input` signal ``y``.

    Windows of :data:`WINDOW` samples overlap by ``2 * MARGIN``; each contributes its middle.
    The padding past the signal's ends is NaN, so that :func:`scale_windows` leaves it out.
    """
    m = y.size
    step = WINDOW - 2 * MARGIN
    n_win = max(int(np.ceil(m / step)), 1)
    padded = np.full(n_win * step + 2 * MARGIN, np.nan, dtype=np.float32)
    padded[MARGIN:MARGIN + m] = y
    idx = np.arange(n_win)[:, None] * step + np.arange(WINDOW)[None, :]
    wins = scale_windows(padded[idx])
    out = np.empty((n_win, step), dtype=np.float32)
    net.eval()
    with torch.inference_mode():
        for i in range(0, n_win, batch):
            logits = net(torch.from_numpy(wins[i:i + batch, None, :]))
            out[i:i + batch] = torch.sigmoid(logits[:, MARGIN:WINDOW - MARGIN]).numpy()
    return out.reshape(-1)[:m]


@dataclass
class RPeakDetector:
    """A trained :class:`RPeakNet` with its decision threshold and model card.

    Attributes
    ----------
    net : RPeakNet
    threshold_ : float
        Probability above which a local maximum is a beat (chosen on validation records).
    config : RPeakNetConfig
    checkpoint_card : dict
    """

    net: nn.Module
    threshold_: float
    config: RPeakNetConfig = field(default_factory=RPeakNetConfig)
    checkpoint_card: dict = field(default_factory=dict)

    def to_checkpoint(self) -> dict:
        """Tensors and plain values for :func:`~cardioclarity.checkpoints.save_checkpoint`."""
        cfg = asdict(self.config)
        cfg.update(net_fs=NET_FS, window=WINDOW, margin=MARGIN)
        return {"config": cfg, "state_dict": self.net.state_dict(),
                "threshold": float(self.threshold_)}

    @classmethod
    def load(cls, name_or_path: str | Path | None = None) -> RPeakDetector:
        """Load a detector: a bundled name (default ``rpeak-net``) or a checkpoint path."""
        from cardioclarity.checkpoints import card_from_checkpoint, load_checkpoint
        from cardioclarity.errors import CheckpointError

        ckpt = load_checkpoint(name_or_path or DEFAULT_RPEAK_MODEL, expected_kind=KIND_RPEAK)
        try:
            c = ckpt["config"]
            if (float(c["net_fs"]), int(c["window"]), int(c["margin"])) != (NET_FS, WINDOW, MARGIN):
                raise CheckpointError("R-peak checkpoint was trained at another rate or window.",
                                      hint="retrain it with training/train_rpeaks.py.")
            cfg = RPeakNetConfig(widths=tuple(c["widths"]), kernel=int(c["kernel"]),
                                 bottleneck_dilations=tuple(c["bottleneck_dilations"]))
            net = RPeakNet(cfg)
            net.load_state_dict(ckpt["state_dict"])
            net.eval()
            return cls(net=net, threshold_=float(ckpt["threshold"]), config=cfg,
                       checkpoint_card=card_from_checkpoint(ckpt))
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"R-peak checkpoint does not fit the network: {exc}.") from exc


@functools.lru_cache(maxsize=4)
def _cached(name_or_path: str) -> RPeakDetector:
    return RPeakDetector.load(name_or_path)


def probability_peaks(p: np.ndarray, threshold: float) -> np.ndarray:
    """Local maxima of a :data:`NET_FS` probability above ``threshold``, >= 25 samples
    (195 ms) apart: the refractory period at this rate."""
    cand, _ = sps.find_peaks(p, height=threshold, distance=max(int(REFRACTORY_S * NET_FS), 1))
    return cand.astype(np.int64)


def refine_peaks(p: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Sub-sample positions of the maxima ``at`` of ``p``: the vertex of the parabola through
    each maximum and its two neighbours (a flat top, or a maximum at either end, stays put)."""
    at = np.asarray(at, dtype=np.int64)
    out = at.astype(np.float64)
    inner = (at >= 1) & (at <= p.size - 2)
    a = at[inner]
    left, mid, right = p[a - 1], p[a], p[a + 1]
    curv = left - 2 * mid + right
    out[inner] += np.where(curv < 0, 0.5 * (left - right) / np.where(curv < 0, curv, -1.0), 0.0)
    return out


def net_peaks(x, fs: float, *, detector: RPeakDetector | str | None = None) -> np.ndarray:
    """R-peaks of one lead by the learned detector.

    The network was trained to mark the reference annotations, so its maxima are used where
    they are (refined between samples). Moving them to the largest deflection nearby, as the
    energy detector does, put more beats over 150 ms from the reference on the validation
    records (9 unmoved; 14 within +-40 ms; 152 within +-80 ms: wide and notched QRS complexes;
    ``benchmarks/bench_rpeak_placement.py``)
    and reached pacing spikes on paced records.

    Parameters
    ----------
    x : ndarray, shape (n,)
        One raw lead (gaps already filled).
    fs : float
        Its sampling rate in Hz.
    detector : RPeakDetector or str, optional
        A loaded detector, a checkpoint path or bundled name (default ``rpeak-net``).

    Returns
    -------
    ndarray of int64
        Sorted sample indices at ``fs``, about 200 ms apart at least.
    """
    if not isinstance(detector, RPeakDetector):
        detector = _cached(str(detector or DEFAULT_RPEAK_MODEL))
    p = peak_probability(detector.net, net_input(x, fs))
    at = refine_peaks(p, probability_peaks(p, detector.threshold_))
    return np.unique(np.clip(np.round(at * (fs / NET_FS)), 0, max(len(x) - 1, 0)).astype(np.int64))


#: Largest distance (s) at which a beat of the network and one of the energy detector are the
#: same beat in :func:`place_like`: EC57's matching window. The two can sit this far apart on
#: wide ventricular beats (the network marks where annotators put the beat, the energy
#: detector the largest deflection).
SAME_BEAT_S = 0.15


def place_like(net: np.ndarray, energy: np.ndarray, fs: float) -> np.ndarray:
    """The network's beats, each at the energy detector's position where that detector found
    the same beat (within :data:`SAME_BEAT_S`), else where the network put it.

    The network decides which beats exist (it is the one that tells motion artefacts from
    QRS complexes); the energy detector's R-extremum positions are the fiducial points the beat
    models were trained on, so where both agree the beat features see the usual positions.
    """
    net = np.asarray(net, dtype=np.int64)
    energy = np.asarray(energy, dtype=np.int64)
    if net.size == 0 or energy.size == 0:
        return net
    j = nearest(energy, net)  # the nearest energy beat of each network beat
    near = np.abs(energy[j] - net) <= SAME_BEAT_S * fs
    # One energy beat stands for at most one network beat: the nearest keeps it.
    first = np.ones(net.size, dtype=bool)
    if net.size > 1:
        order = np.lexsort((np.abs(energy[j] - net), j))
        dup = np.r_[False, j[order][1:] == j[order][:-1]]
        first[order[dup]] = False
    out = np.where(near & first, energy[j], net)
    return np.unique(out)
