"""One reader per ECG file format: WFDB, CSV/TXT, EDF, JSON signal, and WFDB uploads.

Each ``read_*`` function takes what :func:`cardioclarity.ecg.records.io.read_record` resolved
(a path or bytes, the lead asked for, ``fs`` where the format carries none) and returns a
:class:`~cardioclarity.ecg.records.record.Record`, or raises a
:class:`~cardioclarity.errors.CardioClarityError` that names the file and the rule it broke.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path, PurePosixPath

import numpy as np

from cardioclarity.ecg.records.record import MIN_FS, Annotations, Record, check_signal, select_lead
from cardioclarity.errors import InputFileNotFoundError, InvalidInputError, MissingDataFileError
from cardioclarity.validation import check_finite_matrix, check_fs

__all__ = ["read_edf", "read_json", "read_text", "read_wfdb", "wfdb_upload"]

#: Annotation files read beside a WFDB record, first found wins (reference beats, rhythm).
_ANN_EXTENSIONS = ("atr", "qrs", "ecg")


# --------------------------------------------------------------------------------------------
# WFDB
# --------------------------------------------------------------------------------------------
def read_wfdb(base: Path, lead: str | int | None, name: str | None) -> Record:
    """One lead of the WFDB record at ``base`` (path without extension), with its annotations.

    The header is read first so that a missing or short signal file is reported by name before
    wfdb reads any sample.
    """
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
    sig = check_signal(rec.p_signal[:, 0], f"Record '{base.name}'")
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


def read_text(data: bytes, source: str, name: str, lead: str | int | None, fs: float | None,
              fmt: str) -> Record:
    """One column of a CSV/TXT signal table (optional header row names the leads); needs ``fs``."""
    arr, names = _parse_text(data, source)
    fs = check_fs(fs, minimum=MIN_FS, source=source)
    idx = select_lead(names, lead)
    sig = check_signal(arr[:, idx], source)
    return Record(signal=sig, fs=fs, lead=names[idx], leads=names, name=name,
                  meta={"format": fmt, "n_leads": len(names)})


# --------------------------------------------------------------------------------------------
# EDF (via wfdb's reader)
# --------------------------------------------------------------------------------------------
def read_edf(path: Path, lead: str | int | None, name: str) -> Record:
    """One signal of the EDF/EDF+ file at ``path`` (its size checked against its header first)."""
    from wfdb.io.convert.edf import read_edf as wfdb_read_edf

    _check_edf_size(path)
    try:
        rec = wfdb_read_edf(str(path))
    except Exception as exc:
        raise InvalidInputError(f"'{path.name}' is not a readable EDF file ({_short(exc)}).",
                                hint="the file may be truncated; re-export it.") from exc
    leads = [s.strip() for s in rec.sig_name]
    idx = select_lead(leads, lead)
    fs = check_fs(rec.fs, minimum=MIN_FS, source=f"'{path.name}'")
    sig = check_signal(rec.p_signal[:, idx], f"'{path.name}'")
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


def read_json(data: bytes, source: str, name: str, lead, fs) -> Record:
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
    return Record(signal=check_signal(samples[0], source), fs=rate, lead=lead_name,
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


def wfdb_upload(files: dict[str, bytes], header_name: str) -> tuple[str, dict[str, bytes]]:
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
