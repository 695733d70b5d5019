"""Read ECG recordings (WFDB, CSV/TXT, EDF, DICOM waveform, HL7 aECG, Philips Sierra XML) from a
path, raw bytes or uploaded files.

One function, :func:`read_record`, returns a :class:`Record` holding one lead as a 1-D float
array in physical units (mV where the file says so), its sampling rate, the names of all leads,
and the reference beat/rhythm annotations when the record has them (WFDB ``.atr``/``.qrs``).
All knowledge of ECG formats lives here: WFDB (from files or uploaded ``{filename: bytes}``,
whatever name the header arrives under), CSV/TXT, EDF and a JSON signal
``{"signal": [...], "fs": 360, "lead": "MLII"}``, and the formats hospital carts export:
DICOM ECG waveforms, HL7 aECG XML and Philips Sierra XML (XLI-compressed or not), whose records
carry all their leads (``Record.signals``) under their standard names. Uploads are recognised by
their content (:func:`cardioclarity.sniff.sniff`), not by their names.

Everything a user can get wrong raises a :class:`~cardioclarity.errors.CardioClarityError`
subclass naming what was expected, what came and how to fix it: a missing ``.dat``, a truncated
file, an unknown lead (the error lists the leads that exist), a sampling rate below 100 Hz, an
empty or all-NaN signal.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cardioclarity.ecg.records.aecg import read_aecg
from cardioclarity.ecg.records.dicom_waveform import read_dicom_waveform
from cardioclarity.ecg.records.formats import read_edf, read_json, read_text, read_wfdb, wfdb_upload
from cardioclarity.ecg.records.philips import read_philips
from cardioclarity.ecg.records.record import (
    MIN_FS,
    Annotations,
    Record,
    select_lead,
    standard_lead_name,
)
from cardioclarity.errors import InputFileNotFoundError, InvalidInputError, UnsupportedFormatError
from cardioclarity.sniff import describe_kind, sniff

__all__ = ["MIN_FS", "Annotations", "Record", "read_record", "select_lead"]

# --------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------
_FORMATS = ("auto", "wfdb", "csv", "txt", "edf", "json", "dicom", "aecg", "philips")
#: What :func:`cardioclarity.sniff.sniff` kinds mean to this reader.
_SNIFFED = {"edf": "edf", "json": "json", "text": "csv", "wfdb-header": "wfdb",
            "dicom-waveform": "dicom", "dicom": "dicom", "hl7-aecg": "aecg",
            "philips-xml": "philips"}
#: Readers of whole files given as bytes: (data, source, name, lead, fs) -> Record.
_BYTE_READERS = {"dicom": read_dicom_waveform, "aecg": read_aecg, "philips": read_philips}


def read_record(source: str | Path | bytes | Mapping[str, bytes], *, lead: str | int | None = None,
                fs: float | None = None, fmt: str = "auto", name: str | None = None,
                all_leads: bool = False) -> Record:
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
          content, under any name), or a single CSV/EDF/JSON file;
        - a DICOM ECG waveform (``.dcm``), an HL7 aECG or a Philips Sierra XML file (``.xml``),
          as a path, bytes or an upload, recognised by content.
    lead : str or int, optional
        Lead name (case-insensitive) or 0-based index; default MLII / II / ECG / I / first ECG
        channel. For a JSON signal, the name of its one lead (default: its "lead" field, else
        "ECG").
    fs : float, optional
        Sampling rate in Hz; required for CSV/TXT (they carry none), optional for JSON (default:
        its "fs" field). WFDB/EDF records carry their own rate: an ``fs`` that disagrees with it
        (by more than 0.5%) is an error, never silently ignored.
    fmt : {"auto", "wfdb", "csv", "txt", "edf", "json", "dicom", "aecg", "philips"}
        Format; "auto" decides by extension, then by content.
    name : str, optional
        Record name for reports (default: the file stem, or the WFDB header's record name).
    all_leads : bool
        Also read every lead of a WFDB record into ``Record.signals`` (for 12-lead analysis).
        DICOM, aECG and Philips records always carry all their leads.

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
        return _read_uploaded(source, lead=lead, fs=fs, fmt=fmt, name=name, all_leads=all_leads)
    if isinstance(source, bytes | bytearray | memoryview):
        return _read_uploaded({"upload": bytes(source)}, lead=lead, fs=fs, fmt=fmt, name=name,
                              raw=True, all_leads=all_leads)
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
        elif suffix in (".dcm", ".dicom", ".xml") and path.is_file():
            kind = _SNIFFED.get(_kind_of(path.name, _head(path)), "unknown")
            if kind == "unknown":
                raise UnsupportedFormatError(
                    f"'{path.name}' is {describe_kind(_kind_of(path.name, _head(path)))}, not a "
                    "DICOM ECG waveform, HL7 aECG or Philips Sierra XML.",
                    hint="convert the file to one of these, WFDB, EDF or CSV.")
        elif not path.exists() and Path(f"{path}.hea").exists():
            kind = "wfdb"
        elif not path.exists():
            raise InputFileNotFoundError(f"Input '{path}' does not exist.",
                                         hint="check the path (WFDB records: give the .hea file).")
        else:
            raise UnsupportedFormatError(
                f"'{path.name}' has an unknown extension '{suffix}'; expected a WFDB record "
                "(.hea + .dat/.mat), .csv/.txt (with --fs), .edf, .json, a DICOM ECG (.dcm) or an "
                "HL7 aECG / Philips Sierra .xml.",
                hint="convert the file, or give the format explicitly (fmt= in Python).")
    if kind == "wfdb":
        base = path.with_suffix("") if suffix in (".hea", ".dat", ".mat", ".atr") else path
        return _all_leads(read_wfdb(base, lead, name, fs), base, all_leads)
    if not path.exists():
        raise InputFileNotFoundError(f"Input '{path}' does not exist.", hint="check the path.")
    if kind in _BYTE_READERS:
        return _BYTE_READERS[kind](path.read_bytes(), f"'{path.name}'", name or path.stem, lead, fs)
    if kind == "edf":
        return read_edf(path, lead, name or path.stem, fs)
    if kind == "json":
        return read_json(path.read_bytes(), f"'{path.name}'", name or path.stem, lead, fs)
    return read_text(path.read_bytes(), f"'{path.name}'", name or path.stem, lead, fs, kind)


def _read_uploaded(files: Mapping[str, bytes], *, lead, fs, fmt: str, name: str | None,
                   raw: bool = False, all_leads: bool = False) -> Record:
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
        record, clean = wfdb_upload(clean, heads[0])
        with tempfile.TemporaryDirectory(prefix="cc-upload-") as tmp:
            for k, v in clean.items():
                (Path(tmp) / k).write_bytes(v)
            return _all_leads(read_wfdb(Path(tmp) / record, lead, name, fs), Path(tmp) / record,
                              all_leads)
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
            return read_edf(p, lead, stem, fs)
    if kind == "json":
        return read_json(data, source, stem, lead, fs)
    if kind in _BYTE_READERS:
        return _BYTE_READERS[kind](data, source, stem, lead, fs)
    if kind in ("csv", "txt"):
        return read_text(data, source, stem, lead, fs, kind)
    what = "The uploaded bytes are" if raw else f"'{fname}' is"
    raise UnsupportedFormatError(
        f"{what} {describe_kind(kind)}, not a supported ECG format.",
        hint="upload a WFDB record (.hea + .dat/.mat), a CSV/TXT (with fs), an EDF, a JSON "
        "signal, a DICOM ECG waveform, an HL7 aECG or a Philips Sierra XML.")


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(8192)


def _all_leads(record: Record, base: Path, wanted: bool) -> Record:
    """``record`` with every lead of its WFDB source in ``signals`` (when ``wanted``).

    Only single-segment records whose leads share one sampling rate are read whole; for others
    ``signals`` stays None and multi-lead analysis falls back to the chosen lead.
    """
    if not wanted or record.signals is not None or len(record.leads) < 2:
        return record
    import wfdb

    header = wfdb.rdheader(str(base))
    spf = set(header.samps_per_frame or [1])
    if getattr(header, "seg_name", None) or spf != {1}:
        return record
    rec = wfdb.rdrecord(str(base), physical=True)
    record.signals = np.asarray(rec.p_signal.T, dtype=np.float64)
    record.meta["lead_units"] = list(rec.units or [])
    # PTB spells its leads "i", "avr": the standard names let reports lay out the 12 leads.
    record.meta["source_leads"] = list(record.leads)
    record.leads = [standard_lead_name(x) for x in record.leads]
    record.lead = standard_lead_name(record.lead)
    return record


def _kind_of(fname: str, data: bytes) -> str:
    """Sniffed kind of an uploaded file (an ``.edf`` name wins: EDF headers vary in the wild)."""
    return "edf" if fname.lower().endswith(".edf") else sniff(data)
