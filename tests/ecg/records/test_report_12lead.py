"""The 12-lead page: standard layout at true scale (25 mm/s, 10 mm/mV)."""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
import pytest

from cardioclarity.ecg.records.io import read_record
from cardioclarity.ecg.records.report_12lead import (
    MM_PER_MV,
    MM_PER_S,
    render_12lead_report,
    twelve_lead_png,
)
from cardioclarity.errors import InvalidInputError


@pytest.fixture(scope="module")
def record():
    from pydicom.data import get_testdata_file

    return read_record(Path(get_testdata_file("waveform_ecg.dcm")))


def test_page_is_drawn_at_true_scale(record):
    from PIL import Image

    dpi = 100
    img = Image.open(io.BytesIO(twelve_lead_png(record, dpi=dpi)))
    # 10.4 s of paper (0.4 s of calibration margin) + 20 mm of margins, 4 rows of 35 mm + 22 mm.
    w_mm = (10.4 * MM_PER_S) + 20
    h_mm = 4 * 3.5 * MM_PER_MV + 22
    assert abs(img.width - w_mm / 25.4 * dpi) <= 2 and abs(img.height - h_mm / 25.4 * dpi) <= 2
    px = np.asarray(img.convert("RGB"))
    reddish = (px[..., 0] > 200) & (px[..., 1] < 200) & (px[..., 2] < 200)
    assert reddish.mean() > 0.05  # the grid is there


def test_missing_leads_are_named(record):
    from cardioclarity.ecg.records.record import Record

    two = Record(signal=record.signal, fs=record.fs, lead="II", leads=["I", "II"], name="two",
                 units="mV", signals=record.signals[:2])
    with pytest.raises(InvalidInputError, match="lacks III, aVR"):
        twelve_lead_png(two)


def test_html_page_has_the_figure_intervals_and_disclaimer(record):
    from cardioclarity import DISCLAIMER

    d = {"record": "r", "sampling_rate": 1000.0, "duration_s": 10.0, "rhythm_lead": "II",
         "n_beats": 10, "multilead": {"n_peaks": 10, "leads": ["I", "II"], "heart_rate_bpm": 60.0,
                                      "per_lead": {"I": {"n_peaks": 10}}},
         "intervals": {"method": "m", "lead": "II", "pr": {"value_ms": 150.0, "n_beats": 9},
                       "qt": {"value_ms": None, "n_beats": 0, "withheld": "too noisy"}}}
    page = render_12lead_report(d, b"\x89PNG fake")
    assert html.escape(DISCLAIMER) in page and "data:image/png;base64," in page
    assert "150" in page and "withheld" in page and "too noisy" in page
