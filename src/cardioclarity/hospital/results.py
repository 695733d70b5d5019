"""All DICOM results of one film at once: SR, SEG and Secondary Capture, as bytes.

This is the stage the doors call (``cardioclarity xray detect --dicom-out``, ``pacs pull``, the
REST route); it decides which objects a film gets and names them. Writers return bytes, the
doors decide where they go.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "DicomResults", "dicom_object", "dicom_results", "parse_kinds"]

#: Object kinds, in the order they are written: SR, SEG, Secondary Capture.
KINDS = ("sr", "seg", "sc")


@dataclass
class DicomResults:
    """The DICOM objects made for one film.

    Attributes
    ----------
    objects : dict
        kind (``"sr"``, ``"seg"``, ``"sc"``) → DICOM Part 10 bytes.
    skipped : dict
        kind → why it was not made (e.g. no SEG for a film the quality gate refused).
    """

    objects: dict[str, bytes] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def file_names(self, stem: str) -> dict[str, str]:
        """kind → ``<stem>_<kind>.dcm``."""
        return {kind: f"{stem}_{kind}.dcm" for kind in self.objects}

    def save(self, folder: str | Path, stem: str) -> list[Path]:
        """Write ``folder/<stem>_<kind>.dcm`` for each object; returns the paths.

        Each file is written to a temporary name and renamed, so a crash leaves no half file
        under a result's name.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for kind, name in self.file_names(stem).items():
            path = folder / name
            tmp = path.with_name(f".{name}.part")
            tmp.write_bytes(self.objects[kind])
            tmp.replace(path)
            paths.append(path)
        return paths


def require_extra(module: str) -> None:
    """A clear error when an optional dependency of the ``hospital`` extra is not installed."""
    import importlib.util

    from cardioclarity.errors import CardioClarityError

    if importlib.util.find_spec(module) is None:
        raise CardioClarityError(
            f"DICOM results and the PACS client need the '{module}' package, which is not installed.",
            hint="pip install 'cardioclarity[hospital]' (highdicom and dicomweb-client).",
            kind="missing-dependency")


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """``"sr,seg"`` → ``("sr", "seg")``; ``None`` or ``"all"`` → :data:`KINDS`."""
    from cardioclarity.errors import InvalidInputError

    if text is None or text.strip().lower() == "all":
        return KINDS
    kinds = tuple(k.strip().lower() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise InvalidInputError(f"unknown DICOM output kind(s) {bad or [text]}.",
                                hint=f"valid: {', '.join(KINDS)} or all (comma-separated).")
    return kinds


def dicom_results(source: str | Path | bytes, image, result, *, kinds: tuple[str, ...] = KINDS,
                  source_header=None) -> DicomResults:
    """SR, SEG and Secondary Capture of ``result`` on the DICOM film ``source``.

    Parameters
    ----------
    source : str, Path or bytes
        The DICOM film the result was computed on (a PNG/JPEG raises
        :class:`~cardioclarity.errors.UnsupportedFormatError`).
    image : XrayImage
        ``read_xray(source)`` (for the overlay of the Secondary Capture).
    result : HeartResult
        ``HeartDetector.detect(image)``.
    kinds : tuple of str
        Which of :data:`KINDS` to make.
    source_header : pydicom.Dataset, optional
        The source header when the caller has read it already.

    Returns
    -------
    DicomResults
        The objects, and the kinds skipped with the reason (SEG: no masks, or a refused film).
    """
    from cardioclarity.hospital.source import read_source

    require_extra("highdicom")
    header = source_header if source_header is not None else read_source(
        source, name=getattr(image, "name", None))
    doc: dict[str, Any] = result.to_dict()
    out = DicomResults()
    with warnings.catch_warnings():
        # highdicom warns about single-component person names copied from the source; they are
        # copied exactly, as the source has them, so the warning tells the user nothing to do.
        warnings.filterwarnings("ignore", message=".*person name.*", category=UserWarning)
        _make(out, kinds, header, image, result, doc)
    return out


def _make(out: DicomResults, kinds, header, image, result, doc: dict[str, Any]) -> None:
    from cardioclarity.hospital.sc import sc_bytes
    from cardioclarity.hospital.seg import seg_bytes
    from cardioclarity.hospital.sr import sr_bytes, withheld_reasons

    for kind in kinds:
        if kind == "sr":
            out.objects["sr"] = sr_bytes(header, doc)
        elif kind == "seg":
            refused = (doc.get("quality") or {}).get("ok") is False
            if result.masks is None:
                out.skipped["seg"] = "the model gave no masks (a heart-box model)"
            elif refused:
                out.skipped["seg"] = "; ".join(withheld_reasons(doc))
            else:
                out.objects["seg"] = seg_bytes(header, result.masks, doc)
        elif kind == "sc":
            from cardioclarity.xray.report import overlay_png

            out.objects["sc"] = sc_bytes(header, overlay_png(image, result), doc)


def dicom_object(source: str | Path | bytes, image, result, kind: str) -> bytes:
    """One DICOM result (``kind`` in :data:`KINDS`) of a film, as bytes.

    Raises
    ------
    InvalidInputError
        ``kind`` is unknown, or this film gets no such object (no SEG for a refused film or a
        heart-box model); the message says why.
    UnsupportedFormatError
        ``source`` is not DICOM.
    """
    from cardioclarity.errors import InvalidInputError

    (kind,) = parse_kinds(kind)
    made = dicom_results(source, image, result, kinds=(kind,))
    if kind not in made.objects:
        raise InvalidInputError(f"no DICOM {kind.upper()} for this film: {made.skipped[kind]}.",
                                hint="ask for the SR (format=dicom-sr), which says why.",
                                kind="no-dicom-object")
    return made.objects[kind]
