"""Small synthetic DICOM films and results for the hospital tests (no patient data: made up here)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROWS, COLS = 256, 240


def film(*, spacing: tuple[float, float] | None = None, modality: str = "CR",
         pixels: np.ndarray | None = None, **extra):
    """A CR film header + pixels (pydicom Dataset, uncompressed), made-up patient and study.

    ``pixels`` (2-D uint16, 12 bits used) replaces the synthetic pattern, which the input gate
    rightly refuses as no chest film; :func:`chest_pixels` gives a real one.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Film", "TEST-1", "19500101", "F"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "101010", "S1", "A1"
    ds.ReferringPhysicianName = "Doe^Jane"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, 1, 1
    ds.BodyPartExamined, ds.ViewPosition, ds.PatientOrientation = "CHEST", "PA", ["L", "F"]
    ds.Manufacturer = "Test"
    rows, cols = (ROWS, COLS) if pixels is None else pixels.shape
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if spacing:
        ds.ImagerPixelSpacing = list(spacing)
    for k, v in extra.items():
        setattr(ds, k, v)
    if pixels is None:
        yy, xx = np.mgrid[:ROWS, :COLS]
        pixels = (np.sin(xx / 9.0) + np.cos(yy / 13.0) + 2) * 900
    ds.PixelData = np.asarray(pixels).astype(np.uint16).tobytes()
    return ds


def chest_pixels(size: int = 512) -> np.ndarray:
    """The bundled NIH sample chest film, ``size`` px square, scaled to 12 bits."""
    from importlib.resources import files

    from PIL import Image

    png = files("cardioclarity") / "samples" / "cxr_nih_00000001_000.png"
    with Image.open(io.BytesIO(png.read_bytes())) as im:
        grey = np.asarray(im.convert("L").resize((size, size), Image.BILINEAR), dtype=np.float64)
    return (grey * (4095 / 255)).astype(np.uint16)


def film_bytes(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def header(ds):
    """The header as read_source gives it (no pixel data)."""
    from cardioclarity.hospital.source import read_source

    return read_source(film_bytes(ds), name="film.dcm")


def result(*, ctr: float | None = 0.55, ok: bool = True, mm: bool = False, **quality) -> dict:
    """A ``<stem>.json`` object as HeartResult.to_dict() writes it."""
    meas = {"heart_width_px": 110.0, "thorax_width_px": 200.0, "heart_line": [60.0, 170.0, 150.0],
            "thorax_line": [20.0, 220.0, 170.0]}
    if mm:
        meas.update(heart_width_mm=110.0 * 0.5, thorax_width_mm=100.0)
    return {"image_size": [COLS, ROWS], "heart_box": [60.0, 100.0, 170.0, 200.0], "ctr": ctr,
            "cardiomegaly": None if ctr is None else ctr > 0.5,
            "pixel_spacing_mm": [0.5, 0.5] if mm else None, "view_position": "PA",
            "quality": {"ok": ok, "notes": [], **quality},
            "model": {"name": "cxr-heart-seg", "architecture": "seg", "created_utc": "2026-01-01T00:00:00Z",
                      "ctr_threshold": 0.5},
            "measurements": meas, "disclaimer": "Research use only."}


def dciodvfy_errors(data: bytes, tmp: Path) -> list[str]:
    """The ``Error`` lines dciodvfy prints for ``data`` (skips the test without dciodvfy)."""
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy not installed (apt-get install dicom3tools)")
    path = tmp / "object.dcm"
    path.write_bytes(data)
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
