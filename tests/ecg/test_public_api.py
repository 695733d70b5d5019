"""The public names of cardioclarity.ecg and its subpackages (that each resolves and is listed is
checked for every package in tests/test_package.py), and importing them stays cheap."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

PACKAGES = ("cardioclarity.ecg", "cardioclarity.ecg.beats", "cardioclarity.ecg.records")


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
