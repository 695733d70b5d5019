"""ECG: beat anomaly detection (:mod:`cardioclarity.ecg.beats`) and record analysis
(:mod:`cardioclarity.ecg.records`): readers, preprocessing, autoencoder beat scoring, rhythm
analysis, findings and reports.

The main names of both subpackages are available here; each loads its submodule on first use, so
``import cardioclarity.ecg`` stays cheap (no torch).
"""

from cardioclarity._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["BeatAnomalyDetector", "BeatSet", "ClassicalDetector", "DEFAULT_DETECTOR",
                     "EnsembleDetector", "load_detector", "read_beats", "render_beat_report",
                     "score_table", "scores_csv"], "cardioclarity.ecg.beats"),
    **dict.fromkeys(["Findings", "Record", "RecordBeatModel", "RhythmModel", "analyze_record",
                     "read_record", "render_record_report", "strip_png"],
                    "cardioclarity.ecg.records"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
