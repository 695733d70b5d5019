"""Builders for the X-ray tests: small DICOMs written with pydicom, synthetic films with masks.

Nothing here reads ../shared/data: every fixture is made on the fly.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
    generate_uid,
)

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "PID-12345-SECRET"


def synthetic_film(size: int = 128, seed: int = 0, heart_frac: float = 0.45):
    """A crude PA film: two dark lungs, a bright heart between them; returns (img[0,1], masks).

    masks: bool (3, size, size) heart, right lung (image left), left lung (image right).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    rl = ((xx - 0.3) / 0.17) ** 2 + ((yy - 0.5) / 0.32) ** 2 < 1
    ll = ((xx - 0.7) / 0.17) ** 2 + ((yy - 0.5) / 0.32) ** 2 < 1
    hw = heart_frac * 0.66 / 2  # heart half-width as a fraction of the image
    heart = ((xx - 0.52) / hw) ** 2 + ((yy - 0.62) / 0.15) ** 2 < 1
    rl &= ~heart
    ll &= ~heart
    img = np.full((size, size), 0.7)
    img[rl | ll] = 0.2
    img[heart] = 0.85
    img += rng.normal(0, 0.02, img.shape)
    return np.clip(img, 0, 1).astype(np.float32), np.stack([heart, rl, ll])


def _base(rows: int, cols: int, **kw) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = kw.pop("transfer_syntax", ExplicitVRLittleEndian)
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19700101"
    ds.Modality = "DX"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PixelRepresentation = 0
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def write_dicom(path: Path | None, pixels: np.ndarray, *, photometric: str = "MONOCHROME2",
                bits_stored: int = 12, view: str | None = "PA", compress: str | None = None,
                with_pixels: bool = True, **extra) -> bytes:
    """Write a grey DICOM from ``pixels`` ([0, 1] float, 0 = black as displayed) and return its bytes.

    ``photometric="MONOCHROME1"`` stores the inverted values (as such files do). ``compress``:
    None, "rle", "jpeg2000" (lossless) or "jpeg" (baseline 8-bit, encapsulated Pillow JPEG).
    ``pixels`` of ndim 3 make a multi-frame file.
    """
    frames = pixels if pixels.ndim == 3 else pixels[None]
    rows, cols = frames.shape[1:]
    bits = 8 if compress == "jpeg" else bits_stored
    maxv = 2 ** bits - 1
    stored = np.round(np.clip(frames, 0, 1) * maxv)
    if photometric == "MONOCHROME1":
        stored = maxv - stored
    dtype = np.uint8 if bits <= 8 else np.uint16
    stored = stored.astype(dtype)
    ds = _base(rows, cols, PhotometricInterpretation=photometric, BitsAllocated=8 if bits <= 8 else 16,
               BitsStored=bits, HighBit=bits - 1, **extra)
    if view:
        ds.ViewPosition = view
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    if with_pixels:
        if compress == "jpeg":
            chunks = []
            for f in stored:
                buf = io.BytesIO()
                Image.fromarray(f).save(buf, format="JPEG", quality=95)
                chunks.append(buf.getvalue())
            ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
            ds.PixelData = encapsulate(chunks)
            ds["PixelData"].VR = "OB"
        else:
            ds.PixelData = (stored if len(frames) > 1 else stored[0]).tobytes()
            if compress == "rle":
                ds.compress(pydicom.uid.RLELossless)
            elif compress == "jpeg2000":
                ds.compress(pydicom.uid.JPEG2000Lossless)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def write_rgb_dicom(path: Path | None, pixels: np.ndarray, photometric: str = "RGB") -> bytes:
    """An 8-bit colour DICOM (RGB or YBR_FULL) of a grey image."""
    g = (np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    rgb = np.stack([g, g, g], axis=-1)
    if photometric == "YBR_FULL":
        from pydicom.pixels import convert_color_space

        rgb = convert_color_space(rgb, "RGB", "YBR_FULL")
    ds = _base(*g.shape, PhotometricInterpretation=photometric, BitsAllocated=8, BitsStored=8,
               HighBit=7, SamplesPerPixel=3, PlanarConfiguration=0)
    ds.PixelData = rgb.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    if path is not None:
        Path(path).write_bytes(buf.getvalue())
    return buf.getvalue()


def write_png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def write_mask_layout(root: Path, n_per_set: int = 6, size: int = 96, swapped: bool = True) -> Path:
    """A tiny dataset in the cxr_heart layout (two sets), optionally with one swapped-label file."""
    for s_i, s in enumerate(("siteA", "siteB")):
        for sub in ("png", "mask/heart", "mask/left_lung", "mask/right_lung"):
            (root / s / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_set):
            img, (h, rl, ll) = synthetic_film(size, seed=100 * s_i + i, heart_frac=0.35 + 0.04 * i)
            name = f"{s}_{i:03d}.png"
            write_png(root / s / "png" / name, img)
            if swapped and s_i == 1 and i == 0:
                h, ll = ll, h
            for key, m in (("heart", h), ("left_lung", ll), ("right_lung", rl)):
                Image.fromarray(m.astype(np.uint8) * 255).save(root / s / "mask" / key / name)
    return root
