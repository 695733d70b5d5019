"""EC57 beat statistics: gross and per-record Se/+P, F apart, Q left out."""

from __future__ import annotations

import numpy as np
import pytest

from cardioclarity.ecg.records.ec57 import beat_class_stats, matched_counts, nearest


def test_beat_class_stats_by_hand():
    true = np.array(list("NNNVVSFQ" + "NNVS"))
    pred = np.array(list("NVNVNSVN" + "NSVN"))
    rec = np.array(["a"] * 8 + ["b"] * 4)
    st = beat_class_stats(true, pred, rec)
    # V: 3 true (a:2, b:1), 2 found; predicted V: a: N,V + F(ignored) -> 2 beats, b: 1
    assert st["V"]["Se"] == pytest.approx(2 / 3) and st["V"]["+P"] == pytest.approx(2 / 3)
    assert st["V"]["Se_rec"] == pytest.approx((1 / 2 + 1) / 2)
    assert st["V"]["+P_rec"] == pytest.approx((1 / 2 + 1) / 2)
    assert st["S"]["Se"] == pytest.approx(1 / 2) and st["S"]["+P"] == pytest.approx(1 / 2)
    assert st["F"]["n"] == 1 and st["F"]["Se"] == 0.0
    assert st["N"]["n"] == 5 and st["N"]["flagged_fraction"] == pytest.approx(2 / 5)


def test_nearest_and_matched_counts():
    beats = np.array([100, 400, 700])
    np.testing.assert_array_equal(nearest(beats, np.array([0, 250, 260, 699, 2000])), [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(nearest(np.array([5]), np.array([0, 99])), [0, 0])
    # 400 and 700 are found (not 100); 405, 410 and 690 lie near a reference beat, 1000 does not.
    ref, det = np.array([100, 400, 700]), np.array([405, 410, 690, 1000])
    assert matched_counts(ref, det, 20) == (2, 3)
    assert matched_counts(ref, np.zeros(0, np.int64), 20) == (0, 0)
