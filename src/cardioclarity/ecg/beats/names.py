"""Names the ECG beat detectors accept, importable without torch.

The CLI builds its ``--help`` and argparse ``choices`` from these; keeping them free of torch,
SciPy and Matplotlib imports is what lets ``cardioclarity --help`` answer in well under a second.
:mod:`cardioclarity.ecg.beats.models` and :mod:`cardioclarity.ecg.beats.detector` import them from here, so
there is one list, and a test checks it against the model registry.
"""

from __future__ import annotations

__all__ = ["BEAT_FORMATS", "CALIBRATIONS", "CLASSICAL_METHODS", "DEFAULT_DETECTOR",
           "MODEL_DESCRIPTIONS", "THRESHOLD_STRATEGIES"]

#: Layouts :func:`cardioclarity.ecg.beats.io.read_beats` reads (``fmt=``).
BEAT_FORMATS = ("auto", "tutorial", "ucr", "matrix", "npy", "json")

#: Bundled checkpoint that ``load_detector`` returns when given no name.
DEFAULT_DETECTOR = "ecg5000-ensemble"
#: Autoencoder architectures of ``cardioclarity.ecg.beats.models.MODEL_REGISTRY``, with their one-line help.
MODEL_DESCRIPTIONS: dict[str, str] = {
    "dense": "tutorial baseline: L-32-16-8-16-32-L ReLU MLP, sigmoid output, min-max input, L1",
    "conv1d": "1-D conv autoencoder, linear bottleneck",
    "lstm": "LSTM sequence autoencoder",
    "resconv": "denoising residual conv autoencoder, narrow bottleneck",
}
THRESHOLD_STRATEGIES = ("percentile", "mean_std", "best_f1")
CLASSICAL_METHODS = ("knn", "iforest")
CALIBRATIONS = ("zscore", "rank")
