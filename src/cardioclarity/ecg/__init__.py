"""ECG: beat anomaly detection (:mod:`cardioclarity.ecg.beats`) and record analysis
(:mod:`cardioclarity.ecg.records`): readers, preprocessing, autoencoder beat scoring, rhythm
analysis, findings and reports.

The main names of both subpackages are available here; each loads its submodule on first use, so
``import cardioclarity.ecg`` stays cheap (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    **dict.fromkeys(["BeatAnomalyDetector", "BeatSet", "ClassicalDetector", "DEFAULT_DETECTOR",
                     "EnsembleDetector", "load_detector", "read_beats", "render_beat_report",
                     "score_table", "scores_csv"], "cardioclarity.ecg.beats"),
    **dict.fromkeys(["Findings", "Record", "RecordBeatModel", "RhythmModel", "analyze_record",
                     "read_record", "render_record_report", "strip_png"],
                    "cardioclarity.ecg.records"),
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
