"""ECG records: read recordings, clean them, find beats and rhythm, write findings and reports.

Submodules: ``io`` (:func:`read_record`; the format readers ``formats``, ``edf``,
``dicom_waveform``, ``aecg``, ``philips``, with ``xmlsafe``), ``processing`` (cleaning, R-peaks,
quality), ``multilead`` (R-peaks fused across leads), ``intervals`` (PR, QRS, QT, QTc),
``twelve_lead`` (:func:`analyze_12lead`), ``report_12lead`` (the 12-lead page),
``rhythm`` (RR statistics, rate episodes, the irregularity model), ``scoring`` (beat scores on
records, built on :mod:`cardioclarity.ecg.beats`), ``analyze`` (:func:`analyze_record` ->
``findings.json``), ``report`` (figures and HTML), ``datasets`` (MIT-BIH, CinC 2017), ``cli`` and
``demo``.

The names below load their submodule on first use, so ``import cardioclarity.ecg.records`` does
not import torch or SciPy.
"""

from cardioclarity._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["MIN_FS", "Annotations", "Record", "read_record", "select_lead"],
                    "cardioclarity.ecg.records.io"),
    **dict.fromkeys(["PEAK_METHODS", "Quality", "assess_quality", "ecg_clean", "ecg_peaks",
                     "resample_sig", "segment_beats"], "cardioclarity.ecg.records.processing"),
    **dict.fromkeys(["RhythmModel", "heart_rate_trend", "rate_episodes", "rhythm_features",
                     "rr_intervals", "rr_stats"], "cardioclarity.ecg.records.rhythm"),
    **dict.fromkeys(["DEFAULT_RECORD_MODEL", "BeatScores", "RecordBeatModel", "WindowConfig"],
                    "cardioclarity.ecg.records.scoring"),
    **dict.fromkeys(["Findings", "Prepared", "analyze_record", "preprocess"],
                    "cardioclarity.ecg.records.analyze"),
    **dict.fromkeys(["render_record_report", "strip_png"], "cardioclarity.ecg.records.report"),
    **dict.fromkeys(["STANDARD_12", "standard_lead_name"], "cardioclarity.ecg.records.record"),
    **dict.fromkeys(["FusedPeaks", "multilead_peaks"], "cardioclarity.ecg.records.multilead"),
    **dict.fromkeys(["measure_intervals"], "cardioclarity.ecg.records.intervals"),
    **dict.fromkeys(["TwelveLeadFindings", "analyze_12lead"],
                    "cardioclarity.ecg.records.twelve_lead"),
    **dict.fromkeys(["render_12lead_report", "twelve_lead_png"],
                    "cardioclarity.ecg.records.report_12lead"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
