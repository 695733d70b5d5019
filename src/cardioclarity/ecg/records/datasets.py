"""Public record datasets used for training and benchmarks: MIT-BIH splits and CinC 2017.

Loads go through :func:`cardioclarity.ecg.records.io.read_record`, the same reader a user calls on their
own downloads. The data itself is not part of the package (pass its folder).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardioclarity.ecg.records.ec57 import nearest
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD
from cardioclarity.errors import InputFileNotFoundError, InvalidInputError

__all__ = [
    "AAMI_CLASSES",
    "BEAT_SYMBOLS",
    "DS1",
    "DS2",
    "PACED",
    "aami_class",
    "af_reference_mask",
    "available_records",
    "cinc2017_features",
    "cinc2017_reference",
    "cinc2017_split",
    "excluded_spans",
    "beat_feature_table",
    "labelled_beat_features",
    "vf_window_table",
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


def af_reference_mask(ann, n_samples: int) -> np.ndarray:
    """Per sample: inside an ``(AFIB`` or ``(AFL`` reference rhythm episode (MIT-BIH rhythm
    annotations: ``+`` beats whose aux note names the rhythm from there on)."""
    af = np.zeros(int(n_samples), bool)
    cur, cur_start = None, 0
    for s, sym, note in zip(ann.sample, ann.symbol, ann.aux_note, strict=True):
        if sym == "+" and note:
            if cur is not None and cur.startswith(("(AFIB", "(AFL")):
                af[cur_start:s] = True
            cur, cur_start = note, int(s)
    if cur is not None and cur.startswith(("(AFIB", "(AFL")):
        af[cur_start:] = True
    return af


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
    j = nearest(rs, peaks)
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


def labelled_beat_features(folder: str | Path, names, *, lead: str | int | None = None,
                           beat_model=None, peak_method: str = DEFAULT_PEAK_METHOD
                           ) -> dict[str, np.ndarray]:
    """Beat features (:func:`~cardioclarity.ecg.records.features.beat_features`) of every
    detected beat of the named annotated records, with the AAMI class of its reference beat.

    Each record goes through the package's own pipeline, as :func:`~cardioclarity.ecg.records.
    analyze.analyze_record` runs it (cleaning, quality, R-peaks, patient-adaptive autoencoder
    score), so training sees the features inference computes. Detections without a reference
    beat within 150 ms get class "". ``peak_method`` names the R-peak detector
    (:func:`~cardioclarity.ecg.records.processing.ecg_peaks`).

    Returns
    -------
    dict
        ``F`` (n_beats, n_features), ``y`` (AAMI class or ""), ``record`` (name per beat),
        ``sample`` (detected R-peak), ``fs`` (per beat).
    """
    from cardioclarity.ecg.records.analyze import patient_reference, preprocess, score_beats
    from cardioclarity.ecg.records.features import beat_features
    from cardioclarity.ecg.records.io import read_record
    from cardioclarity.ecg.records.scoring import RecordBeatModel
    from cardioclarity.reporting import progress

    bm = beat_model if beat_model is not None else RecordBeatModel.load()
    out: dict[str, list] = {"F": [], "y": [], "record": [], "sample": [], "fs": []}
    for name in progress(list(names), desc=f"beat features {Path(folder).name}", unit="rec"):
        rec = read_record(Path(folder) / name, lead=lead)
        prep = preprocess(rec, peak_method=peak_method)
        ref = patient_reference(prep, rec.fs)
        scores, _ = score_beats(prep, rec.fs, bm, "auto", reference=ref)
        F, _ = beat_features(prep.clean, prep.peaks, rec.fs, rr_valid=prep.rr_valid,
                             ae_score=scores.morphology if scores is not None else None,
                             reference=ref)
        out["F"].append(F)
        out["y"].append(label_detected_beats(prep.peaks, rec.annotations, rec.fs))
        out["record"].append(np.full(prep.peaks.size, name, dtype="<U8"))
        out["sample"].append(prep.peaks)
        out["fs"].append(np.full(prep.peaks.size, rec.fs))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}


#: Databases :func:`beat_feature_table` knows: folder under the data directory and lead.
BEAT_DATABASES = {"mitdb": ("mitdb", "MLII"), "svdb": ("svdb", None)}


def beat_feature_table(data_dir: str | Path, database: str, *,
                       cache_dir: str | Path | None = None,
                       peak_method: str = DEFAULT_PEAK_METHOD) -> dict[str, np.ndarray]:
    """:func:`labelled_beat_features` of every available record of ``database`` ("mitdb": DS1
    and DS2, paced records excluded; "svdb": all), cached as ``<database>-<peak_method>.npz`` in
    ``cache_dir``.
    """
    if database not in BEAT_DATABASES:
        raise InvalidInputError(f"database must be one of {sorted(BEAT_DATABASES)}, "
                                f"got {database!r}.")
    sub, lead = BEAT_DATABASES[database]
    folder = Path(data_dir) / sub
    if database == "mitdb":
        names = available_records(folder, DS1 + DS2)
    else:
        names = sorted(p.stem for p in folder.glob("*.hea"))
    if not names:
        raise InputFileNotFoundError(f"No {database} records in '{folder}'.",
                                     hint="point --data-dir at the folder holding mitdb/, svdb/.")
    cache = Path(cache_dir) / f"{database}-{peak_method}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        z = dict(np.load(cache, allow_pickle=False))
        if sorted(set(z["record"].tolist())) == sorted(names):
            return z
    table = labelled_beat_features(folder, names, lead=lead, peak_method=peak_method)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **table)
    return table


def _vf_sources(data_dir: Path) -> list[tuple[str, str, Path, int | str | None]]:
    """(database, record id, path, lead) of every record :func:`vf_window_table` reads."""
    out = []
    for p in sorted((data_dir / "cudb").glob("cu*.hea")):
        out.append(("cudb", p.stem, p, None))
    for p in sorted((data_dir / "mitdb").glob("[0-9]*.hea")):
        out.append(("mitdb", p.stem, p, None))
    for n in ("bw", "em", "ma"):
        p = data_dir / "nstdb" / f"{n}.hea"
        if p.exists():
            out += [("nstdb-noise", f"{n}{ch}", p, ch) for ch in (0, 1)]
    return out


def vf_window_table(data_dir: str | Path, *, cache_dir: str | Path | None = None
                    ) -> dict[str, np.ndarray]:
    """VF window features (:func:`~cardioclarity.ecg.records.ventricular.vf_window_features`)
    of cudb, MIT-BIH and the nstdb noise records, with a label per window.

    Label 1: at least half the window inside a reference VF/flutter span (``[``..``]`` or
    ``(VFL``); 0: none of it; -1 (left out of training and scoring): in between. Noise records
    are all 0.

    Returns
    -------
    dict
        ``F``, ``y``, ``record`` (``db/name``), ``start_s``, ``duration_s`` (per window: its
        record's duration) and ``spans`` (``record, start_s, end_s`` rows of the VF spans).
    """
    from cardioclarity.ecg.records.io import read_record
    from cardioclarity.ecg.records.processing import ecg_clean
    from cardioclarity.ecg.records.ventricular import VF_WINDOW_S, vf_window_features
    from cardioclarity.reporting import progress

    data_dir = Path(data_dir)
    cache = Path(cache_dir) / "vf_windows.npz" if cache_dir else None
    if cache is not None and cache.exists():
        return dict(np.load(cache, allow_pickle=False))
    out: dict[str, list] = {"F": [], "y": [], "record": [], "start_s": [], "duration_s": []}
    spans = []
    for db, name, path, lead in progress(_vf_sources(data_dir), desc="vf windows", unit="rec"):
        rec = read_record(path, lead=lead)
        starts, F = vf_window_features(ecg_clean(rec.signal, rec.fs), rec.fs)
        rid = f"{db}/{name}"
        inside = np.zeros(starts.size)
        if rec.annotations is not None and db != "nstdb-noise":
            for a, b in excluded_spans(rec.annotations):
                a_s, b_s = a / rec.fs, b / rec.fs
                spans.append((rid, a_s, b_s))
                inside += np.clip(np.minimum(starts + VF_WINDOW_S, b_s) - np.maximum(starts, a_s),
                                  0, None) / VF_WINDOW_S
        y = np.where(inside >= 0.5, 1, np.where(inside > 0, -1, 0))
        out["F"].append(F)
        out["y"].append(y)
        out["record"].append(np.full(starts.size, rid, dtype="<U24"))
        out["start_s"].append(starts)
        out["duration_s"].append(np.full(starts.size, rec.signal.size / rec.fs))
    table = {k: np.concatenate(v) for k, v in out.items()}
    table["spans"] = np.array([f"{r},{a:.3f},{b:.3f}" for r, a, b in spans], dtype="<U48")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **table)
    return table
