"""Dataset helpers of the record pipeline (reference annotations)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from cardioclarity.ecg.records.datasets import af_reference_mask


def test_af_reference_mask_follows_the_rhythm_notes():
    # rhythm changes ride on "+" annotations; beats ("N") and empty notes change nothing
    ann = SimpleNamespace(sample=np.array([0, 10, 30, 40, 60, 80]),
                          symbol=["+", "N", "+", "N", "+", "+"],
                          aux_note=["(N", "", "(AFIB", "", "(N", "(AFL"])
    af = af_reference_mask(ann, 100)
    assert np.flatnonzero(np.diff(af.astype(int))).tolist() == [29, 59, 79]
    assert af[30:60].all() and not af[:30].any() and not af[60:80].any() and af[80:].all()
