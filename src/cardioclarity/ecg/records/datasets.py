"""Public record datasets used for training and benchmarks: MIT-BIH splits and CinC 2017.

Loads go through :func:`cardioclarity.ecg.records.io.read_record`, the same reader a user calls on their
own downloads. The data itself is not part of the package (pass its folder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardioclarity.errors import InputFileNotFoundError, InvalidInputError

__all__ = [
    "AAMI_CLASSES",
    "BEAT_SYMBOLS",
    "DS1",
    "DS2",
    "PACED",
    "aami_class",
    "available_records",
    "cinc2017_features",
    "cinc2017_reference",
    "cinc2017_split",
    "excluded_spans",
]

#: de Chazal et al. (2004) inter-patient split; paced records excluded from both.
DS1 = ("101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 "
       "223 230").split()
DS2 = ("100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 "
       "234").split()
PACED = ("102", "104", "107", "217")

#: AAMI EC57 beat classes from MIT-BIH symbols.
AAMI_CLASSES = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}
_SYMBOL_TO_AAMI = {s: c for c, syms in AAMI_CLASSES.items() for s in syms}
#: Annotation symbols that are beats (wfdb's beat set; '!' flutter waves handled separately).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")


def aami_class(symbol: str) -> str | None:
    """AAMI class (N, S, V, F, Q) of an MIT-BIH beat symbol, or None for non-beat annotations."""
    if symbol in _SYMBOL_TO_AAMI:
        return _SYMBOL_TO_AAMI[symbol]
    return "N" if symbol in ("B", "r", "n") else ("Q" if symbol == "?" else None)


def available_records(data_dir: str | Path, names) -> list[str]:
    """Those of ``names`` whose ``.hea`` exists in ``data_dir`` (the shared copy lacks some)."""
    d = Path(data_dir)
    return [n for n in names if (d / f"{n}.hea").exists()]


def excluded_spans(ann) -> list[tuple[int, int]]:
    """Sample spans of ventricular flutter/fibrillation (``[``..``]`` or ``(VFL``), which EC57
    excludes from beat-by-beat QRS-detection scoring."""
    spans, start = [], None
    for s, sym, note in zip(ann.sample, ann.symbol, ann.aux_note, strict=True):
        if sym == "[" or (sym == "+" and note.startswith("(VF")):
            start = int(s) if start is None else start
        elif start is not None and (sym == "]" or sym == "+"):
            spans.append((start, int(s)))
            start = None
    if start is not None:
        spans.append((start, int(ann.sample[-1]) + 1))
    return spans


def cinc2017_reference(data_dir: str | Path) -> dict[str, str]:
    """``{record: label}`` from CinC 2017 ``REFERENCE.csv`` (N, A, O, ~)."""
    path = Path(data_dir) / "REFERENCE.csv"
    if not path.exists():
        raise InputFileNotFoundError(f"'{path}' does not exist.",
                                     hint="point --data-dir at the folder holding cinc2017/.")
    ref = {}
    for line in path.read_text().splitlines():
        if line.strip():
            name, label = line.strip().split(",")[:2]
            ref[name] = label
    return ref


def cinc2017_split(reference: dict[str, str], *, test_fraction: float = 0.3, seed: int = 2017
                   ) -> tuple[list[str], list[str]]:
    """Seeded split stratified by label: ``(train_names, test_names)``.

    The rhythm model trains and picks its threshold on ``train``; benchmarks report ``test``.
    """
    if not 0 < test_fraction < 1:
        raise InvalidInputError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in sorted(set(reference.values())):
        names = sorted(n for n, lbl in reference.items() if lbl == label)
        rng.shuffle(names)
        k = int(round(len(names) * test_fraction))
        test += names[:k]
        train += names[k:]
    return sorted(train), sorted(test)


def label_detected_beats(peaks: np.ndarray, ann, fs: float, tol_s: float = 0.15) -> np.ndarray:
    """AAMI class of the reference beat nearest each detected peak (within ``tol_s``), else "".

    Parameters
    ----------
    peaks : ndarray of int
        Detected R-peaks.
    ann : Annotations
        Reference annotations of the record.
    fs : float
        Sampling rate in Hz.
    """
    ref = [(int(s), aami_class(sym)) for s, sym in zip(ann.sample, ann.symbol, strict=True)]
    ref = [(s, c) for s, c in ref if c is not None]
    out = np.full(np.asarray(peaks).size, "", dtype="<U1")
    if not ref:
        return out
    rs = np.array([s for s, _ in ref])
    rc = np.array([c for _, c in ref])
    j = np.clip(np.searchsorted(rs, peaks), 1, rs.size - 1) if rs.size > 1 else np.zeros(len(peaks), int)
    if rs.size > 1:
        left = j - 1
        j = np.where(np.abs(rs[left] - peaks) <= np.abs(rs[j] - peaks), left, j)
    near = np.abs(rs[j] - peaks) <= tol_s * fs
    out[near] = rc[j[near]]
    return out


def cinc2017_features(folder: str | Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rhythm features and usable fraction of each named CinC 2017 record.

    Each record goes through the package's own pipeline (``preprocess``: cleaning, quality,
    R-peaks) and :func:`~cardioclarity.ecg.records.rhythm.rhythm_features` over the whole record.
    Records with no usable signal get a NaN row and usable fraction 0.
    """
    from cardioclarity.ecg.records.analyze import preprocess
    from cardioclarity.ecg.records.io import read_record
    from cardioclarity.ecg.records.rhythm import FEATURE_NAMES, rhythm_features
    from cardioclarity.errors import CardioClarityError
    from cardioclarity.reporting import progress

    folder = Path(folder)
    F = np.full((len(names), len(FEATURE_NAMES)), np.nan)
    usable = np.zeros(len(names))
    for i, name in enumerate(progress(names, desc="cinc2017 features", unit="rec")):
        try:
            rec = read_record(folder / f"{name}.hea")
            prep = preprocess(rec)
        except CardioClarityError:
            continue
        usable[i] = prep.quality.usable_fraction
        F[i] = rhythm_features(prep.peaks, rec.fs, prep.clean, valid=prep.rr_valid)
    return F, usable
