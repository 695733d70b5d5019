"""DICOM results for the hospital: TID 1500 SR, SEG and Secondary Capture of a chest film.

>>> from cardioclarity.hospital import dicom_results
>>> out = dicom_results("film.dcm", image, result)     # image = read_xray, result = detect
>>> out.objects["sr"][:132][-4:]
b'DICM'

Modules, one stage each: :mod:`~cardioclarity.hospital.source` (the source header, derived
UIDs), :mod:`~cardioclarity.hospital.codes` (coded concepts, the private scheme),
:mod:`~cardioclarity.hospital.sr`, :mod:`~cardioclarity.hospital.seg`,
:mod:`~cardioclarity.hospital.sc` (the writers, bytes out), :mod:`~cardioclarity.hospital.encode`
(Part 10 bytes) and :mod:`~cardioclarity.hospital.results` (all objects of one film).
Every object joins the source's study in a series of its own, references the source image and
says that it is for research use only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cardioclarity._lazy import lazy_exports

if TYPE_CHECKING:
    from cardioclarity.hospital.results import (
        KINDS,
        DicomResults,
        dicom_object,
        dicom_results,
        parse_kinds,
    )
    from cardioclarity.hospital.sc import build_sc, sc_bytes
    from cardioclarity.hospital.seg import build_seg, seg_bytes
    from cardioclarity.hospital.source import derived_uid, read_source
    from cardioclarity.hospital.sr import build_sr, sr_bytes, withheld_reasons

_EXPORTS: dict[str, str] = {
    "KINDS": "results", "DicomResults": "results", "dicom_results": "results", "dicom_object": "results",
    "parse_kinds": "results", "build_sc": "sc", "sc_bytes": "sc", "build_seg": "seg",
    "seg_bytes": "seg", "derived_uid": "source", "read_source": "source", "build_sr": "sr",
    "sr_bytes": "sr", "withheld_reasons": "sr",
}

__all__ = [
    "KINDS", "DicomResults", "build_sc", "build_seg", "build_sr", "derived_uid", "dicom_object", "dicom_results",
    "parse_kinds", "read_source", "sc_bytes", "seg_bytes", "sr_bytes", "withheld_reasons",
]

__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()})
