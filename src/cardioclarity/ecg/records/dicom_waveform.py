"""DICOM ECG waveforms: 12-lead, general, ambulatory ECG Waveform Storage (and other waveform
IODs that carry ECG channels).

A waveform object holds a ``WaveformSequence`` of multiplex groups. Each group has its channel
count, sample count, sampling frequency, sample interpretation (``SS``/``US`` 16-bit,
``SB``/``UB`` 8-bit, ``SL``/``UL`` 32-bit) and interleaved ``WaveformData``; each channel in its
``ChannelDefinitionSequence`` has a label (``ChannelSourceSequence`` code meaning, or
``ChannelLabel``), a sensitivity and its units (``ChannelSensitivityUnitsSequence``, UCUM:
``uV``, ``mV``), a correction factor and a baseline. The physical value of a sample is
``raw * sensitivity * correction + baseline`` (PS3.3 C.10.9). The samples are decoded here from
``WaveformData``, so every field the result depends on is checked and named when it is wrong.

The group read is the first original rhythm group (``WaveformOriginality`` ORIGINAL, the
longest); derived groups (median beats) are left out.
"""

from __future__ import annotations

import io

import numpy as np

from cardioclarity.ecg.records.record import (
    Record,
    multilead_record,
    standard_lead_name,
    to_millivolts,
)
from cardioclarity.errors import InvalidInputError, UnsupportedFormatError, exception_summary

__all__ = ["WAVEFORM_SOP_PREFIX", "read_dicom_waveform"]

#: Every waveform storage SOP class (ECG, hemodynamic, EP, audio...) lies under this UID arc.
WAVEFORM_SOP_PREFIX = "1.2.840.10008.5.1.4.1.1.9."
_DTYPES = {("SS", 16): "<i2", ("US", 16): "<u2", ("SB", 8): "i1", ("UB", 8): "u1",
           ("SL", 32): "<i4", ("UL", 32): "<u4"}


def read_dicom_waveform(data: bytes, source: str, name: str, lead: str | int | None,
                        fs: float | None = None, *, group: int | None = None) -> Record:
    """Every channel of one multiplex group of a DICOM waveform object, in millivolts.

    Parameters
    ----------
    data : bytes
        The DICOM file.
    group : int, optional
        0-based index of the multiplex group; default the first original group with the most
        samples (the rhythm strip, not the median beats).

    Raises
    ------
    UnsupportedFormatError
        The DICOM is an image (no waveform: its message points to the X-ray route), or the
        group's sample interpretation is not a linear integer one (mu-law/A-law audio).
    InvalidInputError
        Not readable as DICOM; a channel without a label, with zero or missing sensitivity or
        with units that are not a voltage; WaveformData shorter than channels x samples; a rate
        below 100 Hz or one that disagrees with ``fs``.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{source} is not a readable DICOM file "
                                f"({exception_summary(exc, 160)}).",
                                hint="check that the file is complete.") from None
    sop = str(ds.get("SOPClassUID", "") or getattr(ds.get("file_meta", None),
                                                   "MediaStorageSOPClassUID", "") or "")
    seq = ds.get("WaveformSequence")
    if not seq:
        what = "an image" if "PixelData" in ds or not sop.startswith(WAVEFORM_SOP_PREFIX) else \
            "a waveform object without a WaveformSequence"
        modality = ds.get("Modality", "?")
        raise UnsupportedFormatError(
            f"{source} is a DICOM file, but {what} (modality {modality}, SOP class "
            f"{sop or 'unknown'}), not an ECG waveform.",
            hint="send chest X-rays to the X-ray route (POST /v1/xray/heart, or `cardioclarity "
            "xray detect`); the ECG route takes DICOM ECG Waveform Storage files.",
            kind="dicom-not-waveform")
    gi = _choose_group(seq, source) if group is None else group
    if not 0 <= gi < len(seq):
        raise InvalidInputError(f"{source}: multiplex group {gi} does not exist (the file has "
                                f"{len(seq)}).")
    g = seq[gi]
    where = f"{source}, multiplex group {gi + 1} ({g.get('MultiplexGroupLabel', 'unlabelled')})"
    signals, leads = _decode_group(g, where)
    rate = _field_float(g, "SamplingFrequency", where)
    meta = {"format": "dicom-waveform", "sop_class_uid": sop, "modality": str(ds.get("Modality", "")),
            "multiplex_group": gi, "multiplex_group_label": str(g.get("MultiplexGroupLabel", "")),
            "n_groups": len(seq)}
    return multilead_record(signals, rate, leads, lead=lead, name=name, source=where, meta=meta,
                            fs_given=fs)


def _choose_group(seq, source: str) -> int:
    """The first ORIGINAL group with the most samples, else the group with the most samples."""
    def n(g) -> int:
        return int(g.get("NumberOfWaveformSamples", 0) or 0)

    original = [i for i, g in enumerate(seq) if str(g.get("WaveformOriginality", "")) == "ORIGINAL"]
    pool = original or list(range(len(seq)))
    return max(pool, key=lambda i: (n(seq[i]), -i))


def _field_float(ds, keyword: str, where: str) -> float:
    value = ds.get(keyword)
    if value is None or value == "":
        raise InvalidInputError(f"{where}: {keyword} is missing.",
                                hint="the DICOM waveform is incomplete; re-export it.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: {keyword} {value!r} is not a number.") from None


def _decode_group(g, where: str) -> tuple[np.ndarray, list[str]]:
    """(n_channels x n_samples physical values in mV, channel names) of one multiplex group."""
    n_ch = int(_field_float(g, "NumberOfWaveformChannels", where))
    n = int(_field_float(g, "NumberOfWaveformSamples", where))
    bits = int(_field_float(g, "WaveformBitsAllocated", where))
    interp = str(g.get("WaveformSampleInterpretation", ""))
    dtype = _DTYPES.get((interp, bits))
    if dtype is None:
        raise UnsupportedFormatError(
            f"{where}: WaveformSampleInterpretation {interp or '(missing)'} with "
            f"WaveformBitsAllocated {bits} is not supported (supported: SS/US 16-bit, SB/UB "
            "8-bit, SL/UL 32-bit; mu-law/A-law are audio encodings).",
            hint="export the ECG with linear 16-bit samples.", kind="unsupported-multiplex-group")
    chans = g.get("ChannelDefinitionSequence") or []
    if len(chans) != n_ch:
        raise InvalidInputError(f"{where}: ChannelDefinitionSequence has {len(chans)} item(s) "
                                f"for NumberOfWaveformChannels {n_ch}.",
                                hint="the DICOM waveform is inconsistent; re-export it.")
    raw = bytes(g.get("WaveformData", b"") or b"")
    need = n * n_ch * np.dtype(dtype).itemsize
    if len(raw) < need:
        raise InvalidInputError(f"{where}: WaveformData has {len(raw)} bytes, {need} expected "
                                f"({n_ch} channels x {n} samples x {bits} bits).",
                                hint="the file is truncated; re-export it.")
    samples = np.frombuffer(raw[:need], dtype=dtype).reshape(n, n_ch).T.astype(np.float64)
    names: list[str] = []
    for k, ch in enumerate(chans):
        cw = f"{where}, channel {k + 1}"
        names.append(_channel_label(ch, cw))
        sens = ch.get("ChannelSensitivity")
        if sens is None or sens == "":
            raise InvalidInputError(f"{cw} ({names[-1]}): ChannelSensitivity is missing, so the "
                                    "samples cannot be turned into voltages.",
                                    hint="re-export the ECG with calibrated channels.")
        sens = float(sens)
        if sens == 0:
            raise InvalidInputError(f"{cw} ({names[-1]}): ChannelSensitivity is 0, so every "
                                    "sample would read 0 (no amplitude scale).",
                                    hint="re-export the ECG with calibrated channels.",
                                    kind="zero-sensitivity")
        corr = float(ch.get("ChannelSensitivityCorrectionFactor", 1) or 1)
        base = float(ch.get("ChannelBaseline", 0) or 0)
        units_seq = ch.get("ChannelSensitivityUnitsSequence") or []
        unit = str(units_seq[0].get("CodeValue", "")) if units_seq else ""
        if not unit:
            raise InvalidInputError(f"{cw} ({names[-1]}): ChannelSensitivityUnitsSequence is "
                                    "missing, so the amplitude unit is unknown.",
                                    hint="re-export the ECG with its channel units.",
                                    kind="unknown-units")
        try:
            to_mv = to_millivolts(unit, f"{cw} ({names[-1]}): ChannelSensitivityUnitsSequence")
        except InvalidInputError as exc:
            exc.kind = "unknown-units"
            raise
        samples[k] = (samples[k] * sens * corr + base) * to_mv
    return samples, names


def _channel_label(ch, where: str) -> str:
    """The standard lead name of a channel: its source code meaning, else its ChannelLabel."""
    src = ch.get("ChannelSourceSequence") or []
    label = ""
    if src:
        label = str(src[0].get("CodeMeaning", "") or "")
    label = label or str(ch.get("ChannelLabel", "") or "")
    if not label.strip():
        raise InvalidInputError(f"{where}: no channel label (ChannelSourceSequence code meaning "
                                "or ChannelLabel), so the lead is unknown.",
                                hint="re-export the ECG with its lead labels.",
                                kind="missing-channel-label")
    return standard_lead_name(label)
