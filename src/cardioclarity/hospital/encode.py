"""DICOM objects to Part 10 bytes, the one way every writer of this package returns them."""

from __future__ import annotations

import io

__all__ = ["OPTIONAL_COPIED", "drop_invalid_optional", "to_bytes"]

#: Type 3 (optional) Patient Study attributes that highdicom copies from the source film.
OPTIONAL_COPIED = ("PatientAge", "PatientSize", "PatientWeight", "Occupation",
                   "AdditionalPatientHistory")


def drop_invalid_optional(ds) -> list[str]:
    """Remove the optional copied attributes whose source value is invalid for their VR.

    Patient and study data are copied exactly or not at all: a value that breaks its VR (a
    Patient's Age "62" instead of "062Y") is left out, never repaired, so the result stays valid
    DICOM without inventing anything. Returns the keywords removed.
    """
    from pydicom import config
    from pydicom.valuerep import validate_value

    dropped = []
    for keyword in OPTIONAL_COPIED:
        elem = ds.get(keyword) if keyword in ds else None
        if elem is None:
            continue
        de = ds[keyword]
        values = de.value if de.VM > 1 else [de.value]
        try:
            for v in values:
                validate_value(de.VR, v, config.RAISE)
        except ValueError:
            del ds[keyword]
            dropped.append(keyword)
    return dropped


def to_bytes(ds) -> bytes:
    """``ds`` (a pydicom/highdicom Dataset with its file meta) as a DICOM Part 10 file."""
    drop_invalid_optional(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
