"""ECG records: read recordings, clean them, find beats and rhythm, write findings and reports.

Submodules: ``io`` (:func:`read_record`), ``processing`` (cleaning, R-peaks, quality),
``rhythm`` (RR statistics, rate episodes, the irregularity model), ``scoring`` (beat scores on
records, built on :mod:`cardioclarity.ecg.beats`), ``analyze`` (:func:`analyze_record` ->
``findings.json``), ``report`` (figures and HTML), ``datasets`` (MIT-BIH, CinC 2017), ``cli`` and
``demo``.

The names below load their submodule on first use, so ``import cardioclarity.ecg.records`` does
not import torch or SciPy.
"""

from __future__ import annotations

import importlib
from typing import Any

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
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    # PEP 562: import the submodule on first use, so importing the package stays cheap (no torch).
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
