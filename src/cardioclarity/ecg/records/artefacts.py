"""Signal-quality helpers finer than a quality window: short flat or clipped stretches, and
whether a window holds clear, alike QRS complexes (used by
:func:`cardioclarity.ecg.records.processing.assess_quality`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy import signal as sps

__all__ = ["RegularBeats", "mask_of", "short_runs"]


def mask_of(segments: list[dict], n: int, fs: float) -> np.ndarray:
    """Boolean per-sample mask of ``n`` samples: False inside the segments."""
    m = np.ones(n, dtype=bool)
    for s in segments:
        m[int(s["start_s"] * fs):int(np.ceil(s["end_s"] * fs))] = False
    return m


#: Sub-window artefacts: a flat stretch (range below flat_mv over this long) or a run of samples
#: pinned at the record's extreme value (clipping) this long is unusable, inside any window.
_FLAT_RUN_S, _CLIP_RUN_S = 1.0, 0.1


def short_runs(x: np.ndarray, fs: float, flat_mv: float, gmax: float, gmin: float,
                tol: float) -> list[dict]:
    """Flat and clipped stretches shorter than a window, as unusable segments."""
    finite = np.isfinite(x)
    xf = x if finite.all() else np.where(finite, x, np.nanmedian(x))
    w = max(int(round(_FLAT_RUN_S * fs)), 2)
    if _may_hold_flat(xf, w, flat_mv):
        rng = (ndimage.maximum_filter1d(xf, w, mode="nearest")
               - ndimage.minimum_filter1d(xf, w, mode="nearest"))
        # a sample is in a flat stretch when some 1-s window holding it is flat
        flat = ndimage.maximum_filter1d((rng < flat_mv).astype(np.uint8), w, mode="nearest") > 0
    else:
        flat = np.zeros(xf.size, dtype=bool)
    pinned = (np.abs(xf - gmax) <= tol) | (np.abs(xf - gmin) <= tol)
    out = []
    for mask, reason, min_s in ((flat, "flat", _FLAT_RUN_S), (pinned, "saturated", _CLIP_RUN_S)):
        edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            if (b - a) / fs >= min_s:
                out.append({"start_s": round(a / fs, 3), "end_s": round(b / fs, 3),
                            "reason": reason})
    return out


def _may_hold_flat(x: np.ndarray, w: int, flat_mv: float) -> bool:
    """False when no ``w``-sample window of ``x`` can have a range below ``flat_mv``.

    Every such window holds a whole block of ``w // 2`` samples (blocks tiling ``x`` from its
    start, plus the last ``w // 2`` samples for the windows the record's end cuts short), and
    its range is at least that block's, so without a flat block there is no flat window: the
    exact running range, the costly part, is then not needed (any real ECG).
    """
    b = max(w // 2, 1)
    nb = x.size // b
    if x.size < w:
        return True
    blocks = np.vstack([x[:nb * b].reshape(nb, b), x[-b:][None, :]])
    return bool(((blocks.max(axis=1) - blocks.min(axis=1)) < flat_mv).any())


class RegularBeats:
    """Whether a window holds clear, alike QRS complexes (so a low kurtosis is a fast rate).

    Kurtosis falls as the heart rate rises (QRS complexes fill more of the window: ~2.5 at
    170 bpm), so a window failing only the kurtosis test is kept when the R-peaks in it are >= 3,
    at 30-250 bpm, and their 5-20 Hz complexes correlate >= 0.8 with their median (noise gives
    dissimilar detections). Peaks are found once, on first use, by ``detect_peaks(x, fs)``.
    """

    def __init__(self, x: np.ndarray, fs: float, wn: int,
                 detect_peaks: Callable[[np.ndarray, float], np.ndarray]) -> None:
        self.x, self.fs, self.wn, self.detect_peaks = x, fs, wn, detect_peaks
        self.peaks = self.bp = None

    def __call__(self, i: int) -> bool:
        fs = self.fs
        if self.peaks is None:
            sos = sps.butter(2, (5.0, min(20.0, 0.45 * fs)), btype="bandpass", fs=fs,
                             output="sos")
            self.bp = sps.sosfiltfilt(sos, self.x - np.median(self.x))
            self.peaks = self.detect_peaks(self.x, fs)
        h = max(int(0.1 * fs), 1)
        p = self.peaks[(self.peaks >= i * self.wn + h) & (self.peaks < (i + 1) * self.wn - h)]
        p = p[p + h < self.bp.size]
        if p.size < 3 or not 30 <= 60 * fs / np.median(np.diff(p)) <= 250:
            return False
        seg = self.bp[p[:, None] + np.arange(-h, h + 1)[None, :]]
        seg = seg - seg.mean(axis=1, keepdims=True)
        tpl = np.median(seg, axis=0)
        corr = seg @ tpl / (np.linalg.norm(seg, axis=1) * np.linalg.norm(tpl) + 1e-12)
        return bool(np.median(corr) >= 0.8)
