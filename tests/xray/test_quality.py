"""Anatomical constraints, mask features and plausibility checks on synthetic masks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cardioclarity.xray.measure import measure_masks
from cardioclarity.xray.quality import (
    FEATURES,
    REASONS,
    constrain_masks,
    fill_holes,
    lung_base_line,
    mask_features,
    plausibility,
)

from .factory import synthetic_film


def _masks(size: int = 128) -> np.ndarray:
    return synthetic_film(size)[1].copy()


def test_fill_holes_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = ndimage.binary_opening(rng.random((60, 90)) < 0.6)
        assert (fill_holes(m) == ndimage.binary_fill_holes(m)).all()


def test_lung_base_line_is_at_the_lungs_lowest_rows():
    m = _masks()
    xr, yr, xl, yl = lung_base_line(m[1], m[2])
    assert yr == np.nonzero(m[1])[0].max() and yl == np.nonzero(m[2])[0].max()
    assert xr < xl
    assert lung_base_line(m[1], np.zeros_like(m[2])) is None


def test_heart_leaking_below_the_lung_bases_is_cut_back():
    m = _masks()
    base = max(np.nonzero(m[1])[0].max(), np.nonzero(m[2])[0].max())
    leaky = m.copy()
    leaky[0, base - 5:, 55:75] = True  # a tongue of "heart" down into the abdomen
    leaky[1, 40:44, 30:34] = False      # a hole in a lung
    out, info = constrain_masks(leaky, margin=0.02)
    assert np.nonzero(out[0])[0].max() <= base + 0.02 * 128 + 1
    assert 0 < info["clipped_fraction"] < 0.5
    assert out[1][40:44, 30:34].all()   # the hole is filled
    # A heart that stays above the lung bases is left alone.
    same, info = constrain_masks(m)
    assert (same[0] == m[0]).all() and info["clipped_fraction"] == 0.0


def test_features_and_checks_of_a_plausible_film():
    img, m = synthetic_film(128)
    probs = np.where(m, 0.99, 0.01)
    f = mask_features(probs)
    assert list(f) == list(FEATURES) and f["order"] == 1.0 and f["heart_main"] == 1.0
    checks = plausibility(f, m, measure_masks(*m).ctr, tta_dice=0.97)
    assert [c.reason for c in checks if c.failed] == []
    assert all(c.reason in REASONS for c in checks)


@pytest.mark.parametrize(("edit", "reason"), [
    ("fragment", "heart-fragmented"),
    ("ctr", "ctr-out-of-range"),
    ("flip", "lungs-flipped"),
    ("tta", "augmentation-disagreement"),
    ("fuzzy", "uncertain-borders"),
])
def test_each_implausibility_raises_its_reason(edit, reason):
    _, m = synthetic_film(128)
    probs = np.where(m, 0.99, 0.01)
    ctr, tta = measure_masks(*m).ctr, 0.97
    if edit == "fragment":
        ys, xs = np.nonzero(m[0])
        cy, cx = int(ys.mean()), int(xs.mean())
        probs[0][:, cx - 3:cx + 3] = 0.01  # the heart cut into four pieces
        probs[0][cy - 3:cy + 3, :] = 0.01
    elif edit == "ctr":
        ctr = 1.19
    elif edit == "flip":
        probs = probs[[0, 2, 1]]  # right and left lung swapped
    elif edit == "tta":
        tta = 0.6
    else:  # a wide band of p = 0.5 around every border
        band = np.stack([ndimage.binary_dilation(c, iterations=4) & ~ndimage.binary_erosion(c, iterations=4)
                         for c in m])
        probs = np.where(band, 0.7, probs)
    f = mask_features(probs)
    checks = plausibility(f, probs > 0.5, ctr, tta_dice=tta)
    assert reason in [c.reason for c in checks if c.failed]
