"""12-lead (multi-lead) analysis: the record pipeline on the rhythm lead plus what the other
leads add.

:func:`analyze_12lead` runs :func:`~cardioclarity.ecg.records.analyze.analyze_record` on the
rhythm lead (lead II unless another is asked for: beats, rhythm and quality exactly as for a
single-lead record), then adds the multi-lead stages, each a function of its own:

- :func:`~cardioclarity.ecg.records.multilead.multilead_peaks`: R-peaks fused across the
  leads (and each rhythm-lead beat marked as confirmed by the other leads or not);
- :func:`beat_morphology`: per beat, how like its lead's median beat it is in each lead (an
  ectopic beat differs in most leads, an artefact in one);
- :func:`~cardioclarity.ecg.records.intervals.measure_intervals`: PR, QRS, QT, QTc with the
  delineation method named, withheld where not measurable.

The findings are the ``findings.json`` object with ``leads_used``, ``multilead``,
``morphology`` and ``intervals`` added (``findings12.json``, see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cardioclarity.ecg.records.analyze import Findings, analyze_record
from cardioclarity.ecg.records.intervals import measure_intervals
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD
from cardioclarity.ecg.records.multilead import MATCH_S, FusedPeaks, multilead_peaks
from cardioclarity.ecg.records.record import Record
from cardioclarity.errors import InvalidInputError
from cardioclarity.validation import to_jsonable

__all__ = ["DEFAULT_INTERVAL_METHOD", "TwelveLeadFindings", "analyze_12lead", "beat_morphology"]

#: Delineator for intervals, chosen by measurement (BENCHMARKS.md ``ecg-multilead``).
DEFAULT_INTERVAL_METHOD = "peak"
#: A beat whose median correlation with its leads' median beats is below this differs in shape.
MORPHOLOGY_CORR = 0.8


@dataclass
class TwelveLeadFindings:
    """:class:`~cardioclarity.ecg.records.analyze.Findings` of the rhythm lead plus the
    multi-lead results.

    Attributes
    ----------
    findings : Findings
        The rhythm-lead analysis.
    fused : FusedPeaks
        R-peaks fused across leads.
    confirmed : ndarray of bool
        Per rhythm-lead beat, whether the fused peaks hold it (within the match window).
    morphology : dict
        See :func:`beat_morphology`.
    intervals : dict
        See :func:`~cardioclarity.ecg.records.intervals.measure_intervals`.
    """

    findings: Findings
    fused: FusedPeaks
    confirmed: np.ndarray
    morphology: dict
    intervals: dict
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """``findings.json`` plus ``leads_used``, ``multilead``, ``morphology``, ``intervals``."""
        d = self.findings.to_dict()
        corr = self.morphology.get("beat_correlation", [])
        for i, beat in enumerate(d["beats"]):
            beat["multilead_confirmed"] = bool(self.confirmed[i]) if i < self.confirmed.size else None
            if i < len(corr):
                beat["morphology_correlation"] = corr[i]
        fused = self.fused
        ml = fused.to_dict()
        rr = np.diff(fused.peaks) / self.findings.sampling_rate
        ml["heart_rate_bpm"] = round(float(60.0 / np.median(rr)), 1) if rr.size >= 2 else None
        ml["rhythm_lead_beats_confirmed"] = (round(float(self.confirmed.mean()), 4)
                                             if self.confirmed.size else None)
        ml["peaks"] = fused.peaks.tolist()
        d.update({"leads_used": list(fused.leads), "rhythm_lead": self.findings.lead,
                  "multilead": ml,
                  "morphology": {k: v for k, v in self.morphology.items() if k != "beat_correlation"},
                  "intervals": to_jsonable(self.intervals)})
        for k, v in self.meta.items():
            d.setdefault(k, to_jsonable(v))
        return d


def beat_morphology(signals: np.ndarray, fs: float, peaks: np.ndarray, leads: list[str]) -> dict:
    """How like its lead's median beat each beat is, across leads.

    For every lead, each beat (-200..+400 ms around its R-peak, band-passed) is correlated with
    the lead's median beat; a beat's score is the median over leads. A beat below
    :data:`MORPHOLOGY_CORR` differs in shape in most leads (ectopy suspected); one that differs
    in a single lead only is more likely artefact there.

    Returns
    -------
    dict
        ``beat_correlation`` (per beat, or None where its window leaves the record),
        ``n_different`` (beats below the threshold), ``threshold``, ``window_ms``.
    """
    from cardioclarity.ecg.records.processing import ecg_clean

    a, b = int(0.2 * fs), int(0.4 * fs)
    inside = (peaks - a >= 0) & (peaks + b <= signals.shape[1])
    idx = peaks[inside]
    corr = np.full(peaks.size, np.nan)
    if idx.size >= 3:
        per_lead = []
        for x in signals:
            if not np.isfinite(x).all() or np.std(x) == 0:
                continue
            c = ecg_clean(x, fs)
            beats = np.stack([c[p - a:p + b] for p in idx])
            beats = beats - beats.mean(axis=1, keepdims=True)
            tmpl = np.median(beats, axis=0)
            den = np.linalg.norm(beats, axis=1) * np.linalg.norm(tmpl)
            per_lead.append(np.where(den > 0, beats @ tmpl / np.where(den > 0, den, 1), np.nan))
        if per_lead:
            corr[inside] = np.nanmedian(np.vstack(per_lead), axis=0)
    values = [None if not np.isfinite(c) else round(float(c), 4) for c in corr]
    return {"beat_correlation": values,
            "n_different": int(np.sum(np.isfinite(corr) & (corr < MORPHOLOGY_CORR))),
            "threshold": MORPHOLOGY_CORR, "window_ms": [-200, 400],
            "n_leads": int(len(leads))}


def analyze_12lead(record: Record, *, interval_method: str = DEFAULT_INTERVAL_METHOD,
                   min_agreement: float = 0.5, **analyze_kwargs) -> TwelveLeadFindings:
    """Analyse a multi-lead record: rhythm-lead findings plus fused R-peaks, per-beat morphology
    across leads and intervals.

    Parameters
    ----------
    record : Record
        With ``signals`` (every lead): DICOM, aECG and Philips records always have them; read
        WFDB records with ``read_record(..., all_leads=True)``. ``record.lead`` is the rhythm lead.
    interval_method : {"dwt", "cwt", "peak"}
        Delineator for the intervals.
    min_agreement : float
        See :func:`~cardioclarity.ecg.records.multilead.fuse_peaks`.
    **analyze_kwargs
        Passed to :func:`~cardioclarity.ecg.records.analyze.analyze_record` (``detector``,
        ``adaptive``, ``rhythm_model``, ``peak_method``...).

    Raises
    ------
    InvalidInputError
        The record holds one lead only.
    """
    if not isinstance(record, Record) or record.signals is None or record.signals.shape[0] < 2:
        raise InvalidInputError(
            "12-lead analysis needs a record with several leads (Record.signals).",
            hint="read WFDB records with all_leads=True (--all-leads); single-lead files are "
            "analysed by analyze_record.")
    findings = analyze_record(record, **analyze_kwargs)
    method = analyze_kwargs.get("peak_method", DEFAULT_PEAK_METHOD)
    fused = multilead_peaks(record.signals, record.fs, record.leads, reference=record.lead,
                            method=method, min_agreement=min_agreement)
    own = findings.peaks
    if own.size and fused.peaks.size:
        confirmed = np.abs(own[:, None] - fused.peaks[None, :]).min(axis=1) <= MATCH_S * record.fs
    else:
        confirmed = np.zeros(own.size, dtype=bool)
    rows = [record.leads.index(name) for name in fused.leads]
    morphology = beat_morphology(record.signals[rows], record.fs, own, fused.leads)
    intervals = measure_intervals(record.signal, record.fs, fused.peaks, method=interval_method)
    intervals["lead"] = record.lead
    meta = {}
    for key in ("reference_intervals", "device_measurements"):
        if key in record.meta:
            meta[key] = record.meta[key]
    return TwelveLeadFindings(findings=findings, fused=fused, confirmed=confirmed,
                              morphology=morphology, intervals=intervals, meta=meta)
