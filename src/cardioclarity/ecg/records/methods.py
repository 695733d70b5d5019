"""Names of the record pipeline's R-peak detectors, importable without NumPy or SciPy.

The CLI and the API build their options from these at start-up, before any signal code loads.
"""

from __future__ import annotations

#: Every detector :func:`~cardioclarity.ecg.records.processing.ecg_peaks` knows.
PEAK_METHODS = ("cardioclarity", "net", "hybrid", "neurokit", "xqrs")

#: The detectors the CLI, the API and batches offer (the two others are baselines for benchmarks).
PIPELINE_PEAK_METHODS = ("cardioclarity", "net", "hybrid")

#: R-peak detector of the record pipeline (``preprocess``, ``analyze_record``, the CLI, the API,
#: batches). ``hybrid`` because it keeps the energy detector's accuracy on clean Holter leads
#: (MIT-BIH F1 0.9995 vs 0.9982) and adds the learned detector's robustness to electrode-motion
#: noise (nstdb 6 dB Se/PPV 0.991/0.996 vs 0.981/0.822), for 0.2-0.3 s (2 torch threads) to
#: 0.4 s (1 thread) more per 30-min record (BENCHMARKS.md ``ecg-rpeaks``, ``ecg-ec57``).
#: ``ecg_peaks`` itself defaults to ``cardioclarity``, the detector that needs no weights.
DEFAULT_PEAK_METHOD = "hybrid"
