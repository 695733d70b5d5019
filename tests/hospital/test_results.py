"""All objects of a real film, and ``cardioclarity xray detect --dicom-out`` on DICOM and PNG."""

from __future__ import annotations

import shutil

import pydicom
import pytest

from cardioclarity.cli import main
from cardioclarity.errors import InvalidInputError
from cardioclarity.hospital.results import parse_kinds

from .factory import dciodvfy_errors

SIIM = "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"


def test_parse_kinds():
    assert parse_kinds(None) == ("sr", "seg", "sc") and parse_kinds("sr, sc") == ("sr", "sc")
    with pytest.raises(InvalidInputError, match="valid: sr, seg, sc"):
        parse_kinds("gsps")


@pytest.mark.shared_data
def test_detect_writes_dicom_for_dicom_films_and_says_why_not_for_a_png(shared_data, tmp_path, capsys):
    films = tmp_path / "films"
    films.mkdir()
    shutil.copy(shared_data / "dicom" / SIIM, films / "siim.dcm")
    shutil.copy(shared_data / "cxr_samples" / "00000001_000.png", films / "nih.png")
    dout = tmp_path / "dicom"
    rc = main(["xray", "detect", str(films), "--out", str(tmp_path / "out"), "--dicom-out", str(dout),
               "--no-overlay"])
    err = capsys.readouterr().err
    assert rc == 0
    assert "nih.png: no DICOM output" in err and "need a DICOM input" in err
    # The SIIM film is refused by the quality gate (implausible widths): SR and capture, no SEG.
    assert "siim.dcm: no DICOM SEG" in err
    assert sorted(p.name for p in dout.iterdir()) == ["siim_sc.dcm", "siim_sr.dcm"]
    src = pydicom.dcmread(films / "siim.dcm", stop_before_pixels=True)
    for path in dout.iterdir():
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.StudyInstanceUID == src.StudyInstanceUID and ds.PatientID == src.PatientID
        assert dciodvfy_errors(path.read_bytes(), tmp_path) == [], path.name
