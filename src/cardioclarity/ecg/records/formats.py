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

from cardioclarity.ecg.records.edf import read_edf
from cardioclarity.ecg.records.record import (
    MIN_FS,
    Annotations,
    Record,
    check_fs_agrees,
    check_signal,
    select_lead,
)
from cardioclarity.errors import (
    InputFileNotFoundError,
    InvalidInputError,
    MissingDataFileError,
    exception_summary,
)
from cardioclarity.validation import check_finite_matrix, check_fs, check_n_samples

__all__ = ["read_edf", "read_json", "read_text", "read_wfdb", "wfdb_upload"]

#: Annotation files read beside a WFDB record, first found wins (reference beats, rhythm).
_ANN_EXTENSIONS = ("atr", "qrs", "ecg")


# --------------------------------------------------------------------------------------------
# WFDB
# --------------------------------------------------------------------------------------------
def read_wfdb(base: Path, lead: str | int | None, name: str, fs: float | None = None) -> Record:
    """One lead of the WFDB record at ``base`` (path without extension), with its annotations.

    Single-segment records, multi-frequency records (a lead sampled several times per frame) and
    multi-segment records (fixed or variable layout, MIMIC style: gaps are NaN) are read. The
    header is read first so that a missing or short signal file, a layout header, a rate that
    disagrees with ``fs`` or a record too long to hold are reported before any sample is read.
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
        raise InvalidInputError(f"'{hea}' is not a readable WFDB header ({exception_summary(exc, 160)}).") from exc
    if getattr(header, "seg_name", None):
        sig, rate, leads, idx, units = _read_multi_segment(header, hea, lead, fs)
    else:
        sig, rate, leads, idx, units = _read_single_segment(header, hea, lead, fs)
    # Annotations count frames; a lead sampled k times per frame is read at k x the frame rate.
    per_frame = max(int(round(rate / header.fs)), 1)
    return Record(signal=check_signal(sig, f"Record '{base.name}'"), fs=rate, lead=leads[idx],
                  leads=leads, name=name or base.name,
                  annotations=_read_annotations(base, per_frame),
                  units=units, meta={"format": "wfdb", "comments": list(header.comments or []),
                                     "n_leads": len(leads)})


def _read_single_segment(header, hea: Path, lead, fs_given) -> tuple:
    """(samples, fs, leads, index, units) of one lead of a single-segment WFDB record."""
    import wfdb

    leads = list(header.sig_name or [])
    if not leads:
        raise InvalidInputError(f"WFDB header '{hea}' declares no signals.")
    files = list(header.file_name or [])
    if files and all(f == "~" for f in files) and not header.sig_len:
        raise InvalidInputError(
            f"'{hea.name}' is the layout header of a multi-segment record: it lists the "
            f"channels ({', '.join(leads)}), not samples.",
            hint=f"read the record's master header{_master_of(hea)} instead.")
    for fname in sorted(set(files) - {"~"}):
        if not (hea.parent / fname).exists():
            raise InputFileNotFoundError(
                f"Signal file '{fname}' named by '{hea.name}' is missing from {hea.parent}.",
                hint="upload/copy the .dat (or .mat) file together with the .hea file.")
    idx = select_lead(leads, lead)
    spf = int((header.samps_per_frame or [1] * len(leads))[idx] or 1)
    fs = check_fs(header.fs * spf, minimum=MIN_FS, source=f"'{hea.name}'")
    check_fs_agrees(fs_given, fs, f"'{hea.name}'")
    _check_wfdb_size(header, hea.parent, idx)
    base = hea.with_suffix("")
    try:
        rec = wfdb.rdrecord(str(base), channels=[idx], physical=True, smooth_frames=spf == 1)
    except Exception as exc:
        raise InvalidInputError(f"Could not read the signal of WFDB record '{base.name}' "
                                f"({exception_summary(exc, 160)}).", hint="the file may be truncated or corrupt.") from exc
    sig = rec.p_signal[:, 0] if spf == 1 else rec.e_p_signal[0]
    return sig, fs, leads, idx, (rec.units or [""])[0] or ""


def _read_multi_segment(header, hea: Path, lead, fs_given) -> tuple:
    """(samples, fs, leads, index, units) of one lead across the segments of a multi-segment
    record; gaps between segments (and segments without that lead) are NaN."""
    import wfdb

    folder = hea.parent
    segs = [s for s in header.seg_name if s != "~"]
    missing = [s for s in segs if not (folder / f"{s}.hea").exists()]
    if missing:
        raise InputFileNotFoundError(
            f"Multi-segment record '{hea.stem}' names {len(missing)} segment header(s) missing "
            f"from {folder}: {', '.join(repr(m + '.hea') for m in missing[:5])}"
            f"{f' and {len(missing) - 5} more' if len(missing) > 5 else ''}.",
            hint="copy every segment (.hea + .dat) of the record beside its master header.")
    if not segs:
        raise InvalidInputError(f"Multi-segment record '{hea.stem}' holds gaps only: none of "
                                "its segments has samples.")
    heads = {s: wfdb.rdheader(str(folder / s)) for s in segs}
    # Variable layout: the first segment is the layout header naming every channel.
    leads = list(heads[segs[0]].sig_name or [])
    if not leads:
        raise InvalidInputError(f"Multi-segment record '{hea.stem}' declares no signals.")
    idx = select_lead(leads, lead)
    for s, h in heads.items():
        if leads[idx] in (h.sig_name or []) and h.sig_len:
            for fname in sorted(set(h.file_name or []) - {"~"}):
                if not (folder / fname).exists():
                    raise InputFileNotFoundError(
                        f"Signal file '{fname}' of segment '{s}' of record '{hea.stem}' is "
                        f"missing from {folder}.",
                        hint="copy every segment (.hea + .dat) beside the master header.")
    fs = check_fs(header.fs, minimum=MIN_FS, source=f"'{hea.name}'")
    check_fs_agrees(fs_given, fs, f"'{hea.name}'")
    check_n_samples(header.sig_len or 0, fs, f"Record '{hea.stem}'")
    try:
        rec = wfdb.rdrecord(str(hea.with_suffix("")), channel_names=[leads[idx]], m2s=True,
                            physical=True)
    except Exception as exc:
        raise InvalidInputError(f"Could not read lead {leads[idx]} of multi-segment record "
                                f"'{hea.stem}' ({exception_summary(exc, 160)}).",
                                hint="a segment file may be truncated or corrupt.") from exc
    return rec.p_signal[:, 0], fs, leads, idx, (rec.units or [""])[0] or ""


def _master_of(layout: Path) -> str:
    """`` '<master>.hea'`` when a header beside ``layout`` names it as its layout, else ""."""
    for other in sorted(layout.parent.glob("*.hea")):
        try:
            with open(other, encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096).split()
        except OSError:
            continue
        if other != layout and len(head) > 4 and "/" in head[0] and layout.stem in head:
            return f" '{other.name}'"
    return " (the .hea whose first line reads 'name/segments ...')"


def _read_annotations(base: Path, per_frame: int = 1) -> Annotations | None:
    """The first readable reference annotation file beside the record, if any (sample numbers
    times ``per_frame``, the samples per frame of the lead read)."""
    import wfdb

    for ext in _ANN_EXTENSIONS:
        if base.with_suffix("." + ext).exists() or Path(f"{base}.{ext}").exists():
            try:
                a = wfdb.rdann(str(base), ext)
            except Exception:  # an unreadable annotation file must not block the analysis
                continue
            aux = [(s or "").strip("\x00 ") for s in (a.aux_note or [""] * len(a.symbol))]
            return Annotations(np.asarray(a.sample, dtype=np.int64) * per_frame, list(a.symbol),
                               aux, ext)
    return None


_BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12,
         "310": 32 / 3, "311": 32 / 3}


def _check_wfdb_size(header, folder: Path, idx: int) -> None:
    """Refuse truncated signal files and records too long to hold, before reading a sample."""
    fname = header.file_name[idx]
    spf = header.samps_per_frame or [1] * len(header.file_name)
    same = [i for i, f in enumerate(header.file_name) if f == fname]
    known = fname.endswith(".dat") and all(header.fmt[i] in _BITS for i in same)
    frame_bits = sum(_BITS[header.fmt[i]] * (spf[i] or 1) for i in same) if known else 0
    offset = (header.byte_offset or [0] * len(header.file_name))[idx] or 0
    actual = (folder / fname).stat().st_size - offset if fname != "~" else 0
    n = header.sig_len
    if n is None and frame_bits:
        n = int(actual * 8 // frame_bits)
    check_n_samples((n or 0) * (spf[idx] or 1), header.fs * (spf[idx] or 1),
                    f"Record '{header.record_name}'")
    if not known or header.sig_len is None:
        return
    expected = header.sig_len * frame_bits / 8
    if actual + 2 < expected:  # +2: format 212 pads odd sample counts
        raise InvalidInputError(
            f"Signal file '{fname}' is truncated: the header promises {header.sig_len} samples "
            f"({int(expected)} bytes), the file has {actual} bytes.",
            hint="re-download or re-export the record.")


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
    check_n_samples(len(lines), source=source)
    try:
        arr = np.loadtxt(io.StringIO("\n".join(lines)), delimiter=delim, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise InvalidInputError(f"{source} is not a numeric signal table ({exception_summary(exc, 160)}).",
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
    fs = check_fs(fs, minimum=MIN_FS, source=source)
    arr, names = _parse_text(data, source)
    idx = select_lead(names, lead)
    sig = check_signal(arr[:, idx], source)
    return Record(signal=sig, fs=fs, lead=names[idx], leads=names, name=name,
                  meta={"format": fmt, "n_leads": len(names)})


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
    check_n_samples(len(doc["signal"]), source=source)
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
