"""Shared checks: sampling rate, finite matrices, JSON-safe values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cardioclarity.errors import InvalidInputError
from cardioclarity.validation import MAX_FS_HZ, check_finite_matrix, check_fs, to_jsonable


@pytest.mark.parametrize("fs", [360, "360", 360.0, MAX_FS_HZ])
def test_check_fs_accepts_rates(fs):
    assert check_fs(fs) == float(fs)


@pytest.mark.parametrize(("fs", "words"), [
    (None, "unknown"), ("abc", "sampling rate in Hz"), (0, "positive"), (-5, "positive"),
    (float("nan"), "positive"), (float("inf"), "positive"), (1e8, "above the maximum"),
    (1e300, "above the maximum"), (50, "below the minimum"),
])
def test_check_fs_names_the_rule(fs, words):
    with pytest.raises(InvalidInputError) as exc:
        check_fs(fs, minimum=100)
    assert words in str(exc.value)


def test_check_finite_matrix():
    assert check_finite_matrix([1, 2, 3]).shape == (1, 3)
    for bad, words in (([[1, 2], [3]], "equal length"), ([], "empty"), ([[[1]]], "2-D"),
                       ([[1, np.nan], [np.inf, 2], [1, 1]], "2 beat(s)")):
        with pytest.raises(InvalidInputError) as exc:
            check_finite_matrix(bad, "Beats")
        assert words in str(exc.value) and "Beats" in str(exc.value)


def test_to_jsonable():
    out = to_jsonable({"a": np.float32(1.5), "b": [np.int64(2), math.nan], "c": np.arange(3),
                       "state_dict": {"w": 1}})
    assert out == {"a": 1.5, "b": [2, None], "c": [0, 1, 2], "state_dict": {"w": 1}}
    meta = to_jsonable({"state_dict": 1, "x": np.zeros(100), "p": object}, metadata=True)
    assert "state_dict" not in meta and meta["x"] == "array[100]" and isinstance(meta["p"], str)
