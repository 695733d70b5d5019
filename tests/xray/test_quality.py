"""Anatomical constraints, mask features and plausibility checks on synthetic masks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cardioclarity.xray.measure import measure_masks
from cardioclarity.xray.quality import (
    APEX_OFFSET,
    FEATURES,
    REASONS,
    SHAPE_FEATURES,
    constrain_masks,
    diaphragm_limit,
    fill_holes,
    lung_base_line,
    mask_features,
    plausibility,
    shape_features,
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


# ------------------------------------------------------------------------------ shape checks
def _failed(m: np.ndarray) -> list[str]:
    probs = np.where(m, 0.99, 0.01)
    return [c.reason for c in plausibility(mask_features(probs), m, 0.45, tta_dice=0.97) if c.failed]


def test_shape_features_of_a_plausible_heart():
    _, m = synthetic_film(128)
    f = shape_features(m)
    assert list(f) == list(SHAPE_FEATURES)
    assert f["heart_solidity"] > 0.95 and f["heart_roughness"] < 1.05
    assert 0.8 < f["heart_aspect"] < 1.2 and 0.35 < f["heart_top"] < 0.55
    assert f["heart_lung_overlap"] == 0.0
    empty = m.copy()
    empty[0] = False
    assert all(np.isnan(v) for v in shape_features(empty).values())


def _heart(size: int, cx: float, cy: float, hw: float, hh: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] / size
    return ((xx - cx) / hw) ** 2 + ((yy - cy) / hh) ** 2 < 1


@pytest.mark.parametrize("edit", ["crescent", "ragged", "tall", "flat", "high", "overlap"])
def test_each_shape_implausibility_raises_its_reason(edit):
    _, m = synthetic_film(128)
    m = m.copy()
    reason = {"crescent": "heart-not-compact", "ragged": "heart-ragged", "tall": "heart-shape-implausible",
              "flat": "heart-shape-implausible", "high": "heart-too-high", "overlap": "heart-lung-overlap"}[edit]
    heart = m[0]
    if edit == "crescent":  # a bite taken out of the heart's left side: not convex
        heart = heart & ~_heart(128, 0.62, 0.62, 0.10, 0.11)
    elif edit == "ragged":  # a comb of notches along the heart's base
        ys, xs = np.nonzero(heart)
        for x in range(xs.min() + 2, xs.max() - 1, 4):
            heart[ys.max() - 8:, x:x + 2] = False
    elif edit == "tall":
        heart = _heart(128, 0.52, 0.55, 0.08, 0.25)
    elif edit == "flat":
        heart = _heart(128, 0.52, 0.70, 0.15, 0.04)
    elif edit == "high":  # the mask starts at the apices, the mediastinum taken in
        heart = heart | _heart(128, 0.52, 0.33, 0.05, 0.16)
    else:  # the lungs painted over most of the heart
        m[1] |= heart & (np.mgrid[:128, :128][1] < 66)
    m[0] = heart
    assert reason in _failed(m)
    # The untouched film trips none of them.
    assert not set(_failed(synthetic_film(128)[1])) & {reason}


def test_heart_leak_under_the_left_hemidiaphragm_is_cut_at_the_diaphragm():
    size = 200
    _, m = synthetic_film(size)
    heart, rl, ll = m.copy()
    yy, xx = np.mgrid[:size, :size] / size
    # Deep costophrenic recesses: the lungs' lowest points are far below the domes.
    rl |= (xx > 0.14) & (xx < 0.20) & (yy > 0.5) & (yy < 0.95)
    ll |= (xx > 0.80) & (xx < 0.86) & (yy > 0.5) & (yy < 0.95)
    leak = (xx > 0.50) & (xx < 0.60) & (yy > 0.7) & (yy < 0.93)
    masks = np.stack([heart | leak, rl, ll])
    xr, yr, xl, yl = lung_base_line(rl, ll)
    assert yr > 0.94 * size and yl > 0.94 * size  # the straight line would keep the whole leak
    limit = diaphragm_limit(masks[0], rl, ll)
    apex = int(np.nonzero(masks[0].any(axis=0))[0].max() + APEX_OFFSET * size)
    assert limit[apex] == np.nonzero(ll[:, apex])[0].max()  # the left dome, read beside the apex
    out, info = constrain_masks(masks, margin=0.02)
    bottom = np.nonzero(out[0].any(axis=1))[0].max()
    assert bottom < 0.89 * size and info["clipped_fraction"] > 0.05
    assert out[0][heart].mean() > 0.99  # the heart itself is kept
    # A mirrored film keeps the straight line.
    flipped = diaphragm_limit(masks[0], ll, rl)
    assert np.all(flipped >= min(yr, yl) - 1)
