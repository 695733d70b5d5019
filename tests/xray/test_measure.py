"""Masks -> heart box, widths, CTR."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.errors import InvalidInputError
from cardioclarity.xray.measure import measure_masks, widest_row_span

from .factory import synthetic_film


def _rect(shape, x0, y0, x1, y1):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_ctr_from_rectangles():
    s = (100, 200)
    rl = _rect(s, 20, 10, 90, 80)      # patient's right lung: image left
    ll = _rect(s, 110, 10, 180, 80)
    heart = _rect(s, 70, 50, 130, 90)  # 60 px wide; thorax 20..180 = 160 px
    m = measure_masks(heart, rl, ll)
    assert m.heart_box == [70.0, 50.0, 130.0, 90.0]
    assert m.heart_width == 60 and m.thorax_width == 160
    assert m.ctr == pytest.approx(60 / 160)
    assert m.heart_line[:2] == [70.0, 130.0] and m.thorax_line[:2] == [20.0, 180.0]
    assert m.notes == []


def test_widest_extent_uses_max_and_min_columns_on_different_rows():
    m = np.zeros((50, 50), bool)
    m[10, 5:20] = True
    m[30, 15:40] = True
    x0, x1, y = widest_row_span(m)
    assert (x0, x1) == (5.0, 40.0) and y == 20
    assert widest_row_span(np.zeros((5, 5), bool)) is None


def test_synthetic_film_ctr_scales_with_heart():
    ctrs = [measure_masks(*synthetic_film(128, heart_frac=f)[1]).ctr for f in (0.35, 0.45, 0.6)]
    assert ctrs[0] < ctrs[1] < ctrs[2]


def test_missing_lung_and_border_notes():
    s = (100, 200)
    heart = _rect(s, 70, 50, 130, 90)
    m = measure_masks(heart, np.zeros(s, bool), _rect(s, 110, 10, 180, 80))
    assert m.ctr is None and m.heart_box is not None
    assert any("lung field was not found" in n for n in m.notes)
    cut = measure_masks(heart, _rect(s, 0, 10, 90, 80), _rect(s, 110, 10, 180, 80))
    assert any("cut off" in n for n in cut.notes)
    empty = measure_masks(np.zeros(s, bool), np.zeros(s, bool), np.zeros(s, bool))
    assert empty.heart_box is None and "no heart found" in empty.notes


def test_specks_are_ignored_when_cleaning():
    s = (100, 200)
    heart = _rect(s, 70, 50, 130, 90)
    heart[5:7, 190:192] = True
    m = measure_masks(heart, _rect(s, 20, 10, 90, 80), _rect(s, 110, 10, 180, 80))
    assert m.heart_width == 60


def test_shape_mismatch():
    with pytest.raises(InvalidInputError, match="one shape"):
        measure_masks(np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((4, 4)))


@pytest.mark.shared_data
def test_mask_ctr_agrees_with_expert(shared_data):
    from cardioclarity.xray.datasets import load_mask_layout

    samples, _ = load_mask_layout(shared_data / "cxr_heart", ("wingspan",))
    with_ctr = [s for s in samples if s.expert_ctr is not None][:25]
    err = [abs(measure_masks(*s.load_masks()).ctr - s.expert_ctr) for s in with_ctr]
    assert np.mean(err) < 0.005  # the dataset's own definition: widths from the masks


def test_implausible_sizes():
    from cardioclarity.xray.measure import implausible_sizes

    assert implausible_sizes(140.0, 300.0) == [] and implausible_sizes(None, None) == []
    (note,) = implausible_sizes(140.0, 137.8)
    assert note.startswith("implausible thorax width 137.8 mm (adult range 200-450 mm)")
    assert [n.split()[1] for n in implausible_sizes(30.0, 900.0)] == ["heart", "thorax"]
