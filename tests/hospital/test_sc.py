"""Secondary Capture of the overlay: banner burned in, declared, in the source study, valid."""

from __future__ import annotations

import io

import numpy as np
import pydicom
from PIL import Image

from cardioclarity.hospital.sc import sc_bytes, with_banner

from .factory import dciodvfy_errors, film, header, result


def _png(h=200, w=180) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((h, w, 3), 40, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_banner_is_burned_into_the_pixels():
    arr = with_banner(_png())
    assert arr.shape[1:] == (180, 3) and arr.shape[0] > 200
    top = arr[: arr.shape[0] - 200]
    assert (top[..., 0] >= 160).mean() > 0.5 and (top == 255).any()  # red band, white text


def test_capture_joins_the_study_and_declares_burned_in_text(tmp_path):
    ds = film()
    data = sc_bytes(header(ds), _png(), result())
    sc = pydicom.dcmread(io.BytesIO(data))
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
    assert sc.StudyInstanceUID == ds.StudyInstanceUID and sc.SeriesInstanceUID != ds.SeriesInstanceUID
    assert (sc.PatientID, str(sc.PatientName)) == ("TEST-1", "Test^Film")
    assert sc.BurnedInAnnotation == "YES" and sc.PhotometricInterpretation == "RGB"
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert sc.pixel_array.shape[2] == 3
    assert dciodvfy_errors(data, tmp_path) == []


def test_unknown_orientation_is_written_empty_not_invented(tmp_path):
    ds = film()
    del ds.PatientOrientation
    data = sc_bytes(header(ds), _png(), result())
    assert pydicom.dcmread(io.BytesIO(data)).PatientOrientation in ("", None)
    assert dciodvfy_errors(data, tmp_path) == []
