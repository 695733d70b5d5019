"""The record pipeline's detector names: one default, used everywhere, importable without NumPy."""

from __future__ import annotations

import inspect
import subprocess
import sys

from cardioclarity.batch.core import BatchSpec
from cardioclarity.ecg.records.analyze import analyze_record, preprocess
from cardioclarity.ecg.records.datasets import beat_feature_table, labelled_beat_features
from cardioclarity.ecg.records.methods import (
    DEFAULT_PEAK_METHOD,
    PEAK_METHODS,
    PIPELINE_PEAK_METHODS,
)
from cardioclarity.ecg.records.multilead import multilead_peaks
from cardioclarity.ecg.records.processing import ecg_peaks


def test_the_default_is_one_the_pipeline_offers():
    assert DEFAULT_PEAK_METHOD in PIPELINE_PEAK_METHODS
    assert set(PIPELINE_PEAK_METHODS) <= set(PEAK_METHODS)


def test_every_pipeline_entry_point_defaults_to_it():
    for fn, arg in ((analyze_record, "peak_method"), (preprocess, "peak_method"),
                    (labelled_beat_features, "peak_method"), (beat_feature_table, "peak_method"),
                    (multilead_peaks, "method")):
        assert inspect.signature(fn).parameters[arg].default == DEFAULT_PEAK_METHOD, fn.__name__
    assert BatchSpec("ecg").peaks == DEFAULT_PEAK_METHOD
    # The pure detector function keeps the one that needs no model weights.
    assert inspect.signature(ecg_peaks).parameters["method"].default == "cardioclarity"


def test_the_names_import_without_numpy():
    code = ("import sys, cardioclarity.ecg.records.methods; "
            "sys.exit('numpy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
