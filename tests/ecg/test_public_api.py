"""The public names of cardioclarity.ecg and its subpackages: they resolve, dir() lists them, and
importing the packages stays cheap (no torch, SciPy or Matplotlib)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from conftest import REPO

PACKAGES = ("cardioclarity.ecg", "cardioclarity.ecg.beats", "cardioclarity.ecg.records")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_and_is_listed(package):
    mod = importlib.import_module(package)
    assert mod.__all__ and len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
        assert name in dir(mod), name
    with pytest.raises(AttributeError):
        mod.no_such_name  # noqa: B018


def test_main_names_of_both_subpackages_are_at_the_top():
    import cardioclarity.ecg as ecg
    from cardioclarity.ecg.beats import detector
    from cardioclarity.ecg.records import io

    for name in ("load_detector", "read_beats", "scores_csv", "read_record", "analyze_record",
                 "RecordBeatModel", "RhythmModel", "render_record_report", "strip_png"):
        assert name in ecg.__all__
    assert ecg.load_detector is detector.load_detector and ecg.read_record is io.read_record


def test_importing_the_packages_is_cheap():
    code = ("import sys; " + "; ".join(f"import {p}" for p in PACKAGES)
            + "; print(sorted(m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": ""}, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
