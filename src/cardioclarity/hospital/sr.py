"""TID 1500 measurement report (Comprehensive SR) of one chest film's heart result.

Layout of the report (DICOM PS3.16 TID 1500, built with highdicom)::

    Imaging Measurement Report (DCM 126000)
    ├── observer: device "CardioClarity <model>" (TID 1004)
    ├── procedure reported: XR Chest Single view (LN 36554-4)
    ├── image library: the source film
    └── imaging measurements
        ├── heart (TID 1410, only when the result is reported): heart box as a closed polyline
        │   on the source image; cardiothoracic ratio (99CCLRTY CTR), heart diameter and
        │   thorax diameter (SCT 81827009; mm when the pixel spacing is known, else pixels) with
        │   their lines; cardiomegaly (SCT 287272002) present / absent
        └── film (TID 1501): image quality good / poor (DCM 111101), comments (DCM 121106): the
            quality reasons, a withheld-result statement, the units note, the research-use
            statement

A result is **withheld** (see :func:`withheld_reasons`) when the quality gate refused the film or
the CTR is missing or implausible: the SR then says so and carries no CTR, no widths and no
cardiomegaly finding. The result dict is the ``<stem>.json`` object; keys added later by the
pipeline (``quality.score``, ``quality.reasons``) are read when present.
"""

from __future__ import annotations

from typing import Any

from cardioclarity import DISCLAIMER, __version__
from cardioclarity.hospital import codes
from cardioclarity.hospital.source import SR_SERIES_NUMBER, derived_uid

__all__ = ["SR_SERIES_NUMBER", "build_sr", "sr_bytes", "withheld_reasons"]

MANUFACTURER = "CardioClarity"


def withheld_reasons(result: dict[str, Any]) -> list[str]:
    """Why the CTR of ``result`` must not be reported (empty list: report it).

    Withheld when the quality gate refused the film (``quality.ok`` false), when the CTR is
    missing (a refused or implausible film has ``ctr`` null), or when it lies outside (0, 1).
    """
    quality = result.get("quality") or {}
    reasons = [str(r) for r in (quality.get("reasons") or quality.get("notes") or [])]
    out = []
    if quality.get("ok") is False:
        out.append("the quality gate refused the film" + (f": {'; '.join(reasons)}" if reasons else ""))
    ctr = result.get("ctr")
    if ctr is None:
        if result.get("heart_box") is None:
            out.append("no heart was found")
        elif not out:
            out.append("no cardiothoracic ratio was measured (no lung outline: a heart-box model, "
                       "or a lung not found)")
    elif not 0 < float(ctr) < 1:
        out.append(f"the measured CTR {ctr} is outside (0, 1)")
    return out


def build_sr(source, result: dict[str, Any]):
    """The report as a ``highdicom.sr.ComprehensiveSR`` (see the module docstring).

    Parameters
    ----------
    source : pydicom.Dataset
        The source film's header (:func:`cardioclarity.hospital.source.read_source`).
    result : dict
        The film's ``<stem>.json`` object (``HeartResult.to_dict()``).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes as dcm_codes

    model = result.get("model") or {}
    model_name = str(model.get("name") or "unknown model")
    algorithm = hd.sr.AlgorithmIdentification(
        name=f"CardioClarity {model_name}"[:64], version=_model_version(model))
    withheld = withheld_reasons(result)
    src_uid = source.SOPInstanceUID
    device = hd.sr.ObserverContext(
        observer_type=dcm_codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=derived_uid("cardioclarity-device", model_name), name=f"CardioClarity {model_name}"[:64],
            manufacturer_name=MANUFACTURER, model_name=model_name[:64]))
    groups = []
    # A refused film gets no heart group at all: what was measured on it is not shown.
    if (result.get("quality") or {}).get("ok") is not False:
        heart = _heart_group(source, result, algorithm, reported=not withheld)
        if heart is not None:
            groups.append(heart)
    groups.append(_film_group(source, result, algorithm, withheld))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.CHEST_XRAY, imaging_measurements=groups)
    # TID 1500 order: ... procedure reported, image library, imaging measurements.
    items = report[0].ContentSequence
    items.insert(len(items) - 1, _image_library(source))
    sr = hd.sr.ComprehensiveSR(
        evidence=[source], content=report[0],
        series_instance_uid=derived_uid("cardioclarity-sr-series", source.StudyInstanceUID, model_name),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=derived_uid("cardioclarity-sr", src_uid, model_name),
        instance_number=1, manufacturer=MANUFACTURER, is_complete=True, is_final=False,
        is_verified=False)
    sr.SeriesDescription = "CardioClarity heart/CTR report (research use only)"
    sr.SoftwareVersions = __version__
    sr.ManufacturerModelName = model_name[:64]
    sr.CodingSchemeIdentificationSequence = [codes.coding_scheme_identification()]
    return sr


def sr_bytes(source, result: dict[str, Any]) -> bytes:
    """The report of :func:`build_sr` as a DICOM Part 10 file (bytes)."""
    from cardioclarity.hospital.encode import to_bytes

    return to_bytes(build_sr(source, result))


def _image_library(source):
    """TID 1600 with the source film as its one entry.

    highdicom's entry of a CR/DX film needs Imager Pixel Spacing and Patient Orientation; a film
    without them (many CR files) gets the entry without those descriptors rather than invented
    values.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes as dcm_codes

    try:
        return hd.sr.ImageLibrary([source])[0]
    except AttributeError:
        pass
    rel = hd.sr.RelationshipTypeValues
    image = hd.sr.ImageContentItem(
        name=codes.SOURCE, referenced_sop_class_uid=source.SOPClassUID,
        referenced_sop_instance_uid=source.SOPInstanceUID, relationship_type=rel.CONTAINS)
    image.ContentSequence = [
        hd.sr.NumContentItem(name=name, value=int(value), unit=codes.PIXELS,
                             relationship_type=rel.HAS_ACQ_CONTEXT)
        for name, value in ((dcm_codes.DCM.PixelDataRows, source.Rows),
                            (dcm_codes.DCM.PixelDataColumns, source.Columns))]
    group = hd.sr.ContainerContentItem(name=dcm_codes.DCM.ImageLibraryGroup,
                                       relationship_type=rel.CONTAINS)
    group.ContentSequence = [image]
    library = hd.sr.ContainerContentItem(name=dcm_codes.DCM.ImageLibrary,
                                         relationship_type=rel.CONTAINS)
    library.ContentSequence = [group]
    return library


def _model_version(model: dict[str, Any]) -> str:
    created = model.get("created_utc")
    return f"cardioclarity {__version__}" + (f", weights {created}" if created else "")


def _units(result: dict[str, Any]) -> tuple[Any, str]:
    meas = result.get("measurements") or {}
    return (codes.MILLIMETRE, "mm") if meas.get("heart_width_mm") is not None else (codes.PIXELS, "px")


def _heart_group(source, result: dict[str, Any], algorithm, *, reported: bool):
    """TID 1410: the heart box region and, when reported, the CTR and cardiomegaly."""
    import highdicom as hd
    import numpy as np

    box = result.get("heart_box")
    if box is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in box)
    src_ref = hd.sr.SourceImageForRegion.from_source_image(source)
    region = hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE, source_image=src_ref,
        graphic_data=np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=float))
    measurements = []
    if reported and result.get("ctr") is not None:
        measurements.append(hd.sr.Measurement(
            name=codes.CARDIOTHORACIC_RATIO, value=float(result["ctr"]), unit=codes.NO_UNITS,
            algorithm_id=algorithm))
    evaluations = []
    if reported and result.get("cardiomegaly") is not None:
        evaluations.append(hd.sr.QualitativeEvaluation(
            codes.CARDIOMEGALY, codes.PRESENT if result["cardiomegaly"] else codes.ABSENT))
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid("cardioclarity-heart", source.SOPInstanceUID), identifier="heart"),
        referenced_region=region, finding_type=codes.HEART, algorithm_id=algorithm,
        finding_sites=[hd.sr.FindingSite(codes.HEART)], measurements=measurements or None,
        qualitative_evaluations=evaluations or None)


def _diameters(source, result: dict[str, Any], algorithm, *, reported: bool) -> list:
    """Heart and thorax diameters with their lines on the film (heart only when not reported)."""
    import highdicom as hd
    import numpy as np

    meas = result.get("measurements") or {}
    unit, suffix = _units(result)
    out = []
    for key, site in (("heart", codes.HEART), ("thorax", codes.THORAX)):
        value = meas.get(f"{key}_width_{suffix}")
        if value is None or not (reported or key == "heart"):
            continue
        coords = None
        if meas.get(f"{key}_line"):
            xa, xb, y = (float(v) for v in meas[f"{key}_line"])
            coords = [hd.sr.CoordinatesForMeasurement(
                graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                source_image=hd.sr.SourceImageForRegion.from_source_image(source),
                graphic_data=np.array([[xa, y], [xb, y]], dtype=float))]
        out.append(hd.sr.Measurement(
            name=codes.DIAMETER, value=round(float(value), 2), unit=unit, algorithm_id=algorithm,
            finding_sites=[hd.sr.FindingSite(site)], referenced_coordinates=coords))
    return out


def _film_group(source, result: dict[str, Any], algorithm, withheld: list[str]):
    """TID 1501 on the whole film: diameters, the quality verdict and the comments."""
    import highdicom as hd

    quality = result.get("quality") or {}
    verdict = codes.POOR_QUALITY if quality.get("ok") is False else codes.GOOD_QUALITY
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid("cardioclarity-film", source.SOPInstanceUID), identifier="film"),
        algorithm_id=algorithm,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)],
        measurements=_diameters(source, result, algorithm, reported=not withheld) or None
        if quality.get("ok") is not False else None,
        qualitative_evaluations=[hd.sr.QualitativeEvaluation(codes.IMAGE_QUALITY, verdict)])
    comments = []
    if quality.get("score") is not None:
        comments.append(f"Quality score {float(quality['score']):.3f} (0 = unusable, 1 = good).")
    notes = [str(n) for n in (quality.get("reasons") or quality.get("notes") or [])]
    comments += [f"Quality note: {n}" for n in notes]
    if withheld:
        comments.append("Cardiothoracic ratio withheld: " + "; ".join(withheld) + ".")
    elif _units(result)[1] == "px":
        comments.append("Diameters in pixels of the source image: its pixel spacing is unknown.")
    comments.append(DISCLAIMER)
    items = group[0].ContentSequence
    for text in comments:
        items.append(hd.sr.TextContentItem(
            name=codes.COMMENT, value=text[:1024], relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    return group
