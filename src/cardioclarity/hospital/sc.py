"""Secondary Capture of the overlay: the film with contours, heart box, CTR lines and value.

The picture is :func:`cardioclarity.xray.report.overlay_png` with a banner burned in at the top,
"RESEARCH USE ONLY - NOT FOR DIAGNOSIS", so the statement travels with the pixels into any viewer;
Burned In Annotation is YES. A Secondary Capture carries no pixel spacing: it is for looking at,
not for measuring.
"""

from __future__ import annotations

import io

import numpy as np

from cardioclarity import __version__
from cardioclarity.errors import InvalidInputError
from cardioclarity.hospital.source import SC_SERIES_NUMBER, derived_uid

__all__ = ["BANNER", "SC_SERIES_NUMBER", "build_sc", "sc_bytes", "with_banner"]

BANNER = "RESEARCH USE ONLY - NOT FOR DIAGNOSIS"


def with_banner(png: bytes) -> np.ndarray:
    """The overlay PNG as an RGB uint8 array (h, w, 3) with :data:`BANNER` burned in on top."""
    from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(png)) as im:
            img = im.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError("the overlay is not a decodable PNG.",
                                hint="pass the bytes of cardioclarity.xray.report.overlay_png.") from exc
    band = max(16, img.height // 24)
    canvas = Image.new("RGB", (img.width, img.height + band), (160, 0, 0))
    canvas.paste(img, (0, band))
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=max(10, int(band * 0.7)))
    except TypeError:  # Pillow < 10.1: one bitmap size only
        font = ImageFont.load_default()
    draw.text((band // 4, band // 8), BANNER, fill=(255, 255, 255), font=font)
    return np.asarray(canvas, dtype=np.uint8)


def build_sc(source, overlay_png: bytes, result: dict):
    """The capture as a ``highdicom.sc.SCImage`` in the source's study, in a new series.

    Parameters
    ----------
    source : pydicom.Dataset
        The source film's header (:func:`cardioclarity.hospital.source.read_source`).
    overlay_png : bytes
        ``overlay_png(image, result)`` of the same film.
    result : dict
        The film's ``<stem>.json`` object (for the model name).
    """
    import highdicom as hd
    from pydicom.dataset import Dataset

    pixels = with_banner(overlay_png)
    model_name = str((result.get("model") or {}).get("name") or "unknown model")
    orientation = source.get("PatientOrientation")
    known = bool(orientation) and len(orientation) == 2
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source, pixel_array=pixels, photometric_interpretation="RGB",
        bits_allocated=8, coordinate_system="PATIENT",
        series_instance_uid=derived_uid("cardioclarity-sc-series", source.StudyInstanceUID, model_name),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=derived_uid("cardioclarity-sc", source.SOPInstanceUID, model_name),
        instance_number=1, manufacturer="CardioClarity",
        # highdicom needs an orientation; an unknown one is written empty (type 2) below.
        patient_orientation=tuple(orientation) if known else ("L", "F"),
        transfer_syntax_uid="1.2.840.10008.1.2.1")
    if not known:
        sc.PatientOrientation = ""
    # Type 2C: a chest film has no laterality (an unpaired structure), so it is sent empty.
    sc.Laterality = source.get("Laterality") or ""
    sc.BurnedInAnnotation = "YES"
    sc.SeriesDescription = "CardioClarity overlay (research use only)"
    sc.SoftwareVersions = __version__
    sc.ImageComments = BANNER
    # Derived from the source film (PS3.3 C.7.6.1.1.3), and say which one.
    ref = Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
    sc.SourceImageSequence = [ref]
    sc.DerivationDescription = f"Overlay of the CardioClarity {model_name} result"[:1024]
    return sc


def sc_bytes(source, overlay_png: bytes, result: dict) -> bytes:
    """The capture of :func:`build_sc` as a DICOM Part 10 file (bytes)."""
    from cardioclarity.hospital.encode import to_bytes

    return to_bytes(build_sc(source, overlay_png, result))
