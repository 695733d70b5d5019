"""HL7 v3 annotated ECG (aECG) XML, the format of ECGs submitted to the FDA.

An ``AnnotatedECG`` holds ``series``; the one coded ``RHYTHM`` holds a ``sequenceSet`` of
simultaneously recorded ``sequence`` elements: one time sequence (``TIME_ABSOLUTE`` or
``TIME_RELATIVE``, a ``GLIST`` with ``head`` and ``increment``: the sampling interval) and one
per lead (code ``MDC_ECG_LEAD_*``, an ``SLIST_PQ``: physical value = ``origin + scale * digit``,
units on ``origin``/``scale``). Annotation sets of the rhythm series give reference fiducials
(P wave, QRS and T wave boundaries per beat) and interval numerics, read into
``Record.meta["reference_fiducials"]`` and ``["reference_intervals"]``.
"""

from __future__ import annotations

from datetime import datetime
from xml.etree.ElementTree import Element

import numpy as np

from cardioclarity.ecg.records.record import (
    Record,
    multilead_record,
    standard_lead_name,
    to_millivolts,
)
from cardioclarity.ecg.records.xmlsafe import parse_ecg_xml
from cardioclarity.errors import InvalidInputError

__all__ = ["read_aecg"]

_NS = "urn:hl7-org:v3"
_Q = {"h": _NS}
_TIME_CODES = ("TIME_ABSOLUTE", "TIME_RELATIVE")
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
#: Wave annotation codes -> the fiducial names their ROI boundaries give (low, high).
_WAVES = {"MDC_ECG_WAVC_PWAVE": ("p_on", "p_off"), "MDC_ECG_WAVC_QRSWAVE": ("qrs_on", "qrs_off"),
          "MDC_ECG_WAVC_TWAVE": ("t_on", "t_off")}
_NUMERICS = {"MDC_ECG_TIME_PD_PR": "pr_ms", "MDC_ECG_TIME_PD_QRS": "qrs_ms",
             "MDC_ECG_TIME_PD_QT": "qt_ms", "MDC_ECG_TIME_PD_QTc": "qtc_ms",
             "MDC_ECG_TIME_PD_P": "p_ms", "MDC_ECG_TIME_PD_RR": "rr_ms"}


def _code(el: Element | None) -> str:
    c = el.find("h:code", _Q) if el is not None else None
    return (c.get("code") or "") if c is not None else ""


def _float(el: Element | None, source: str, what: str) -> tuple[float, str]:
    if el is None or el.get("value") is None:
        raise InvalidInputError(f"{source}: the {what} is missing (no value attribute).",
                                hint="the aECG is incomplete; re-export it.")
    try:
        return float(el.get("value")), el.get("unit") or ""
    except ValueError:
        raise InvalidInputError(f"{source}: the {what} {el.get('value')!r} is not a number.",
                                hint="the aECG is corrupt; re-export it.") from None


def _hl7_time(value: str) -> float:
    """Seconds since the epoch of an HL7 TS (``20021122091000.122``)."""
    whole, _, frac = value.partition(".")
    whole = (whole + "00000000000000")[:14]
    t = datetime.strptime(whole, "%Y%m%d%H%M%S").timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def _rhythm_series(root: Element, source: str) -> Element:
    for series in root.iterfind("h:component/h:series", _Q):
        if _code(series) == "RHYTHM":
            return series
    found = sorted({_code(s) or "(none)" for s in root.iterfind("h:component/h:series", _Q)})
    raise InvalidInputError(
        f"{source} has no rhythm sequence: no component/series coded RHYTHM"
        + (f" (series found: {', '.join(found)})" if found else " (no series at all)") + ".",
        hint="export the rhythm (full-length) waveforms, not only representative beats.",
        kind="no-rhythm-sequence")


def read_aecg(data: bytes, source: str, name: str, lead: str | int | None,
              fs: float | None = None) -> Record:
    """Every lead of the rhythm series of an HL7 aECG document, in millivolts.

    Raises
    ------
    UnsupportedFormatError
        The XML is not an ``AnnotatedECG``.
    InvalidInputError
        Malformed XML or DTD/entities (see :func:`~cardioclarity.ecg.records.xmlsafe.parse_xml`),
        no ``RHYTHM`` series (``kind="no-rhythm-sequence"``), no time sequence or increment, a
        lead sequence without ``digits``/``scale``, a unit that is not a voltage, sequences of
        different lengths, a rate below 100 Hz or one that disagrees with ``fs``.
    """
    root = parse_ecg_xml(data, source, _NS, "AnnotatedECG", "an HL7 aECG")
    series = _rhythm_series(root, source)
    seq_set = series.find("h:component/h:sequenceSet", _Q)
    if seq_set is None:
        raise InvalidInputError(f"{source}: the RHYTHM series has no component/sequenceSet.",
                                hint="the aECG holds no waveform; re-export it.",
                                kind="no-rhythm-sequence")
    t0, dt, leads, columns = None, None, [], []
    for seq in seq_set.iterfind("h:component/h:sequence", _Q):
        code = _code(seq)
        value = seq.find("h:value", _Q)
        if code in _TIME_CODES:
            inc, unit = _float(value.find("h:increment", _Q) if value is not None else None,
                               source, f"time increment of sequence {code}")
            if unit not in _SECONDS or inc <= 0:
                raise InvalidInputError(f"{source}: the time increment of sequence {code} is "
                                        f"{inc:g} {unit!r}; expected a positive time in s or ms.")
            dt = inc * _SECONDS[unit]
            head = value.find("h:head", _Q)
            if code == "TIME_ABSOLUTE" and head is not None and head.get("value"):
                t0 = _hl7_time(head.get("value"))
            continue
        if not code.startswith("MDC_ECG_LEAD_"):
            continue
        where = f"sequence {code}"
        if value is None or value.find("h:digits", _Q) is None:
            raise InvalidInputError(f"{source}: {where} has no value/digits.",
                                    hint="the aECG lead holds no samples; re-export it.")
        origin, ounit = _float(value.find("h:origin", _Q), source, f"origin of {where}")
        scale, sunit = _float(value.find("h:scale", _Q), source, f"scale of {where}")
        if scale == 0:
            raise InvalidInputError(f"{source}: the scale of {where} is 0, so every sample "
                                    "would be the origin.", hint="re-export the aECG.")
        k_s = to_millivolts(sunit, f"{source}: the scale of {where}")
        k_o = to_millivolts(ounit or sunit, f"{source}: the origin of {where}")
        try:
            digits = np.array(value.find("h:digits", _Q).text.split(), dtype=np.float64)
        except (AttributeError, ValueError):
            raise InvalidInputError(f"{source}: the digits of {where} are not a list of numbers.",
                                    hint="the aECG is corrupt; re-export it.") from None
        leads.append(standard_lead_name(code))
        columns.append(origin * k_o + scale * k_s * digits)
    if dt is None:
        raise InvalidInputError(f"{source}: the RHYTHM sequenceSet has no time sequence "
                                "(TIME_ABSOLUTE or TIME_RELATIVE) with an increment, so the "
                                "sampling rate is unknown.", hint="re-export the aECG.")
    if not columns:
        raise InvalidInputError(f"{source}: the RHYTHM sequenceSet has no lead sequence "
                                "(code MDC_ECG_LEAD_*).", hint="re-export the aECG.")
    lengths = {c.size for c in columns}
    if len(lengths) > 1:
        raise InvalidInputError(f"{source}: the lead sequences of the RHYTHM sequenceSet differ "
                                f"in length ({', '.join(str(n) for n in sorted(lengths))} "
                                "samples) though they are declared simultaneous.",
                                hint="re-export the aECG.")
    rate = 1.0 / dt
    meta = {"format": "hl7-aecg", "source_leads": [standard_lead_name(x) for x in leads]}
    if t0 is not None:
        fid, numerics = _reference_annotations(series, t0, rate)
        if fid:
            meta["reference_fiducials"] = fid
        if numerics:
            meta["reference_intervals"] = numerics
    return multilead_record(np.vstack(columns), rate, leads, lead=lead, name=name, source=source,
                            meta=meta, fs_given=fs)


def _reference_annotations(series: Element, t0: float, fs: float) -> tuple[list[dict], list[dict]]:
    """Per-beat reference fiducials (sample indices) and interval numerics (ms) of the
    rhythm series' annotation sets; beats whose ROI names a lead carry ``"lead"``."""
    beats, numerics = [], []
    for ann in series.iterfind("h:subjectOf/h:annotationSet/h:component/h:annotation", _Q):
        if _code(ann) != "MDC_ECG_BEAT":
            continue
        beat: dict = {}
        values: dict = {}
        for sub in ann.iterfind("h:component/h:annotation", _Q):
            code = _code(sub)
            val = sub.find("h:value", _Q)
            if code == "MDC_ECG_WAVC" and val is not None and val.get("code") in _WAVES:
                roi = sub.find("h:support/h:supportingROI", _Q)
                if roi is None:
                    continue
                for comp in roi.iterfind("h:component/h:boundary", _Q):
                    bcode = _code(comp)
                    if bcode.startswith("MDC_ECG_LEAD_"):
                        beat["lead"] = standard_lead_name(bcode)
                    elif bcode == "TIME_ABSOLUTE":
                        ivl = comp.find("h:value", _Q)
                        for end, key in zip(("low", "high"), _WAVES[val.get("code")], strict=True):
                            e = ivl.find(f"h:{end}", _Q) if ivl is not None else None
                            if e is not None and e.get("value"):
                                beat[key] = int(round((_hl7_time(e.get("value")) - t0) * fs))
            elif code in _NUMERICS and val is not None and val.get("value"):
                try:
                    values[_NUMERICS[code]] = float(val.get("value"))
                except ValueError:
                    continue
        if beat:
            beats.append(beat)
        if values:
            numerics.append({**values, **({"lead": beat["lead"]} if "lead" in beat else {})})
    return beats, numerics
