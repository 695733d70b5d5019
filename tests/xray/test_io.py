"""read_xray: DICOM (LUTs, MONOCHROME1, bits, compression, colour, frames), PNG/JPEG, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cardioclarity.errors import InputFileNotFoundError, InvalidInputError, UnsupportedFormatError
from cardioclarity.sniff import sniff
from cardioclarity.xray.io import read_xray

from .factory import PATIENT_ID, PATIENT_NAME, synthetic_film, write_dicom, write_rgb_dicom


@pytest.fixture(scope="module")
def film():
    return synthetic_film(128)[0]


def _corr(a, b) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_monochrome2_roundtrip_and_range(film):
    img = read_xray(write_dicom(None, film), name="a.dcm")
    assert img.pixels.dtype == np.float32 and img.pixels.shape == film.shape
    assert 0 <= img.pixels.min() and img.pixels.max() <= 1
    assert _corr(img.pixels, film) > 0.99
    assert img.metadata["photometric"] == "MONOCHROME2" and img.metadata["format"] == "dicom"


def test_monochrome1_is_inverted_to_display_orientation(film):
    m1 = read_xray(write_dicom(None, film, photometric="MONOCHROME1"))
    assert _corr(m1.pixels, film) > 0.99  # lungs stay dark after the flip
    assert m1.metadata["photometric"] == "MONOCHROME1"


def test_modality_lut_and_window_are_applied(film):
    # Stored values are rescaled by slope 2, intercept -1000; the window keeps the upper half only.
    data = write_dicom(None, film, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=3095,
                       WindowWidth=4095)
    img = read_xray(data)
    assert img.metadata["window"]["type"] == "window"
    stored = np.round(film * 4095)
    expected = np.clip((stored * 2 - 1000 - (3095 - 4095 / 2)) / 4095, 0, 1)
    assert np.abs(img.pixels - expected).max() < 0.01


def test_odd_bits_stored_masks_high_bits(film):
    # 10 bits stored in 16 allocated, with junk in the unused high bits (seen in the wild).
    data = bytearray(write_dicom(None, film, bits_stored=10))
    ds_bytes = bytes(data)
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(ds_bytes))
    arr = np.frombuffer(ds.PixelData, np.uint16) | np.uint16(0xF000)
    ds.PixelData = arr.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf)
    img = read_xray(buf.getvalue())
    assert img.metadata["bits_stored"] == 10
    assert _corr(img.pixels, film) > 0.99


@pytest.mark.parametrize("codec", ["rle", "jpeg2000", "jpeg"])
def test_compressed_transfer_syntaxes(film, codec):
    img = read_xray(write_dicom(None, film, compress=codec))
    assert _corr(img.pixels, film) > 0.98
    assert img.metadata["transfer_syntax"]


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_colour_dicom_converted_to_grey(film, photometric):
    img = read_xray(write_rgb_dicom(None, film, photometric))
    assert img.pixels.ndim == 2
    assert np.abs(img.pixels - film).max() < 0.02  # same grey levels, not a contrast stretch
    assert any("colour" in w for w in img.warnings)


def test_multiframe_uses_first_frame_with_warning(film):
    frames = np.stack([film, 1 - film])
    img = read_xray(write_dicom(None, frames))
    assert _corr(img.pixels, film) > 0.99
    assert img.metadata["frames"] == 2 and any("multi-frame" in w for w in img.warnings)


def test_lateral_view_warns(film):
    img = read_xray(write_dicom(None, film, view="LL"))
    assert img.metadata["view_position"] == "LATERAL"
    assert any("lateral" in w for w in img.warnings)


def test_view_from_description_words(film):
    assert read_xray(write_dicom(None, film, view=None, SeriesDescription="CHEST AP PORTABLE")
                     ).metadata["view_position"] == "AP"
    assert read_xray(write_dicom(None, film, view=None, SeriesDescription="MAPPING")
                     ).metadata["view_position"] is None


def test_pixel_spacing_sources(film):
    a = read_xray(write_dicom(None, film, PixelSpacing=[0.2, 0.25]))
    assert a.metadata["pixel_spacing_mm"] == [0.2, 0.25] and a.metadata["spacing_source"] == "PixelSpacing"
    b = read_xray(write_dicom(None, film, ImagerPixelSpacing=[0.2, 0.2],
                              EstimatedRadiographicMagnificationFactor=1.25))
    assert np.allclose(b.metadata["pixel_spacing_mm"], [0.16, 0.16])
    assert "Magnification" in b.metadata["spacing_source"]
    c = read_xray(write_dicom(None, film, ImagerPixelSpacing=[0.2, 0.2]))
    assert c.metadata["pixel_spacing_mm"] == [0.2, 0.2] and "detector plane" in c.metadata["spacing_source"]
    d = read_xray(write_dicom(None, film, PixelSpacing=[0, 0]))  # as in the NEMA RG1 file
    assert d.metadata["pixel_spacing_mm"] is None


def test_no_patient_identifiers_in_metadata(film):
    img = read_xray(write_dicom(None, film))
    text = repr(img.metadata) + repr(img.warnings)
    assert PATIENT_NAME not in text and PATIENT_ID not in text and "19700101" not in text


def test_no_pixel_data(tmp_path, film):
    p = tmp_path / "sr.dcm"
    write_dicom(p, film, with_pixels=False)
    with pytest.raises(InvalidInputError, match="sr.dcm: DICOM has no pixel data"):
        read_xray(p)


def test_truncated_file(tmp_path, film):
    data = write_dicom(None, film)
    p = tmp_path / "cut.dcm"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInputError, match="cut.dcm"):
        read_xray(p)


def test_non_dicom_bytes_named_dcm(tmp_path):
    p = tmp_path / "notes.dcm"
    p.write_text("patient notes, not an image\n" * 20)
    with pytest.raises(UnsupportedFormatError, match="notes.dcm: not a DICOM, PNG or JPEG"):
        read_xray(p)


def test_tiny_image(film):
    with pytest.raises(InvalidInputError, match="smaller than the 64-pixel minimum"):
        read_xray(write_dicom(None, film[:32, :40]))


def test_constant_image():
    with pytest.raises(InvalidInputError, match="constant"):
        read_xray(write_dicom(None, np.full((80, 80), 0.5)))


def test_missing_file(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        read_xray(tmp_path / "nope.dcm")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_png_and_jpeg_bytes(film, fmt):
    buf = io.BytesIO()
    Image.fromarray((film * 255).astype(np.uint8)).save(buf, format=fmt)
    img = read_xray(buf.getvalue())
    assert img.metadata["format"] == fmt.lower() and img.name == "upload"
    assert _corr(img.pixels, film) > 0.98


def test_16bit_png(film):
    buf = io.BytesIO()
    Image.fromarray((film * 65535).astype(np.uint16)).save(buf, format="PNG")
    img = read_xray(buf.getvalue())
    assert np.abs(img.pixels - film).max() < 1e-3


def test_format_is_sniffed_from_content():
    # read_xray decides with cardioclarity.sniff: the magic bytes, not the name.
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff(b"\0" * 128 + b"DICM") == "dicom"
    assert sniff(b"hello world") == "text"
    for data in (b"hello world", b"", b"GIF89a" + b"\0" * 64):
        with pytest.raises(UnsupportedFormatError, match="upload: not a DICOM, PNG or JPEG file"):
            read_xray(data)


def test_raw_dicom_without_preamble_is_read(film):
    # A data set written without the 128-byte preamble and "DICM" still reads as DICOM.
    data = write_dicom(None, film)
    raw = data[132:] if data[128:132] == b"DICM" else data
    img = read_xray(raw)
    assert img.metadata["format"] == "dicom"


@pytest.mark.shared_data
def test_real_dicoms(shared_data):
    d = shared_data / "dicom"
    nema = read_xray(d / "RG1_UNCR.dcm")  # MONOCHROME1, 16-bit, 1841 x 1955
    assert nema.size == (1841, 1955) and nema.metadata["photometric"] == "MONOCHROME1"
    h, w = nema.pixels.shape
    # After inversion the lung fields (mid-height, a quarter in from each side) are darker
    # than the mediastinum / spine in the middle column.
    lungs = (nema.pixels[h // 2 - 100:h // 2 + 100, w // 4 - 50:w // 4 + 50].mean()
             + nema.pixels[h // 2 - 100:h // 2 + 100, 3 * w // 4 - 50:3 * w // 4 + 50].mean()) / 2
    spine = nema.pixels[h // 2 - 100:h // 2 + 100, w // 2 - 40:w // 2 + 40].mean()
    assert lungs < spine
    siim = read_xray(next(d.glob("1.2.276*.dcm")))  # JPEG baseline
    assert siim.size == (1024, 1024) and siim.metadata["pixel_spacing_mm"] is not None


# ------------------------------------------------------------------------------ VOI: windows, LUTs
def _edit(data: bytes, **changes) -> bytes:
    """The DICOM ``data`` with attributes set (value None deletes), re-encoded."""
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(data))
    for k, v in changes.items():
        if v is None:
            delattr(ds, k)
        else:
            setattr(ds, k, v)
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def test_multi_valued_window_uses_the_first_preset(film):
    # CR/DX exports often carry several presets; PS3.3 C.11.2.1.2: the first is the default.
    data = write_dicom(None, film, WindowCenter=[2048, 1000], WindowWidth=[4096, 500])
    img = read_xray(data)
    w = img.metadata["window"]
    assert (w["type"], w["center"], w["width"], w["presets"]) == ("window", 2048.0, 4096.0, 2)
    single = read_xray(write_dicom(None, film, WindowCenter=2048, WindowWidth=4096))
    assert np.abs(img.pixels - single.pixels).max() < 1e-6
    assert not img.warnings


@pytest.mark.parametrize(("centre", "width"), [
    ("abc", "100"),          # not a number
    ("2048", "0"),           # zero width
    ("2048", "-5"),          # negative width
    ("", "4096"),            # empty centre
    ("NaN", "4096"),         # not finite
])
def test_malformed_window_falls_back_to_full_range_with_warning(film, centre, width):
    # pydicom will not build such values, so write digits and overwrite the encoded bytes.
    c, w = (v.ljust(8) if v else "" for v in (centre, width))
    data = write_dicom(None, film, WindowCenter="7" * 8, WindowWidth="8" * 8)
    data = data.replace(b"8" * len(w), w.encode(), 1)
    if c:
        data = data.replace(b"7" * len(c), c.encode(), 1)
    else:
        data = _edit(data, WindowCenter="")
    img = read_xray(data, name="w.dcm")
    assert img.metadata["window"] is None
    assert any("window centre/width unusable" in w for w in img.warnings)
    assert _corr(img.pixels, film) > 0.99


def test_window_outside_the_data_falls_back(film):
    # A window far above every stored value would leave a constant (black) image.
    img = read_xray(write_dicom(None, film, WindowCenter=60000, WindowWidth=100))
    assert img.metadata["window"] is None and any("constant" in w for w in img.warnings)
    assert _corr(img.pixels, film) > 0.99


def _voi_lut_item(first: int, entries: list[int], bits: int = 16):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.LUTDescriptor = [len(entries), first, bits]
    item.add_new(0x00283006, "US", entries)  # LUT Data
    return item


def test_voi_lut_sequence_is_applied_to_modality_output(film):
    # An inverting LUT over the stored range 0..4095, after a rescale intercept of +100.
    lut = [4095 - i for i in range(4096)]
    data = _edit(write_dicom(None, film, RescaleSlope=1, RescaleIntercept=100),
                 VOILUTSequence=[_voi_lut_item(100, lut)])
    img = read_xray(data)
    assert img.metadata["window"]["type"] == "VOI LUT"
    assert _corr(img.pixels, 1 - film) > 0.99


def test_broken_voi_lut_falls_back_to_window_then_range(film):
    broken = _voi_lut_item(0, [1, 2, 3], bits=12)  # 12 bits per entry: not allowed
    with_window = read_xray(_edit(write_dicom(None, film, WindowCenter=2048, WindowWidth=4096),
                                  VOILUTSequence=[broken]))
    assert with_window.metadata["window"]["type"] == "window"
    assert any("VOI LUT Sequence unusable" in w for w in with_window.warnings)
    bare = read_xray(_edit(write_dicom(None, film), VOILUTSequence=[broken]))
    assert bare.metadata["window"] is None and _corr(bare.pixels, film) > 0.99


def test_malformed_rescale_falls_back_to_stored_values(film):
    data = write_dicom(None, film, RescaleSlope="9999", RescaleIntercept=0)
    img = read_xray(data.replace(b"9999", b"x   ", 1))
    assert any("rescale values unusable" in w for w in img.warnings)
    assert _corr(img.pixels, film) > 0.99


@pytest.mark.shared_data
def test_real_cr_with_two_window_presets(shared_data):
    # RG1 (NEMA WG04 CR) re-exported the way CR/DX consoles do: two window presets.
    data = (shared_data / "dicom" / "RG1_UNCR.dcm").read_bytes()
    plain = read_xray(data)
    import pydicom

    lo, hi = np.percentile(pydicom.dcmread(io.BytesIO(data)).pixel_array[::8, ::8], [1, 99])
    two = read_xray(_edit(data, WindowCenter=[float(lo + hi) / 2, 1000], WindowWidth=[float(hi - lo), 800]))
    assert two.metadata["window"]["presets"] == 2 and two.size == plain.size
    assert _corr(two.pixels[::8, ::8], plain.pixels[::8, ::8]) > 0.9


# --------------------------------------------------------------------- files that are not one film
def _message(excinfo) -> str:
    return excinfo.value.message


def test_truncated_pixel_data_message_is_whole(film):
    data = write_dicom(None, film)
    with pytest.raises(InvalidInputError) as e:
        read_xray(data[:-100], name="cut.dcm")
    msg = _message(e)
    # pydicom's own explanation comes through whole (it used to be cut after 160 characters).
    assert "\n" not in str(e.value) and msg.endswith(")."), msg
    assert "less than expected" in msg and "transfer syntax may be incorrect" in msg


def test_decoder_failure_names_the_transfer_syntax_and_each_plugin(monkeypatch, film):
    import pydicom

    text = ("Unable to decode as exceptions were raised by all available plugins:\n"
            "  pylibjpeg: failed to read the header\n  pillow: unsupported")

    def broken(self):
        raise RuntimeError(text)

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(broken))
    with pytest.raises(InvalidInputError) as e:
        read_xray(write_dicom(None, film, compress="jpeg"), name="j.dcm")
    msg = _message(e)
    assert "JPEG Baseline" in msg and "pylibjpeg: failed to read the header; pillow: unsupported" in msg
    assert not msg.rstrip(".)").endswith(":")


def test_missing_decoder_plugins_are_named(monkeypatch, film):
    import pydicom

    text = ("Unable to decompress 'JPEG Baseline (Process 1)' pixel data because all plugins are "
            "missing dependencies:\n    gdcm - requires gdcm>=3.0.10\n    pylibjpeg - requires "
            "pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1")

    def missing(self):
        raise RuntimeError(text)

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(missing))
    with pytest.raises(UnsupportedFormatError) as e:
        read_xray(write_dicom(None, film, compress="jpeg"), name="j.dcm")
    assert "gdcm - requires gdcm>=3.0.10; pylibjpeg - requires" in _message(e)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("name", "what"), [
    ("test-SR.dcm", "structured report"), ("rtplan.dcm", "radiotherapy object"),
    ("waveform_ecg.dcm", "waveform recording"),
])
def test_non_image_dicoms_say_what_they_are(name, what):
    from pydicom.data import get_testdata_file

    with pytest.raises(InvalidInputError, match=f"{name}: DICOM has no pixel data: it is an? {what}"):
        read_xray(get_testdata_file(name))


def test_multi_frame_volume_is_refused(film):
    with pytest.raises(InvalidInputError, match="a 3-frame CT DICOM is a volume"):
        read_xray(write_dicom(None, np.stack([film] * 3), Modality="CT"))


def test_dicom_without_transfer_syntax_is_read_as_encoded(film):
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(write_dicom(None, film)))
    del ds.file_meta.TransferSyntaxUID
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=True, little_endian=True)
    img = read_xray(buf.getvalue())
    assert _corr(img.pixels, film) > 0.99
    assert any("no Transfer Syntax UID" in w for w in img.warnings)


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="is a folder, not a file"):
        read_xray(tmp_path)
