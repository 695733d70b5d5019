"""DICOM Segmentation (binary) of the heart and both lungs on the source film.

Three segments, each an anatomical structure (SCT 91723000): 1 heart (SCT 80891009), 2 right lung
and 3 left lung (lung, SCT 39607008, with the laterality modifier right SCT 24028007 / left
SCT 7771000), labelled by the bundled segmentation network (algorithm type AUTOMATIC, family
"Artificial Intelligence", DCM 123110). The masks are resampled (nearest neighbour) from the
measuring grid to the film's own rows and columns, so each frame overlays the source pixel for
pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cardioclarity import __version__
from cardioclarity.errors import InvalidInputError
from cardioclarity.hospital import codes
from cardioclarity.hospital.source import SEG_SERIES_NUMBER, derived_uid

__all__ = ["SEG_SERIES_NUMBER", "SEGMENTS", "build_seg", "seg_bytes"]

#: (label, property type, laterality modifier or None, CIELab display colour), in mask order.
SEGMENTS = (("Heart", codes.HEART, None, (50.0, 70.0, 50.0)),
            ("Right lung", codes.LUNG, codes.RIGHT, (60.0, -40.0, 40.0)),
            ("Left lung", codes.LUNG, codes.LEFT, (60.0, -20.0, -50.0)))


def build_seg(source, masks: np.ndarray, result: dict[str, Any]):
    """The segmentation as a ``highdicom.seg.Segmentation``.

    Parameters
    ----------
    source : pydicom.Dataset
        The source film's header (:func:`cardioclarity.hospital.source.read_source`).
    masks : ndarray of bool, shape (3, h, w)
        Heart, right lung, left lung (``HeartResult.masks``), on any grid of the film's aspect.
    result : dict
        The film's ``<stem>.json`` object (for the model name and version).

    Raises
    ------
    InvalidInputError
        No masks (the heart-box model segments nothing), or masks of another shape.
    """
    import highdicom as hd

    if masks is None:
        raise InvalidInputError(
            "no segmentation to write: the model gave no masks (the heart-box model draws only a box).",
            hint="use the segmentation model (cxr-heart-seg, the default) for a DICOM SEG.")
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[0] != len(SEGMENTS):
        raise InvalidInputError(f"masks must have shape (3, h, w), got {masks.shape}.",
                                hint="pass HeartResult.masks (heart, right lung, left lung).")
    rows, cols = int(source.Rows), int(source.Columns)
    full = _resample(masks, rows, cols)
    model = result.get("model") or {}
    model_name = str(model.get("name") or "unknown model")
    algorithm = hd.AlgorithmIdentificationSequence(
        name=f"CardioClarity {model_name}"[:64], family=codes.ARTIFICIAL_INTELLIGENCE,
        version=f"cardioclarity {__version__}")
    descriptions = []
    for i, (label, prop, laterality, lab) in enumerate(SEGMENTS, start=1):
        desc = hd.seg.SegmentDescription(
            segment_number=i, segment_label=label,
            segmented_property_category=codes.ANATOMICAL_STRUCTURE,
            segmented_property_type=prop, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm, tracking_id=label.lower(),
            tracking_uid=derived_uid("cardioclarity-segment", source.SOPInstanceUID, label),
            display_color=hd.color.CIELabColor(*lab))
        if laterality is not None:  # the modifier belongs inside the property type's item
            desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept.from_code(laterality)]
        descriptions.append(desc)
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=np.moveaxis(full, 0, -1)[None],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=derived_uid("cardioclarity-seg-series", source.StudyInstanceUID, model_name),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=derived_uid("cardioclarity-seg", source.SOPInstanceUID, model_name),
        instance_number=1, manufacturer="CardioClarity", manufacturer_model_name=model_name[:64],
        software_versions=__version__, device_serial_number="none", omit_empty_frames=False,
        content_label="HEARTLUNGS", content_description="Heart and lungs (research use only)")
    seg.SeriesDescription = "CardioClarity heart and lungs (research use only)"
    _fix_spatial_attributes(seg, source)
    return seg


def seg_bytes(source, masks: np.ndarray, result: dict[str, Any]) -> bytes:
    """The segmentation of :func:`build_seg` as a DICOM Part 10 file (bytes)."""
    from cardioclarity.hospital.encode import to_bytes

    return to_bytes(build_seg(source, masks, result))


def _fix_spatial_attributes(seg, source) -> None:
    """Patient Orientation as the source has it (type 2: empty when it has none), and no pixel
    spacing copied from a source whose spacing is zero (unknown, as some CR files say)."""
    orientation = source.get("PatientOrientation")
    seg.PatientOrientation = list(orientation) if orientation and len(orientation) == 2 else ""
    shared = seg.SharedFunctionalGroupsSequence[0]
    measures = shared.get("PixelMeasuresSequence")
    if measures:
        spacing = measures[0].get("PixelSpacing")
        if spacing is not None and not all(float(v) > 0 for v in spacing):
            del shared.PixelMeasuresSequence


def _resample(masks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Nearest-neighbour resampling of (k, h, w) masks to (k, rows, cols), pixel centres aligned."""
    _, h, w = masks.shape
    if (h, w) == (rows, cols):
        return masks.astype(np.uint8)
    r = np.minimum(((np.arange(rows) + 0.5) * h / rows).astype(int), h - 1)
    c = np.minimum(((np.arange(cols) + 0.5) * w / cols).astype(int), w - 1)
    return masks[:, r[:, None], c[None, :]].astype(np.uint8)
