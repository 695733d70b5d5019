"""EDF and EDF+ files: one signal read at its own sampling rate, annotation channels skipped.

The header (256 bytes, then 256 per signal) is parsed here, so that a truncated file, a signal
too long to hold, a rate that disagrees with ``fs`` or a file of annotations only is reported
before any sample is read; then only the chosen signal's samples are taken from the data
records (memory-mapped), whatever the other signals' rates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardioclarity.ecg.records.record import (
    MIN_FS,
    Record,
    check_fs_agrees,
    check_signal,
    select_lead,
)
from cardioclarity.errors import InvalidInputError
from cardioclarity.validation import check_fs, check_n_samples

__all__ = ["read_edf"]

#: Label of the EDF+ channel that holds annotations (time-stamped text), not samples.
ANNOTATION_LABEL = "EDF Annotations"
#: Per-signal header fields: name and width in bytes, in file order (EDF specification).
_FIELDS = (("label", 16), ("transducer", 80), ("unit", 8), ("pmin", 8), ("pmax", 8),
           ("dmin", 8), ("dmax", 8), ("prefilter", 80), ("spr", 8), ("reserved", 32))


def _header(path: Path) -> dict:
    """The EDF header of ``path`` as plain values (raises on a malformed or truncated file)."""
    with open(path, "rb") as fh:
        head = fh.read(256)
        try:
            ns = int(head[252:256])
            fields: dict[str, list[str]] = {}
            body = fh.read(256 * ns)
            pos = 0
            for key, width in _FIELDS:
                fields[key] = [body[pos + i * width:pos + (i + 1) * width].decode("latin-1").strip()
                               for i in range(ns)]
                pos += width * ns
            hdr = {**fields, "hdr_bytes": int(head[184:192]), "nrec": int(head[236:244]),
                   "duration": float(head[244:252]), "ns": ns,
                   "spr": [int(v) for v in fields["spr"]]}
        except ValueError as exc:
            raise InvalidInputError(f"'{path.name}' does not have a valid EDF header "
                                    f"({type(exc).__name__}: {str(exc)[:120]}).",
                                    hint="check that the file is a complete EDF/EDF+ file.") from exc
    row_bytes = 2 * sum(hdr["spr"])
    size = path.stat().st_size
    if hdr["nrec"] < 0 and row_bytes:  # -1: unknown while recording; the size tells
        hdr["nrec"] = (size - hdr["hdr_bytes"]) // row_bytes
    expected = hdr["hdr_bytes"] + max(hdr["nrec"], 0) * row_bytes
    if size < expected or ns <= 0:
        raise InvalidInputError(
            f"EDF file '{path.name}' is truncated: the header promises {expected} bytes, the file "
            f"has {size}.", hint="re-export or re-download the recording.")
    return hdr


def read_edf(path: Path, lead: str | int | None, name: str, fs: float | None = None) -> Record:
    """One signal of the EDF/EDF+ file at ``path``, in physical units at its own rate.

    Raises
    ------
    InvalidInputError
        Malformed or truncated file, only annotation channels, a rate below 100 Hz or one that
        disagrees with ``fs``, an unknown lead, too many samples.
    """
    hdr = _header(path)
    source = f"'{path.name}'"
    signals = [i for i, lbl in enumerate(hdr["label"]) if lbl != ANNOTATION_LABEL]
    if not signals:
        raise InvalidInputError(
            f"{source} holds no ECG signal: its only channel is '{ANNOTATION_LABEL}' (EDF+ "
            "annotations, time-stamped text).",
            hint="send the EDF file that holds the recorded signals.")
    leads = [hdr["label"][i] or f"ch{i}" for i in signals]
    ch = signals[select_lead(leads, lead)]
    if hdr["duration"] <= 0:
        raise InvalidInputError(f"{source} declares a data-record duration of "
                                f"{hdr['duration']:g} s, so its sampling rate is unknown.",
                                hint="re-export the recording.")
    rate = check_fs(hdr["spr"][ch] / hdr["duration"], minimum=MIN_FS, source=source)
    check_fs_agrees(fs, rate, source)
    check_n_samples(hdr["nrec"] * hdr["spr"][ch], rate, source)
    start = sum(hdr["spr"][:ch])
    data = np.memmap(path, dtype="<i2", mode="r", offset=hdr["hdr_bytes"],
                     shape=(hdr["nrec"], sum(hdr["spr"])))
    digital = np.asarray(data[:, start:start + hdr["spr"][ch]], dtype=np.float64).ravel()
    del data
    try:
        pmin, pmax, dmin, dmax = (float(hdr[k][ch]) for k in ("pmin", "pmax", "dmin", "dmax"))
    except ValueError:
        raise InvalidInputError(f"{source}: the physical/digital range of signal "
                                f"'{hdr['label'][ch]}' is not numeric.",
                                hint="re-export the recording.") from None
    gain = (pmax - pmin) / (dmax - dmin) if dmax != dmin else 1.0
    signal = check_signal((digital - dmin) * gain + pmin, source)
    return Record(signal=signal, fs=rate, lead=hdr["label"][ch], leads=leads, name=name,
                  units=hdr["unit"][ch], meta={"format": "edf", "n_leads": len(leads)})
