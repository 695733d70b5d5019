"""Philips Sierra ECG XML (``restingecgdata``, versions 1.03 and 1.04), with XLI decoding.

The 12 leads are in ``waveforms/parsedwaveforms``: Base64 text that is either plain 16-bit
samples (one lead after another) or XLI-compressed. XLI, as publicly described by the
sierra-ecg-tools project, is one chunk per lead: an 8-byte header (int32 chunk size, a 16-bit
field, int16 first delta code), then LZW codes of 10 bits (MSB first, 256 literal codes, no
reset) whose output bytes are the high bytes of the 16-bit delta codes followed by their low
bytes. Samples come back from the delta codes by a second-order predictor (``2*y - x`` minus the
previous code less a bias of 64). Leads III, aVR, aVL and aVF are stored as residuals against
their Einthoven/Goldberger values from I and II and are reconstituted here.

Values are ``resolution`` microvolts per unit. Sierra exports append a 1-s calibration pulse
(1 mV) after the 10-s ECG; it is cut off, so that no analysis counts it as a beat. The device's
own global measurements (PR, QRS, QT, QTc, rate) go to ``Record.meta["device_measurements"]``.
"""

from __future__ import annotations

import base64
import binascii
import struct
from xml.etree.ElementTree import Element

import numpy as np

from cardioclarity.ecg.records.record import (
    STANDARD_12,
    Record,
    multilead_record,
    standard_lead_name,
)
from cardioclarity.ecg.records.xmlsafe import parse_ecg_xml
from cardioclarity.errors import InvalidInputError, UnsupportedFormatError

__all__ = ["lzw_decode", "read_philips", "xli_decode"]

_NS = "http://www3.medical.philips.com"
_Q = {"p": _NS}
#: Length of the ECG before the calibration pulse of a Sierra export (seconds).
_ECG_S = 10.0
_LZW_BITS = 10


# --------------------------------------------------------------------------------------------
# XLI
# --------------------------------------------------------------------------------------------
def lzw_decode(chunk: bytes, bits: int = _LZW_BITS) -> bytes:
    """Bytes of an LZW stream of fixed-width ``bits``-bit codes (MSB first, no clear code).

    Decoding stops at the first code above ``2**bits - 2`` (the end marker) or when fewer than
    ``bits`` bits are left.

    Raises
    ------
    InvalidInputError
        A code that refers to a dictionary entry not yet defined (corrupt data).
    """
    max_code = (1 << bits) - 2
    table = [bytes([i]) for i in range(256)]
    out = bytearray()
    prev = b""
    acc = n_acc = pos = 0
    n = len(chunk)
    while True:
        while n_acc < bits and pos < n:
            acc = (acc << 8) | chunk[pos]
            pos += 1
            n_acc += 8
        if n_acc < bits:
            break
        n_acc -= bits
        code = (acc >> n_acc) & ((1 << bits) - 1)
        acc &= (1 << n_acc) - 1
        if code > max_code:
            break
        if code < len(table):
            entry = table[code]
        elif code == len(table) and prev:  # the string-char-string-char-string case
            entry = prev + prev[:1]
        else:
            raise InvalidInputError(f"XLI data is corrupt: LZW code {code} refers to no entry "
                                    f"(dictionary has {len(table)}).",
                                    hint="re-export the ECG from the cart or archive.")
        out += entry
        if prev and len(table) <= max_code:
            table.append(prev + entry[:1])
        prev = entry
    return bytes(out)


def xli_decode(data: bytes, n_leads: int) -> list[np.ndarray]:
    """The first ``n_leads`` leads (int64 samples, as stored) of an XLI stream.

    Raises
    ------
    InvalidInputError
        A chunk header promises more bytes than are left, or the stream holds fewer leads.
    """
    leads: list[np.ndarray] = []
    off = 0
    while len(leads) < n_leads:
        if off + 8 > len(data):
            raise InvalidInputError(f"XLI data holds {len(leads)} lead(s), {n_leads} expected.",
                                    hint="the file is truncated; re-export it.")
        size, _, first = struct.unpack_from("<iHh", data, off)
        off += 8
        if size < 0 or off + size > len(data):
            raise InvalidInputError(f"XLI chunk {len(leads) + 1} promises {size} bytes, "
                                    f"{len(data) - off} are left.",
                                    hint="the file is truncated; re-export it.")
        raw = lzw_decode(data[off:off + size])
        off += size
        half = (len(raw) + 1) // 2
        hi = np.frombuffer(raw[:half], dtype=np.uint8).astype(np.uint16)
        lo = np.frombuffer(raw[half:].ljust(half, b"\0"), dtype=np.uint8).astype(np.uint16)
        codes = ((hi << 8) | lo).view(np.int16).astype(np.int64)
        leads.append(_undelta(codes, first))
    return leads


def _undelta(codes: np.ndarray, first: int) -> np.ndarray:
    """Samples from XLI delta codes: a second-order predictor driven by the previous code."""
    out = codes.copy()
    if codes.size < 3:
        return out
    x, y, last = int(codes[0]), int(codes[1]), int(first)
    c = codes.tolist()
    o = out  # local for speed in the loop
    for i in range(2, len(c)):
        z = 2 * y - x - last
        last = c[i] - 64
        o[i] = z
        x, y = y, z
    return out


def _reconstitute(leads: list[np.ndarray]) -> list[np.ndarray]:
    """Leads III, aVR, aVL, aVF from their stored residuals (C-style integer halving)."""
    i, ii = leads[0], leads[1]
    iii = ii - i - leads[2]
    avr = -leads[3] - np.trunc((i + ii) / 2).astype(np.int64)
    avl = np.trunc((i - iii) / 2).astype(np.int64) - leads[4]
    avf = np.trunc((ii + iii) / 2).astype(np.int64) - leads[5]
    return [i, ii, iii, avr, avl, avf, *leads[6:]]


# --------------------------------------------------------------------------------------------
# the document
# --------------------------------------------------------------------------------------------
def _text(root: Element, path: str) -> str | None:
    el = root.find(path, _Q)
    return el.text.strip() if el is not None and el.text and el.text.strip() else None


def _number(value: str | None, source: str, field: str, *, required: bool = True) -> float | None:
    if value is None:
        if required:
            raise InvalidInputError(f"{source}: the field {field} is missing.",
                                    hint="the Sierra XML is incomplete; re-export it.")
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidInputError(f"{source}: the field {field} is {value!r}, not a number.",
                                hint="the Sierra XML is corrupt; re-export it.") from None


def read_philips(data: bytes, source: str, name: str, lead: str | int | None,
                 fs: float | None = None) -> Record:
    """The 12 leads of a Philips Sierra ECG XML file, in millivolts.

    Raises
    ------
    UnsupportedFormatError
        The XML is not a ``restingecgdata`` document, or its waveforms use an encoding or
        compression other than Base64/plain and XLI.
    InvalidInputError
        Malformed XML or DTD/entities, a missing or non-numeric sampling rate or resolution, a
        zero resolution, corrupt or truncated XLI data, lead labels that do not match the leads.
    """
    root = parse_ecg_xml(data, source, _NS, "restingecgdata", "a Philips Sierra ECG")
    wf = root.find("p:waveforms/p:parsedwaveforms", _Q)
    if wf is None or not (wf.text or "").strip():
        raise InvalidInputError(f"{source} has no waveforms/parsedwaveforms (no samples).",
                                hint="export the ECG with its waveforms.")
    sc = "p:dataacquisition/p:signalcharacteristics/"
    rate = _number(wf.get("samplespersecond") or _text(root, sc + "p:samplingrate"), source,
                   "samplingrate")
    resolution = _number(wf.get("resolution") or _text(root, sc + "p:signalresolution"), source,
                         "signalresolution")
    if resolution == 0:
        raise InvalidInputError(f"{source}: the signal resolution (signalresolution) is 0 uV per "
                                "unit, so every sample would be 0.", hint="re-export the ECG.")
    offset = _number(wf.get("signaloffset") or _text(root, sc + "p:signaloffset"), source,
                     "signaloffset", required=False) or 0.0
    duration_ms = _number(wf.get("durationperchannel"), source, "parsedwaveforms durationperchannel")
    labels = (wf.get("leadlabels") or "").split() or list(STANDARD_12)
    n_leads = int(_number(wf.get("numberofleads") or _text(root, sc + "p:numberchannelsvalid"),
                          source, "numberchannelsvalid", required=False) or len(labels))
    if n_leads != len(labels):
        raise InvalidInputError(f"{source}: {len(labels)} lead label(s) (leadlabels) for "
                                f"{n_leads} lead(s) (numberofleads).", hint="re-export the ECG.")
    encoding = wf.get("dataencoding", "Base64")
    compression = wf.get("compression") or (wf.get("compressmethod")
                                            if wf.get("compressflag", "False").lower() == "true"
                                            else None)
    n = int(round(duration_ms * rate / 1000.0))
    leads = _samples(wf.text, encoding, compression, n_leads, n, source)
    if compression == "XLI" and [standard_lead_name(x) for x in labels[:6]] == list(STANDARD_12[:6]):
        leads = _reconstitute(leads)
    signals = np.vstack([ld[:n] if ld.size >= n else np.pad(ld.astype(np.float64), (0, n - ld.size),
                                                          constant_values=np.nan)
                         for ld in leads]).astype(np.float64)
    signals = (signals - offset) * resolution * 1e-3  # uV per unit -> mV
    meta = {"format": "philips-sierra", "version": _text(root, "p:documentinfo/p:documentversion"),
            "compression": compression or "none"}
    keep = int(round(_ECG_S * rate))
    if signals.shape[1] > keep and _has_calibration_pulse(signals[:, keep:], rate):
        signals = signals[:, :keep]
        meta["calibration_pulse_removed_s"] = round(duration_ms / 1000.0 - _ECG_S, 3)
    measured = _device_measurements(root)
    if measured:
        meta["device_measurements"] = measured
    return multilead_record(signals, rate, [standard_lead_name(x) for x in labels], lead=lead,
                            name=name, source=source, meta=meta, fs_given=fs)


def _samples(text: str, encoding: str, compression: str | None, n_leads: int, n: int,
             source: str) -> list[np.ndarray]:
    if encoding == "Plain":
        try:
            flat = np.array(text.split(), dtype=np.int64)
        except ValueError:
            raise InvalidInputError(f"{source}: the plain waveform text holds a non-integer "
                                    "value.", hint="re-export the ECG.") from None
        return [flat[i * n:(i + 1) * n] for i in range(n_leads)]
    if encoding != "Base64":
        raise UnsupportedFormatError(f"{source}: waveform encoding (dataencoding) {encoding!r} "
                                     "is not supported; Base64 and Plain are.",
                                     hint="re-export the ECG with Base64 waveforms.")
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"{source}: the parsedwaveforms text is not valid Base64.",
                                hint="the file is corrupt or truncated; re-export it.") from None
    if compression == "XLI":
        return xli_decode(raw, n_leads)
    if compression not in (None, "", "None"):
        raise UnsupportedFormatError(f"{source}: waveform compression {compression!r} is not "
                                     "supported; XLI and uncompressed are.",
                                     hint="re-export the ECG uncompressed or XLI-compressed.")
    flat = np.frombuffer(raw[:len(raw) // 2 * 2], dtype="<i2").astype(np.int64)
    if flat.size < n_leads * n:
        raise InvalidInputError(f"{source}: the waveforms hold {flat.size} samples, "
                                f"{n_leads} x {n} expected.", hint="re-export the ECG.")
    return [flat[i * n:(i + 1) * n] for i in range(n_leads)]


def _has_calibration_pulse(tail: np.ndarray, fs: float) -> bool:
    """Whether the samples after the 10-s ECG hold the 1-mV calibration square wave: leads I and
    II both exactly 1 mV for at least 80 ms (no heart holds a lead that flat at 1 mV)."""
    at_1mv = np.all(np.abs(tail[:2] - 1.0) < 0.005, axis=0).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.r_[0, at_1mv, 0]))
    runs = edges[1::2] - edges[::2]
    return bool(runs.size and runs.max() >= 0.08 * fs)


_MEASUREMENTS = {"heartrate": "heart_rate_bpm", "meanventrate": "heart_rate_bpm",
                 "print": "pr_ms", "meanprint": "pr_ms", "qrsdur": "qrs_ms",
                 "meanqrsdur": "qrs_ms", "qtint": "qt_ms", "meanqtint": "qt_ms",
                 "qtcb": "qtc_bazett_ms", "qtcf": "qtc_fridericia_ms", "meanqtc": "qtc_ms",
                 "rrint": "rr_ms"}


def _device_measurements(root: Element) -> dict:
    """The cart's own global measurements (interval numbers in ms), where present."""
    out: dict = {}
    for gm in root.iter(f"{{{_NS}}}globalmeasurements"):
        for child in gm:
            key = child.tag.rpartition("}")[2]
            if key in _MEASUREMENTS and child.text and child.text.strip():
                try:
                    out.setdefault(_MEASUREMENTS[key], float(child.text))
                except ValueError:
                    continue
    if out:
        out["source"] = "Philips Sierra globalmeasurements (the cart's algorithm)"
    return out
