"""The source film of a DICOM result: its header, checked, and the UIDs derived from it.

DICOM results join the study the film came from, so they need the film's own DICOM header
(patient, study, SOP instance): a PNG or JPEG has none, and is refused here with a message that
says so. The header is read without pixel data; what the results copy from it (patient and study
attributes) is copied exactly by highdicom, never edited or invented.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from cardioclarity.errors import InputFileNotFoundError, InvalidInputError, UnsupportedFormatError
from cardioclarity.sniff import describe_kind, sniff

__all__ = ["REQUIRED_ATTRIBUTES", "SC_SERIES_NUMBER", "SEG_SERIES_NUMBER", "SR_SERIES_NUMBER",
           "derived_uid", "read_source"]

#: Series numbers of the result series: SR, SEG, Secondary Capture (one series each per study).
SR_SERIES_NUMBER, SEG_SERIES_NUMBER, SC_SERIES_NUMBER = 9901, 9902, 9903

#: Attributes a source film must carry for a result to reference it and join its study.
REQUIRED_ATTRIBUTES = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                       "Rows", "Columns")


def read_source(source: str | Path | bytes, *, name: str | None = None):
    """The DICOM header (a ``pydicom.Dataset``, no pixel data) of the film a result refers to.

    Parameters
    ----------
    source : str, Path or bytes
        The film as read by :func:`cardioclarity.xray.io.read_xray`: a path or the file's bytes.
    name : str, optional
        Name used in messages (default: the file name, or "upload").

    Raises
    ------
    UnsupportedFormatError
        The input is a PNG, JPEG or anything else that is not DICOM.
    InvalidInputError
        A DICOM header without the identifiers a result must reference (:data:`REQUIRED_ATTRIBUTES`).
    InputFileNotFoundError
        The path does not exist.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    if isinstance(source, bytes | bytearray | memoryview):
        data, name = bytes(source), name or "upload"
    else:
        path = Path(source)
        name = name or path.name
        if not path.is_file():
            raise InputFileNotFoundError(f"{name}: no such file ({path}).",
                                         hint="give the DICOM file the result was computed on.")
        data = path.read_bytes()
    kind = sniff(data)
    if kind != "dicom":
        raise UnsupportedFormatError(
            f"{name}: DICOM results (SR, SEG, Secondary Capture) need a DICOM input, got "
            f"{describe_kind(kind)}, which has no patient, study or instance to attach them to.",
            hint="run on the DICOM the hospital sent (e.g. from the PACS: `cardioclarity pacs "
            "pull`), or drop the DICOM output option and keep the JSON/PNG results.")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{name}: DICOM header could not be parsed ({type(exc).__name__}).",
                                hint="the file may be truncated or corrupt.") from exc
    missing = [a for a in REQUIRED_ATTRIBUTES if not ds.get(a)]
    if missing:
        raise InvalidInputError(
            f"{name}: the DICOM header lacks {', '.join(missing)}, which a result must reference.",
            hint="give the original image file as stored in the PACS, not an anonymised export "
            "stripped of its UIDs.")
    return ds


def derived_uid(*parts: object) -> str:
    """A UID ``2.25.<UUID as integer>`` (PS3.5 B.2) that is a fixed function of ``parts``.

    The UUID is a name-based (SHA-1, version 5) UUID of the parts. Results for the same source
    instance, model and object type get the same UID, so analysing a film twice (a restarted
    ``pacs watch``) replaces its results in the PACS instead of adding duplicates.
    """
    name = "\x1f".join(str(p) for p in parts)
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


#: Namespace of CardioClarity's name-based UUIDs (a fixed, random UUID).
_UID_NAMESPACE = uuid.UUID("8f1d2c4e-5b7a-4e0b-9c61-3a2f7d9e4b10")
