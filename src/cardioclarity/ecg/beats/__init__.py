"""ECG beats: read tables of heartbeats, train and load beat anomaly detectors, report scores.

Submodules: ``io`` (:func:`read_beats`), ``names`` (torch-free option names for the CLI),
``models`` (autoencoder architectures), ``base`` / ``autoencoder`` / ``classical`` / ``ensemble``
(the detectors), ``detector`` (the front door: :func:`load_detector`, :func:`score_table`),
``report`` (``scores.csv`` text, figures, HTML), ``cli`` and ``demo``.

The names below load their submodule on first use, so ``import cardioclarity.ecg.beats`` does not
import torch.
"""

from cardioclarity._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["BEAT_FORMATS", "BeatSet", "read_beats", "split_beats"],
                    "cardioclarity.ecg.beats.io"),
    **dict.fromkeys(["CALIBRATIONS", "CLASSICAL_METHODS", "DEFAULT_DETECTOR",
                     "MODEL_DESCRIPTIONS", "THRESHOLD_STRATEGIES"],
                    "cardioclarity.ecg.beats.names"),
    **dict.fromkeys(["build_model", "list_models"], "cardioclarity.ecg.beats.models"),
    **dict.fromkeys(["LABEL_CONVENTION", "TrainConfig", "check_beats", "fit_threshold",
                     "resample_beats"], "cardioclarity.ecg.beats.base"),
    "BeatAnomalyDetector": "cardioclarity.ecg.beats.autoencoder",
    "ClassicalDetector": "cardioclarity.ecg.beats.classical",
    "EnsembleDetector": "cardioclarity.ecg.beats.ensemble",
    **dict.fromkeys(["AnyDetector", "load_detector", "score_table"],
                    "cardioclarity.ecg.beats.detector"),
    **dict.fromkeys(["render_beat_report", "scores_csv"], "cardioclarity.ecg.beats.report"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
