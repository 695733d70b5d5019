"""Sub-window artefacts: flat and clipped stretches, and the fast no-flat-stretch check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cardioclarity.ecg.records.artefacts import _may_hold_flat, mask_of, short_runs

from ._records_synth import synth_ecg

FS = 360.0


def _flat_exact(x: np.ndarray, w: int, flat_mv: float) -> np.ndarray:
    rng = (ndimage.maximum_filter1d(x, w, mode="nearest")
           - ndimage.minimum_filter1d(x, w, mode="nearest"))
    return ndimage.maximum_filter1d((rng < flat_mv).astype(np.uint8), w, mode="nearest") > 0


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize("length_s", [0.55, 1.2])
def test_flat_check_never_misses_a_flat_window(where, length_s):
    x, _ = synth_ecg(fs=FS, duration=20, noise=0.05, seed=1)
    n = int(length_s * FS)
    a = {"start": 0, "middle": x.size // 2 + 7, "end": x.size - n}[where]
    x[a:a + n] = x[a]
    w = int(FS)
    # the fast check may only say "no flat window" when the exact running range finds none
    assert _may_hold_flat(x, w, 0.02) or not _flat_exact(x, w, 0.02).any()
    if length_s > 1:
        runs = short_runs(x, FS, 0.02, np.max(x), np.min(x), 1e-9)
        assert [r["reason"] for r in runs] == ["flat"]
        assert abs(runs[0]["start_s"] - a / FS) < 0.01


def test_clean_ecg_has_no_flat_block_and_no_runs():
    x, _ = synth_ecg(fs=FS, duration=30, noise=0.05, seed=4)
    assert not _may_hold_flat(x, int(FS), 0.02)
    assert short_runs(x, FS, 0.02, np.max(x) + 1, np.min(x) - 1, 1e-9) == []


def test_mask_of_segments():
    m = mask_of([{"start_s": 1.0, "end_s": 2.0}], 4 * int(FS), FS)
    assert not m[int(FS):2 * int(FS)].any() and m[:int(FS)].all() and m[2 * int(FS):].all()
