"""Checks shared by every reader and model: sampling rates, finite matrices, JSON-safe values.

Each check names the argument and the rule it broke, and raises
:class:`~cardioclarity.errors.InvalidInputError`; none of them imports torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from cardioclarity.errors import InvalidInputError

__all__ = ["MAX_ABS_SAMPLE", "MAX_BEAT_CELLS", "MAX_FS_HZ", "MAX_SAMPLES", "MIN_RECORD_S",
           "check_beat_cells", "check_finite_matrix", "check_fs", "check_n_samples",
           "to_jsonable"]

#: Highest sampling rate accepted anywhere (Hz). ECG is recorded at 125 Hz to 10 kHz (pacemaker
#: spike detection); a larger value is a unit mistake, and buffers sized by ``fs`` (quality
#: windows, filters) would otherwise grow without bound.
MAX_FS_HZ = 20_000.0

#: Most samples of one lead read from any recording: 24 h at 1 kHz. Checked from a header or a
#: file's size before the samples are read, so a huge or lying file fails before allocating.
MAX_SAMPLES = 86_400_000

#: Shortest recording that can be analysed (s): cleaning filters, R-peak thresholds and quality
#: need a few beats (three at 60 bpm).
MIN_RECORD_S = 3.0

#: Most cells (beats x samples per beat) of one beat table: 50 M float64 = 400 MB, e.g. 24 h of
#: beats at 100 bpm with 350 samples each. Checked before the table is converted to numbers.
MAX_BEAT_CELLS = 50_000_000

#: Largest magnitude a sample may have, in any unit (mV, uV or raw ADC counts of a 32-bit
#: export stay well below); beyond it the value is a corrupt export, and squares and fourth
#: powers (filters, kurtosis) would overflow.
MAX_ABS_SAMPLE = 1e9


def check_fs(fs: Any, name: str = "fs", *, minimum: float = 0.0, maximum: float = MAX_FS_HZ,
             source: str | None = None, hint: str | None = None) -> float:
    """Validate a sampling rate in Hz and return it as a float.

    Parameters
    ----------
    fs : Any
        The value to check (a number, or text such as a query parameter).
    name : str
        How the argument is called in the message (``"fs"``, ``"form field fs"``).
    minimum : float
        Smallest rate accepted; 0 means "any positive rate".
    maximum : float
        Largest rate accepted (default :data:`MAX_FS_HZ`).
    source : str, optional
        What the rate belongs to ("'100.hea'"), for the message.
    hint : str, optional
        How to fix it; a generic hint by default.

    Raises
    ------
    InvalidInputError
        ``fs`` is missing, not a number, not finite, not positive, below ``minimum`` or above
        ``maximum``.
    """
    of = f" of {source}" if source else ""
    if fs is None:
        raise InvalidInputError(f"The sampling rate{of} is unknown.",
                                hint=hint or "pass it explicitly (--fs HZ, or fs=... in Python).")
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a sampling rate in Hz, got {fs!r}.",
                                hint=hint or "give fs in Hz, e.g. fs=360.") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive sampling rate in Hz, got {fs!r}.",
                                hint=hint or "give fs in Hz, e.g. fs=360.")
    if value > maximum:
        raise InvalidInputError(
            f"Sampling rate {value:g} Hz{of} is above the maximum of {maximum:g} Hz; ECG is "
            "recorded at 125 Hz to 10 kHz.",
            hint=hint or "check the unit of fs (Hz, not kHz or samples per minute).")
    if value < minimum:
        raise InvalidInputError(
            f"Sampling rate {value:g} Hz{of} is below the minimum of {minimum:g} Hz: the QRS "
            "complex cannot be resolved.",
            hint=hint or f"use a recording sampled at >= {minimum:g} Hz (or check --fs).")
    return value


def check_n_samples(n: int, fs: float | None = None, source: str = "the record", *,
                    minimum_s: float | None = None, maximum: int = MAX_SAMPLES) -> int:
    """Validate the length of a recording (``n`` samples at ``fs`` Hz) and return ``n``.

    ``maximum`` bounds the samples of one lead (default :data:`MAX_SAMPLES`); with
    ``minimum_s`` and ``fs`` given, a recording shorter than ``minimum_s`` seconds is refused.
    Call it with the count a header or a file size promises, before reading the samples.

    Raises
    ------
    InvalidInputError
        Too many samples, or too short to analyse.
    """
    n = int(n)
    if n > maximum:
        hours = f" ({n / fs / 3600:.1f} h at {fs:g} Hz)" if fs else ""
        raise InvalidInputError(
            f"{source} has {n:,} samples per lead{hours}; the maximum is {maximum:,} (24 h at "
            "1 kHz).", hint="split the recording into shorter parts (e.g. 1 h each).")
    if minimum_s is not None and fs is not None and n < minimum_s * fs:
        raise InvalidInputError(
            f"{source} is {n / fs:.3g} s long ({n} samples at {fs:g} Hz); need at least "
            f"{minimum_s:g} s to analyse.",
            hint="send a longer recording, or check the sampling rate (--fs).")
    return n


def check_beat_cells(n_beats: int, length: int, source: str = "the beat table", *,
                     maximum: int = MAX_BEAT_CELLS) -> None:
    """Refuse a beat table of more than ``maximum`` cells (beats x samples) before allocating it.

    Raises
    ------
    InvalidInputError
        ``n_beats * length > maximum``.
    """
    cells = int(n_beats) * int(length)
    if cells > maximum:
        raise InvalidInputError(
            f"{source} has {int(n_beats):,} beats x {int(length):,} samples = {cells:,} values; "
            f"the maximum is {maximum:,}.", hint="score the beats in smaller files.")


def check_finite_matrix(X: Any, name: str = "X", *, dtype: Any = np.float32,
                        hint: str | None = None) -> np.ndarray:
    """Validate a non-empty 2-D numeric matrix (one row per beat) and return it as ``dtype``.

    A 1-D array is taken as one row. Row numbers in messages are 0-based, as NumPy counts.

    Raises
    ------
    InvalidInputError
        Cells that are not numbers or rows of unequal length, an empty matrix, more than two
        dimensions, or NaN/inf values (the message says how many rows and which come first).
    """
    try:
        arr = np.asarray(X, dtype=dtype)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{name} must be a numeric matrix (n_beats, length) with rows of equal length.",
            hint=hint or "ragged rows or text cells? read files with "
            "cardioclarity.ecg.beats.read_beats.") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be 2-D (n_beats, length), got shape {arr.shape}.",
                                hint=hint or "send one row per beat.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{name} is empty (shape {arr.shape}); need at least one beat.",
                                hint=hint or "send one row per beat.")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise InvalidInputError(
            f"{name} contains NaN or inf in {rows.size} beat(s) (first rows, 0-based: "
            f"{rows[:5].tolist()}).", hint="drop or repair those beats before scoring.")
    return arr


def to_jsonable(value: Any, *, metadata: bool = False) -> Any:
    """``value`` made valid JSON: numpy types plain, paths as text, NaN/inf as ``None``.

    With ``metadata=True`` (model cards) weights are left out, arrays longer than 64 values are
    summarised and unknown objects become their ``str``.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, metadata=metadata) for k, v in value.items()
                if not (metadata and k == "state_dict")}
    if isinstance(value, list | tuple):
        return [to_jsonable(v, metadata=metadata) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        if metadata and value.size > 64:
            return f"array{list(value.shape)}"
        return to_jsonable(value.tolist(), metadata=metadata)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, Path) or metadata:
        return str(value)
    return value
