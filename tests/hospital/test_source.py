"""The source header: PNG/JPEG refused with a clear message, UIDs required, derived UIDs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cardioclarity.errors import InvalidInputError, UnsupportedFormatError
from cardioclarity.hospital.source import derived_uid, read_source

from .factory import film, film_bytes


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_png_and_jpeg_get_no_dicom_output(fmt):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((80, 80), np.uint8)).save(buf, format=fmt)
    with pytest.raises(UnsupportedFormatError) as err:
        read_source(buf.getvalue(), name=f"film.{fmt.lower()}")
    msg = str(err.value)
    assert "need a DICOM input" in msg and f"a {fmt} image" in msg and "Hint:" in msg


def test_header_without_uids_is_refused():
    ds = film()
    del ds.StudyInstanceUID
    with pytest.raises(InvalidInputError, match="lacks StudyInstanceUID"):
        read_source(film_bytes(ds), name="x.dcm")


def test_reads_header_without_pixels(tmp_path):
    path = tmp_path / "f.dcm"
    path.write_bytes(film_bytes(film()))
    ds = read_source(path)
    assert "PixelData" not in ds and ds.Rows == 256


def test_derived_uid_is_valid_and_stable():
    uid = derived_uid("a", 1)
    assert uid.startswith("2.25.") and len(uid) <= 64 and uid == derived_uid("a", 1)
    assert uid != derived_uid("a", 2) and uid != derived_uid("a1")
