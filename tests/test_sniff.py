"""Content sniffing by magic bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest

from cardioclarity.sniff import describe_kind, looks_like_wfdb_header, sniff


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(("data", "kind"), [
    (b"", "empty"), (b"  \n\t", "empty"),
    (b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00", "dicom"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "jpeg"),
    (b"PK\x03\x04rest", "zip"), (b"PK\x05\x06" + b"\x00" * 18, "zip"),
    (b"%PDF-1.7\n", "pdf"), (b"GIF89a", "gif"), (b"\x1f\x8b\x08", "gzip"),
    (b"\x93NUMPY\x01\x00", "npy"),
    (b'{"beats": [[1, 2]]}', "json"), (b"\xef\xbb\xbf [1, 2]", "json"),
    (b"0.1,0.2,0.3\n0.4,0.5,0.6\n", "text"),
    (b"100 2 360 650000\n100.dat 212 200 11 1024 995 -22131 0 MLII\n", "wfdb-header"),
    (b"# comment\na103l 3 250 82500\na103l.mat 16+24 7247/mV 16 0 -171 -27403 0 II\n", "wfdb-header"),
    (bytes(range(256)) * 4, "binary"),
])
def test_sniff_known_kinds(data, kind):
    assert sniff(data) == kind


def test_png_from_pillow():
    assert sniff(_png()) == "png"


def test_numeric_table_is_not_a_wfdb_header():
    # "1 2 3 4" parses as a WFDB record line; the next line (a number, not a file) says otherwise.
    assert not looks_like_wfdb_header(b"1 2 3 4\n5 6 7 8\n")
    assert sniff(b"1 2 3 4\n5 6 7 8\n") == "text"


def test_utf8_cut_in_window_is_still_text():
    data = ("é" * 5000).encode()  # 10000 bytes: the 8192-byte window ends inside a character
    assert sniff(data) == "text"


def test_describe_kind_is_human():
    assert describe_kind("png") == "a PNG image"
    assert describe_kind("unknown-kind") == "unknown-kind"


def test_real_files(shared_data):
    d = shared_data
    assert sniff((d / "dicom" / "RG1_UNCR.dcm").read_bytes()[:4096]) == "dicom"
    assert sniff((d / "cxr_samples" / "16747_3_1.jpg").read_bytes()[:4096]) == "jpeg"
    assert sniff((d / "cxr_samples" / "00000001_000.png").read_bytes()[:4096]) == "png"
    assert sniff((d / "mitdb" / "100.hea").read_bytes()) == "wfdb-header"
    assert sniff((d / "mitdb" / "100.dat").read_bytes()[:8192]) == "binary"
    assert sniff((d / "wfdb" / "a103l.hea").read_bytes()) == "wfdb-header"
    assert sniff((d / "ecg5000" / "ECG5000_TRAIN.txt").read_bytes()[:8192]) == "text"


def test_hospital_ecg_formats_are_told_apart():
    from pathlib import Path

    from pydicom.data import get_testdata_file

    assert sniff(Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()) == "dicom-waveform"
    assert sniff(Path(get_testdata_file("CT_small.dcm")).read_bytes()) == "dicom"
    aecg = b'<?xml version="1.0"?>\n<!-- c -->\n<AnnotatedECG xmlns="urn:hl7-org:v3"/>'
    assert sniff(aecg) == "hl7-aecg"
    sierra = '<?xml version="1.0" encoding="utf-16"?><restingecgdata xmlns="x"/>'
    assert sniff(sierra.encode("utf-16")) == "philips-xml"  # UTF-16 with a byte-order mark
    assert sniff(b"<note><to>x</to></note>") == "xml"
    assert describe_kind("dicom-waveform") == "a DICOM ECG waveform"
