"""Small generated inputs shared by the serve tests (no files needed)."""

from __future__ import annotations

import io

import numpy as np

#: A valid 1 x 1 grey PNG.
PNG_1PX = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00"
           b":~\x9bU\x00\x00\x00\nIDATx\x9cc`\x00\x00\x00\x02\x00\x01H\xaf\xa4q\x00\x00\x00\x00IEND"
           b"\xaeB`\x82")


def png_bytes(size: int = 64) -> bytes:
    """A grey-ramp PNG of ``size`` x ``size`` pixels."""
    from PIL import Image

    img = np.linspace(0, 255, size * size).reshape(size, size).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def dicom_from_pixels(pixels: np.ndarray, *, bits_stored: int, photometric: str,
                      **attributes: object) -> bytes:
    """A single-frame DICOM (explicit VR little endian) of ``pixels`` with ``attributes`` set."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = photometric
    ds.PixelData = pixels.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def dicom_bytes(size: int = 64) -> bytes:
    """A small MONOCHROME1 CR DICOM carrying patient identifiers (DOE^JOHN, 123456)."""
    pixels = (np.arange(size * size, dtype=np.uint16) % 4096).reshape(size, size)
    return dicom_from_pixels(pixels, bits_stored=12, photometric="MONOCHROME1",
                             PatientName="DOE^JOHN", PatientID="123456", Modality="CR",
                             ViewPosition="PA")


def wfdb_record() -> dict[str, bytes]:
    """A 10 s single-lead WFDB record (format 16, 360 Hz): ``{"rec.hea": ..., "rec.dat": ...}``."""
    t = np.arange(3600) / 360
    sig = (np.sin(2 * np.pi * 1.2 * t) * 800).astype(np.int16)
    return {"rec.hea": b"rec 1 360 3600\nrec.dat 16 200 16 0 0 0 0 MLII\n", "rec.dat": sig.tobytes()}
