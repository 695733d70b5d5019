"""Read ECG recordings (WFDB, CSV/TXT, EDF) from a path, raw bytes or uploaded files.

One function, :func:`read_record`, returns a :class:`Record` holding one lead as a 1-D float
array in physical units (mV where the file says so), its sampling rate, the names of all leads,
and the reference beat/rhythm annotations when the record has them (WFDB ``.atr``/``.qrs``).
All knowledge of ECG formats lives here: WFDB (from files or uploaded ``{filename: bytes}``,
whatever name the header arrives under), CSV/TXT, EDF and a JSON signal
``{"signal": [...], "fs": 360, "lead": "MLII"}``. Uploads are recognised by their content
(:func:`cardioclarity.sniff.sniff`), not by their names.

Everything a user can get wrong raises a :class:`~cardioclarity.errors.CardioClarityError`
subclass naming what was expected, what came and how to fix it: a missing ``.dat``, a truncated
file, an unknown lead (the error lists the leads that exist), a sampling rate below 100 Hz, an
empty or all-NaN signal.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from cardioclarity.errors import (
    InputFileNotFoundError,
    InvalidInputError,
    MissingDataFileError,
    UnsupportedFormatError,
)
from cardioclarity.sniff import describe_kind, sniff
from cardioclarity.validation import check_finite_matrix, check_fs

__all__ = ["MIN_FS", "Annotations", "Record", "read_record", "select_lead"]

#: Below this the QRS complex (10-40 Hz content) cannot be resolved.
MIN_FS = 100.0

#: Preferred leads, in order, when none is asked for: the monitoring leads in which R-peaks are
#: tallest and detectors are validated (MIT-BIH uses MLII; 12-lead files call it II).
_PREFERRED_LEADS = ("MLII", "II", "ECG", "ECG1", "ECG I", "I", "V5", "V1", "MCL1", "V2")
#: Channel names that are not ECG (so "first channel" never picks a pressure or pleth trace).
_NON_ECG = re.compile(r"^(ABP|ART|PAP|CVP|PLETH|PPG|RESP|SPO2|SAO2|CO2|PRESSURE|BP|TEMP|EEG|EMG|EOG|"
                      r"NU|STIM|EVENT|MARKER|EDF ANNOTATIONS)", re.I)
_ANN_EXTENSIONS = ("atr", "qrs", "ecg")


@dataclass
class Annotations:
    """Reference annotations of a record (WFDB ``rdann``).

    Attributes
    ----------
    sample : ndarray of int
        Sample index of each annotation, in the record's own sampling rate.
    symbol : list of str
        Beat symbol (``N``, ``V``, ``A``...) or ``+`` for rhythm changes.
    aux_note : list of str
        Rhythm label on ``+`` annotations (``(N``, ``(AFIB``...), else ``""``.
    extension : str
        The annotation file it came from (``atr``...).
    """

    sample: np.ndarray
    symbol: list[str]
    aux_note: list[str]
    extension: str = "atr"


@dataclass
class Record:
    """One ECG lead of a recording, ready for processing.

    Attributes
    ----------
    signal : ndarray of float64, shape (n_samples,)
        The chosen lead in physical units (``units``). May hold NaN where the source had gaps.
    fs : float
        Sampling rate in Hz.
    lead : str
        Name of the chosen lead.
    leads : list of str
        Names of all leads in the source.
    name : str
        Record name (file stem, or the name given for bytes).
    annotations : Annotations or None
        Reference annotations when the source has them.
    units : str
        Physical unit of ``signal`` (``"mV"`` for most ECG files; ``""`` when unknown).
    meta : dict
        Source format, header comments and other details.
    """

    signal: np.ndarray
    fs: float
    lead: str
    leads: list[str]
    name: str
    annotations: Annotations | None = None
    units: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Length of the record in seconds."""
        return self.signal.size / self.fs


# --------------------------------------------------------------------------------------------
# lead and value checks shared by every format
# --------------------------------------------------------------------------------------------
def select_lead(leads: list[str], lead: str | int | None) -> int:
    """Index of the lead to analyse.

    Parameters
    ----------
    leads : list of str
        Channel names in the source.
    lead : str, int or None
        A name (case-insensitive), a 0-based index, or None for the default: the first of
        MLII, II, ECG, I, V5, V1... present, else the first channel not named like a
        non-ECG signal (ABP, PLETH, RESP...).

    Raises
    ------
    InvalidInputError
        The lead does not exist; the message lists the ones that do.
    """
    if not leads:
        raise InvalidInputError("The record has no signal channels.")
    if lead is None:
        lower = [s.strip().lower() for s in leads]
        for want in _PREFERRED_LEADS:
            if want.lower() in lower:
                return lower.index(want.lower())
        for i, s in enumerate(leads):
            if not _NON_ECG.match(s.strip()):
                return i
        return 0
    if isinstance(lead, int) or (isinstance(lead, str) and lead.isdigit() and lead not in leads):
        i = int(lead)
        if 0 <= i < len(leads):
            return i
        raise InvalidInputError(f"Lead index {i} is out of range: the record has {len(leads)} "
                                f"lead(s): {', '.join(leads)}.", hint="choose one of these names.")
    lower = [s.strip().lower() for s in leads]
    if lead.strip().lower() in lower:
        return lower.index(lead.strip().lower())
    raise InvalidInputError(f"Lead '{lead}' does not exist in this record; available leads: "
                            f"{', '.join(leads)}.", hint="pass --lead with one of these names.")


def _check_signal(sig: np.ndarray, source: str) -> np.ndarray:
    sig = np.asarray(sig, dtype=np.float64).ravel()
    if sig.size == 0:
        raise InvalidInputError(f"{source} holds no samples (zero-length signal).",
                                hint="check that the file is complete.")
    finite = np.isfinite(sig)
    if not finite.any():
        raise InvalidInputError(f"{source}: every sample of the chosen lead is NaN or inf.",
                                hint="choose another lead (--lead) or check the export.")
    # inf is as unusable as NaN; downstream quality assessment treats NaN as a gap.
    sig[~finite] = np.nan
    return sig


# --------------------------------------------------------------------------------------------
# WFDB
# --------------------------------------------------------------------------------------------
def _read_wfdb(base: Path, lead, name: str | None) -> Record:
    import wfdb

    hea = base.with_suffix(".hea") if base.suffix == ".hea" else Path(str(base) + ".hea")
    base = hea.with_suffix("")
    if not hea.exists():
        raise InputFileNotFoundError(f"WFDB header '{hea}' does not exist.",
                                     hint="give the .hea file or the record name without extension.")
    try:
        header = wfdb.rdheader(str(base))
    except Exception as exc:
        raise InvalidInputError(f"'{hea}' is not a readable WFDB header ({_short(exc)}).") from exc
    leads = list(header.sig_name or [])
    if not leads:
        raise InvalidInputError(f"WFDB header '{hea}' declares no signals.")
    for fname in sorted(set(header.file_name or [])):
        if not (hea.parent / fname).exists():
            raise InputFileNotFoundError(
                f"Signal file '{fname}' named by '{hea.name}' is missing from {hea.parent}.",
                hint="upload/copy the .dat (or .mat) file together with the .hea file.")
    idx = select_lead(leads, lead)
    _check_wfdb_size(header, hea.parent, idx)
    fs = check_fs(header.fs, minimum=MIN_FS, source=f"'{hea.name}'")
    try:
        rec = wfdb.rdrecord(str(base), channels=[idx], physical=True)
    except Exception as exc:
        raise InvalidInputError(f"Could not read the signal of WFDB record '{base.name}' "
                                f"({_short(exc)}).", hint="the file may be truncated or corrupt.") from exc
    sig = _check_signal(rec.p_signal[:, 0], f"Record '{base.name}'")
    ann = None
    for ext in _ANN_EXTENSIONS:
        if base.with_suffix("." + ext).exists() or Path(f"{base}.{ext}").exists():
            try:
                a = wfdb.rdann(str(base), ext)
            except Exception:  # an unreadable annotation file must not block the analysis
                continue
            ann = Annotations(np.asarray(a.sample, dtype=np.int64), list(a.symbol),
                              [(s or "").strip("\x00 ") for s in (a.aux_note or [""] * len(a.symbol))], ext)
            break
    return Record(signal=sig, fs=fs, lead=leads[idx], leads=leads, name=name or base.name,
                  annotations=ann, units=(rec.units or [""])[0] or "",
                  meta={"format": "wfdb", "comments": list(header.comments or []),
                        "n_leads": len(leads)})


def _check_wfdb_size(header, folder: Path, idx: int) -> None:
    """Refuse truncated signal files (wfdb would otherwise read garbage or fail cryptically)."""
    bits = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12,
            "310": 32 / 3, "311": 32 / 3}
    fname = header.file_name[idx]
    if not fname.endswith(".dat") or header.sig_len is None:
        return
    same = [i for i, f in enumerate(header.file_name) if f == fname]
    if any(header.fmt[i] not in bits for i in same):
        return
    expected = header.sig_len * sum(bits[header.fmt[i]] for i in same) / 8
    offset = (header.byte_offset or [0] * len(header.file_name))[idx] or 0
    actual = (folder / fname).stat().st_size - offset
    if actual + 2 < expected:  # +2: format 212 pads odd sample counts
        raise InvalidInputError(
            f"Signal file '{fname}' is truncated: the header promises {header.sig_len} samples "
            f"({int(expected)} bytes), the file has {actual} bytes.",
            hint="re-download or re-export the record.")


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}"


# --------------------------------------------------------------------------------------------
# CSV / TXT
# --------------------------------------------------------------------------------------------
def _parse_text(data: bytes, source: str) -> tuple[np.ndarray, list[str]]:
    text = data.decode("utf-8-sig", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InvalidInputError(f"{source} is empty: no samples.", hint="check the export.")
    delim = "," if "," in lines[0] else (";" if ";" in lines[0] else (
        "\t" if "\t" in lines[0] else None))
    first = lines[0].split(delim)
    names: list[str] = []
    try:
        [float(c) for c in first if c.strip()]
    except ValueError:
        names = [c.strip().strip('"') for c in first]
        lines = lines[1:]
    if not lines:
        raise InvalidInputError(f"{source} has a header but no samples.")
    try:
        arr = np.loadtxt(io.StringIO("\n".join(lines)), delimiter=delim, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise InvalidInputError(f"{source} is not a numeric signal table ({_short(exc)}).",
                                hint="expected one column per lead, one row per sample, "
                                     "optionally a header row of lead names.") from exc
    if arr.size == 0:
        raise InvalidInputError(f"{source} has a header but no samples.")
    if not names or len(names) != arr.shape[1]:
        names = [f"ch{i}" for i in range(arr.shape[1])] if arr.shape[1] > 1 else ["ECG"]
    # A leading time/sample column is not a lead: drop it when it is strictly increasing.
    if arr.shape[1] > 1 and re.match(r"^(time|t|sample|index|sec|seconds|ms)\b", names[0], re.I):
        arr, names = arr[:, 1:], names[1:]
    return arr, names


def _read_text(data: bytes, source: str, name: str, lead, fs, fmt: str) -> Record:
    arr, names = _parse_text(data, source)
    fs = check_fs(fs, minimum=MIN_FS, source=source)
    idx = select_lead(names, lead)
    sig = _check_signal(arr[:, idx], source)
    return Record(signal=sig, fs=fs, lead=names[idx], leads=names, name=name,
                  meta={"format": fmt, "n_leads": len(names)})


# --------------------------------------------------------------------------------------------
# EDF (via wfdb's reader)
# --------------------------------------------------------------------------------------------
def _read_edf(path: Path, lead, name: str) -> Record:
    from wfdb.io.convert.edf import read_edf

    _check_edf_size(path)
    try:
        rec = read_edf(str(path))
    except Exception as exc:
        raise InvalidInputError(f"'{path.name}' is not a readable EDF file ({_short(exc)}).",
                                hint="the file may be truncated; re-export it.") from exc
    leads = [s.strip() for s in rec.sig_name]
    idx = select_lead(leads, lead)
    fs = check_fs(rec.fs, minimum=MIN_FS, source=f"'{path.name}'")
    sig = _check_signal(rec.p_signal[:, idx], f"'{path.name}'")
    return Record(signal=sig, fs=fs, lead=leads[idx], leads=leads, name=name,
                  units=(rec.units or [""])[idx] or "", meta={"format": "edf", "n_leads": len(leads)})


def _check_edf_size(path: Path) -> None:
    """Refuse EDF files shorter than their header promises (a cut download or export)."""
    head = path.read_bytes()[:256]
    try:
        hdr_bytes, nrec, ns = int(head[184:192]), int(head[236:244]), int(head[252:256])
        with open(path, "rb") as fh:
            fh.seek(256 + 216 * ns)
            spr = [int(fh.read(8)) for _ in range(ns)]
    except ValueError as exc:
        raise InvalidInputError(f"'{path.name}' does not have a valid EDF header ({_short(exc)}).",
                                hint="check that the file is a complete EDF/EDF+ file.") from exc
    expected = hdr_bytes + max(nrec, 0) * 2 * sum(spr)
    actual = path.stat().st_size
    if actual < expected:
        raise InvalidInputError(
            f"EDF file '{path.name}' is truncated: the header promises {expected} bytes, the file "
            f"has {actual}.", hint="re-export or re-download the recording.")


# --------------------------------------------------------------------------------------------
# JSON signal
# --------------------------------------------------------------------------------------------
_JSON_HINT = 'send {"signal": [...], "fs": 360, "lead": "MLII"}.'


def _read_json(data: bytes, source: str, name: str, lead, fs) -> Record:
    """One lead sent as JSON ``{"signal": [...], "fs": 360, "lead": "MLII"}``.

    ``fs`` and ``lead`` given as arguments win over the JSON fields; the lead name defaults to
    "ECG". An integer ``lead`` selects the only lead (0).
    """
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInputError(f"{source} is not valid JSON ({type(exc).__name__}).",
                                hint="check the JSON syntax.") from None
    if not isinstance(doc, dict) or "signal" not in doc:
        raise InvalidInputError("The JSON signal must be an object with a 'signal' list.",
                                hint=_JSON_HINT)
    if not isinstance(doc["signal"], list):
        raise InvalidInputError("The JSON field 'signal' must be a list of numbers.",
                                hint=_JSON_HINT)
    samples = check_finite_matrix(doc["signal"], "JSON field 'signal'", dtype=np.float64,
                                  hint=_JSON_HINT)
    if samples.shape[0] != 1:
        raise InvalidInputError(f"The JSON field 'signal' must be a flat list of numbers (one "
                                f"lead), got {samples.shape[0]} rows.", hint=_JSON_HINT)
    rate = check_fs(fs if fs is not None else doc.get("fs"),
                    "fs" if fs is not None else "JSON field fs", minimum=MIN_FS, source=source,
                    hint=None if fs is not None or doc.get("fs") is not None else _JSON_HINT)
    lead_name = str(lead if isinstance(lead, str) else doc.get("lead") or "ECG")[:64] or "ECG"
    select_lead([lead_name], lead if isinstance(lead, int) else None)  # an index must be 0
    return Record(signal=_check_signal(samples[0], source), fs=rate, lead=lead_name,
                  leads=[lead_name], name=name, meta={"format": "json", "n_leads": 1})


# --------------------------------------------------------------------------------------------
# WFDB uploads: which files a header needs
# --------------------------------------------------------------------------------------------
def _wfdb_needs(header: bytes) -> tuple[str, list[str]]:
    """Record name and the signal files a WFDB header refers to (none for multi-segment)."""
    lines = [ln.strip() for ln in header.decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    record_line = lines[0].split()
    record, nsig = record_line[0].split("/")[0], int(record_line[1])
    if "/" in record_line[0]:
        return record, []  # multi-segment: the segments are headers themselves, checked by wfdb
    files: list[str] = []
    for line in lines[1:1 + nsig]:
        fname = line.split()[0]
        if fname != "~" and PurePosixPath(fname).name not in files:
            files.append(PurePosixPath(fname).name)
    return record, files


def _wfdb_upload(files: dict[str, bytes], header_name: str) -> tuple[str, dict[str, bytes]]:
    """The upload with its header named ``<record>.hea``; raises when data files are missing.

    The header may arrive under any name (a raw request body is called "upload"): the record
    name comes from the header's first line.
    """
    try:
        record, needed = _wfdb_needs(files[header_name])
    except (IndexError, ValueError):  # not a parseable header: wfdb's reader says why
        return Path(header_name).stem, dict(files)
    files = dict(files)
    files[f"{record}.hea"] = files.pop(header_name)
    missing = [f for f in needed if f not in files]
    if missing:
        raise MissingDataFileError(
            f"The WFDB header of record '{record}' refers to "
            f"{', '.join(repr(m) for m in missing)}, which "
            f"{'was' if len(missing) == 1 else 'were'} not uploaded.",
            hint="send the header together with its data files (multipart with several files, "
            "or one zip).")
    return record, files


# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------
_FORMATS = ("auto", "wfdb", "csv", "txt", "edf", "json")
#: What :func:`cardioclarity.sniff.sniff` kinds mean to this reader.
_SNIFFED = {"edf": "edf", "json": "json", "text": "csv", "wfdb-header": "wfdb"}


def read_record(source: str | Path | bytes | Mapping[str, bytes], *, lead: str | int | None = None,
                fs: float | None = None, fmt: str = "auto", name: str | None = None) -> Record:
    """Read one lead of an ECG recording.

    Parameters
    ----------
    source : path, bytes or mapping
        - a path to a WFDB record (``.hea`` file or the base name without extension; ``.dat`` or
          ``.mat`` signal files beside it), a ``.csv``/``.txt`` signal table, or an ``.edf`` file;
        - raw ``bytes`` of a CSV/TXT signal table (needs ``fs``), of an EDF file or of a JSON
          signal ``{"signal": [...], "fs": 360, "lead": "MLII"}``;
        - a mapping ``{filename: bytes}`` of uploaded files, e.g. ``{"100.hea": ..., "100.dat":
          ..., "100.atr": ...}`` or a ``.hea`` + ``.mat`` pair (the header is recognised by its
          content, under any name), or a single CSV/EDF/JSON file.
    lead : str or int, optional
        Lead name (case-insensitive) or 0-based index; default MLII / II / ECG / I / first ECG
        channel. For a JSON signal, the name of its one lead (default: its "lead" field, else
        "ECG").
    fs : float, optional
        Sampling rate in Hz; required for CSV/TXT (they carry none), optional for JSON (default:
        its "fs" field), ignored for WFDB/EDF.
    fmt : {"auto", "wfdb", "csv", "txt", "edf", "json"}
        Format; "auto" decides by extension, then by content.
    name : str, optional
        Record name for reports (default: the file stem, or the WFDB header's record name).

    Returns
    -------
    Record

    Raises
    ------
    InputFileNotFoundError
        The path or a file the header names (e.g. the ``.dat``) is missing.
    UnsupportedFormatError
        The input is none of the supported formats.
    InvalidInputError
        Empty/all-NaN/truncated signal, unknown or < 100 Hz sampling rate, unknown lead, JSON
        that is not a signal object; a WFDB upload without the data files its header names
        (``kind="missing-data-file"``).
    """
    if fmt not in _FORMATS:
        raise InvalidInputError(f"Unknown record format '{fmt}'; valid options: {', '.join(_FORMATS)}.")
    if isinstance(source, Mapping):
        return _read_uploaded(source, lead=lead, fs=fs, fmt=fmt, name=name)
    if isinstance(source, bytes | bytearray | memoryview):
        return _read_uploaded({"upload": bytes(source)}, lead=lead, fs=fs, fmt=fmt, name=name,
                              raw=True)
    path = Path(source)
    suffix = path.suffix.lower()
    kind = fmt
    if kind == "auto":
        if suffix in (".hea", ".dat", ".mat", ".atr") or (not suffix and Path(f"{path}.hea").exists()):
            kind = "wfdb"
        elif suffix in (".csv", ".txt", ".tsv"):
            kind = "csv"
        elif suffix in (".edf", ".rec"):
            kind = "edf"
        elif suffix == ".json":
            kind = "json"
        elif not path.exists() and Path(f"{path}.hea").exists():
            kind = "wfdb"
        elif not path.exists():
            raise InputFileNotFoundError(f"Input '{path}' does not exist.",
                                         hint="check the path (WFDB records: give the .hea file).")
        else:
            raise UnsupportedFormatError(
                f"'{path.name}' has an unknown extension '{suffix}'; expected a WFDB record "
                "(.hea + .dat/.mat), .csv/.txt (with --fs), .edf or .json.",
                hint="convert the file, or pass fmt= explicitly.")
    if kind == "wfdb":
        base = path.with_suffix("") if suffix in (".hea", ".dat", ".mat", ".atr") else path
        return _read_wfdb(base, lead, name)
    if not path.exists():
        raise InputFileNotFoundError(f"Input '{path}' does not exist.", hint="check the path.")
    if kind == "edf":
        return _read_edf(path, lead, name or path.stem)
    if kind == "json":
        return _read_json(path.read_bytes(), f"'{path.name}'", name or path.stem, lead, fs)
    return _read_text(path.read_bytes(), f"'{path.name}'", name or path.stem, lead, fs, kind)


def _read_uploaded(files: Mapping[str, bytes], *, lead, fs, fmt: str, name: str | None,
                   raw: bool = False) -> Record:
    """Read a record from uploaded ``{filename: bytes}`` (or raw bytes, named "upload")."""
    if not files:
        raise InvalidInputError("No files were uploaded.", hint="upload a .hea + .dat/.mat pair or a CSV.")
    clean = {Path(str(k)).name: bytes(v) for k, v in files.items()}  # never trust client paths
    sniffed = {k: _kind_of(k, v) for k, v in clean.items()}
    heads = [k for k in clean if k.lower().endswith(".hea") or sniffed[k] == "wfdb-header"]
    if heads or fmt == "wfdb":
        if not heads:
            raise InvalidInputError(f"WFDB upload without a .hea header (got {sorted(clean)}).",
                                    hint="upload the .hea file together with its .dat/.mat file.")
        record, clean = _wfdb_upload(clean, heads[0])
        with tempfile.TemporaryDirectory(prefix="cc-upload-") as tmp:
            for k, v in clean.items():
                (Path(tmp) / k).write_bytes(v)
            return _read_wfdb(Path(tmp) / record, lead, name)
    if len(clean) != 1:
        raise InvalidInputError(f"Expected one signal file or a WFDB set, got {sorted(clean)}.",
                                hint="upload one CSV/EDF/JSON file, or .hea + .dat/.mat (+ .atr).")
    (fname, data), = clean.items()
    stem = name or ("upload" if raw else Path(fname).stem)
    source = "the uploaded signal" if raw else f"'{fname}'"
    kind = fmt if fmt != "auto" else _SNIFFED.get(sniffed[fname], sniffed[fname])
    if kind == "edf":
        with tempfile.TemporaryDirectory(prefix="cc-upload-") as tmp:
            p = Path(tmp) / "upload.edf"
            p.write_bytes(data)
            return _read_edf(p, lead, stem)
    if kind == "json":
        return _read_json(data, source, stem, lead, fs)
    if kind in ("csv", "txt"):
        return _read_text(data, source, stem, lead, fs, kind)
    what = "The uploaded bytes are" if raw else f"'{fname}' is"
    raise UnsupportedFormatError(
        f"{what} {describe_kind(kind)}, not a supported ECG format.",
        hint="upload a WFDB record (.hea + .dat/.mat), a CSV/TXT (with fs), an EDF or a JSON "
        "signal.")


def _kind_of(fname: str, data: bytes) -> str:
    """Sniffed kind of an uploaded file (an ``.edf`` name wins: EDF headers vary in the wild)."""
    return "edf" if fname.lower().endswith(".edf") else sniff(data)
