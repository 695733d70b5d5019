"""The data of this package: a :class:`Record` (one lead and its context, and for multi-lead
sources all leads) and its annotations.

Also the checks every reader applies to what it found: which lead to take
(:func:`select_lead`), whether the samples are usable (:func:`check_signal`), and the standard
name of a lead however a format spells it (:func:`standard_lead_name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from cardioclarity.errors import InvalidInputError
from cardioclarity.validation import MAX_ABS_SAMPLE, check_fs, check_n_samples

__all__ = ["MIN_FS", "STANDARD_12", "Annotations", "Record", "check_fs_agrees", "check_signal",
           "multilead_record", "select_lead", "standard_lead_name", "to_millivolts"]

#: Below this the QRS complex (10-40 Hz content) cannot be resolved.
MIN_FS = 100.0

#: Preferred leads, in order, when none is asked for: the monitoring leads in which R-peaks are
#: tallest and detectors are validated (MIT-BIH uses MLII; 12-lead files call it II).
_PREFERRED_LEADS = ("MLII", "II", "ECG", "ECG1", "ECG I", "I", "V5", "V1", "MCL1", "V2")
#: Channel names that are not ECG (so "first channel" never picks a pressure or pleth trace).
#: The 12 standard leads in the order a 12-lead report shows them.
STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_STANDARD_BY_KEY = {name.upper(): name for name in STANDARD_12}
#: Factor from a voltage unit, as formats spell it (UCUM, DICOM, HL7, WFDB), to millivolts.
_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "millivolt": 1.0,
          "v": 1e3, "volt": 1e3, "nv": 1e-6}
_NON_ECG = re.compile(r"^(ABP|ART|PAP|CVP|PLETH|PPG|RESP|SPO2|SAO2|CO2|PRESSURE|BP|TEMP|EEG|EMG|EOG|"
                      r"NU|STIM|EVENT|MARKER|EDF ANNOTATIONS)", re.I)


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
    signals : ndarray of float64, shape (n_leads, n_samples), or None
        Every lead of a multi-lead source, in the order of ``leads`` and in ``units`` (None when
        only the chosen lead was read, e.g. WFDB without ``all_leads=True``).
    """

    signal: np.ndarray
    fs: float
    lead: str
    leads: list[str]
    name: str
    annotations: Annotations | None = None
    units: str = ""
    meta: dict = field(default_factory=dict)
    signals: np.ndarray | None = None

    @property
    def duration_s(self) -> float:
        """Length of the record in seconds."""
        return self.signal.size / self.fs

    def lead_signal(self, lead: str | int) -> np.ndarray:
        """The samples of one lead (by name, case-insensitive, or index) of a multi-lead record.

        Raises
        ------
        InvalidInputError
            The record holds only its chosen lead (``signals`` is None) and another is asked
            for, or the lead does not exist.
        """
        i = select_lead(self.leads, lead)
        if self.signals is None:
            if self.leads[i] == self.lead:
                return self.signal
            raise InvalidInputError(f"Record '{self.name}' holds only lead {self.lead}; lead "
                                    f"{self.leads[i]} was not read.",
                                    hint="read the record with all_leads=True.")
        return self.signals[i]

    def with_lead(self, lead: str | int) -> Record:
        """The same record with another lead chosen as ``signal`` (multi-lead records)."""
        sig = check_signal(self.lead_signal(lead), f"Record '{self.name}'")
        i = select_lead(self.leads, lead)
        return Record(signal=sig, fs=self.fs, lead=self.leads[i], leads=list(self.leads),
                      name=self.name, annotations=self.annotations, units=self.units,
                      meta=dict(self.meta), signals=self.signals)


def standard_lead_name(raw: str) -> str:
    """The standard name of a lead however a format spells it.

    ``"MDC_ECG_LEAD_AVR"`` (HL7/MDC), ``"Lead I (Einthoven)"`` (DICOM code meaning),
    ``"avr"`` (PTB), ``"Lead V1"`` -> ``"aVR"``, ``"I"``, ``"aVR"``, ``"V1"``. A name that is not one
    of the 12 standard leads (``MLII``, ``V7``, ``vx``) is returned stripped, its case kept
    except for an MDC code, whose suffix is used.
    """
    name = raw.strip()
    if name.upper().startswith("MDC_ECG_LEAD_"):
        name = name[len("MDC_ECG_LEAD_"):]
    name = re.sub(r"\s*\(.*\)\s*$", "", name)  # "Lead I (Einthoven)"
    name = re.sub(r"^lead\s+", "", name, flags=re.I).strip()
    return _STANDARD_BY_KEY.get(name.upper(), name)


def to_millivolts(unit: str, source: str) -> float:
    """Factor that turns values in ``unit`` (``uV``, ``mV``, ``V``...) into millivolts.

    Raises
    ------
    InvalidInputError
        The unit is not a voltage this reader knows (the message names ``source``, the field).
    """
    key = (unit or "").strip().lower()
    if key in _TO_MV:
        return _TO_MV[key]
    raise InvalidInputError(
        f"{source} gives the unit {unit!r}, which is not a voltage unit (expected one of uV, mV, "
        "V).", hint="re-export the ECG with its amplitudes in microvolts or millivolts.")


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


def check_signal(sig: np.ndarray, source: str) -> np.ndarray:
    """The samples of one lead as float64, checked: not empty, not too long, no inf.

    NaN marks a gap (quality assessment labels it unusable). An infinite sample, or one beyond
    :data:`~cardioclarity.validation.MAX_ABS_SAMPLE` in magnitude, is a corrupt export rather
    than a gap: the record is refused, naming the first such sample.
    """
    sig = np.asarray(sig, dtype=np.float64).ravel()
    if sig.size == 0:
        raise InvalidInputError(f"{source} holds no samples (zero-length signal).",
                                hint="check that the file is complete.")
    check_n_samples(sig.size, source=source)
    with np.errstate(invalid="ignore"):
        bad = np.abs(sig) > MAX_ABS_SAMPLE  # inf included; NaN compares False
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{source}: {int(bad.sum())} sample(s) of the chosen lead are infinite or beyond "
            f"+-{MAX_ABS_SAMPLE:g} (first: sample {first}, 0-based, value {sig[first]:g}).",
            hint="repair the export; write gaps as NaN or empty cells, not inf.")
    if np.isnan(sig).all():
        raise InvalidInputError(f"{source}: every sample of the chosen lead is NaN (a gap).",
                                hint="choose another lead (--lead) or check the export.")
    return sig


def check_fs_agrees(given: float | None, declared: float, source: str) -> None:
    """Refuse an ``fs`` argument that disagrees (by > 0.5%) with the rate a file declares."""
    if given is None:
        return
    given = check_fs(given)
    if abs(given - declared) > 0.005 * declared:
        raise InvalidInputError(
            f"The sampling rate given (--fs / fs={given:g} Hz) disagrees with the {declared:g} "
            f"Hz that {source} declares; WFDB and EDF records carry their own rate.",
            hint="drop --fs (fs=) for WFDB/EDF records; to analyse at another rate, resample "
            "the signal first.")


def multilead_record(signals: np.ndarray, fs: float, leads: list[str], *, lead: str | int | None,
                     name: str, source: str, units: str = "mV", meta: dict | None = None,
                     fs_given: float | None = None, annotations: Annotations | None = None
                     ) -> Record:
    """A :class:`Record` of every lead in ``signals`` (n_leads x n_samples), ``lead`` chosen.

    The checks every reader applies: a sampling rate of at least :data:`MIN_FS` that agrees
    with ``fs_given``, lead names present and distinct, the chosen lead's samples usable.
    """
    fs = check_fs(fs, minimum=MIN_FS, source=source)
    check_fs_agrees(fs_given, fs, source)
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim != 2 or signals.shape[0] != len(leads):
        raise InvalidInputError(f"{source}: {len(leads)} lead name(s) for "
                                f"{signals.shape[0] if signals.ndim == 2 else 0} lead(s) of samples.")
    if len(set(leads)) != len(leads):
        dup = sorted({x for x in leads if leads.count(x) > 1})
        raise InvalidInputError(f"{source} names lead(s) {', '.join(dup)} more than once.",
                                hint="re-export the ECG with one channel per lead.")
    check_n_samples(signals.shape[1], fs, source)
    idx = select_lead(leads, lead)
    sig = check_signal(signals[idx], source)
    return Record(signal=sig, fs=fs, lead=leads[idx], leads=list(leads), name=name,
                  annotations=annotations, units=units,
                  meta={**(meta or {}), "n_leads": len(leads)}, signals=signals)
