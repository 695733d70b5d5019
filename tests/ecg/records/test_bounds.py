"""Bounds before allocation and messages that name the real cause: record length, sample
values, sampling rates."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cardioclarity.ecg.records.analyze import analyze_record
from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.processing import assess_quality, ecg_clean, ecg_peaks
from cardioclarity.errors import InvalidInputError
from cardioclarity.validation import MAX_SAMPLES, check_n_samples

from ._records_synth import synth_ecg


def _csv(x) -> bytes:
    return "\n".join(f"{v:.4f}" for v in x).encode()


@pytest.mark.parametrize("body, fs", [(b"1\n", 20000), (b"0.1\n0.2\n0.3\n", 360)])
def test_too_short_record_is_a_clear_error(body, fs):
    rec = read_record(body, fs=fs)
    with pytest.raises(InvalidInputError, match=r"s long .*need at least 3 s"):
        analyze_record(rec, detector=False)


@pytest.mark.parametrize("fn", [ecg_clean, ecg_peaks, assess_quality])
def test_processing_refuses_unfilterable_signals(fn):
    with pytest.raises(InvalidInputError, match="filtering needs at least"):
        fn(np.ones(5), 20000)


def test_sample_count_bounded():
    assert check_n_samples(MAX_SAMPLES) == MAX_SAMPLES
    with pytest.raises(InvalidInputError, match="maximum is 86,400,000"):
        check_n_samples(MAX_SAMPLES + 1, 1000.0, "'x.csv'")


@pytest.mark.parametrize("bad", [b"inf", b"-inf", b"1e308"])
def test_inf_and_huge_samples_refused_alike_without_warnings(bad):
    x, _ = synth_ecg(fs=360, duration=10)
    body = _csv(x).replace(b"\n", b"\n" + bad + b"\n", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(InvalidInputError, match=r"1 sample\(s\) of the chosen lead are "
                           r"infinite or beyond \+-1e\+09 \(first: sample 1"):
            read_record(body, fs=360)


def test_nan_gap_is_still_accepted():
    x, _ = synth_ecg(fs=360, duration=10)
    x[100:110] = np.nan
    assert np.isnan(read_record(_csv(x), fs=360).signal).sum() == 10


@pytest.mark.parametrize("factor", [10, 5])
def test_wrong_fs_is_named_not_the_electrode(factor):
    x, _ = synth_ecg(fs=360, duration=60, hr=70)
    rec = read_record(_csv(x), fs=360 * factor)
    with pytest.raises(InvalidInputError, match=r"clean ECG at 360 Hz, so the sampling rate "
                       r"is probably wrong.*--fs") as exc:
        analyze_record(rec, detector=False)
    assert "electrode" not in str(exc.value)
