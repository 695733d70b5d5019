"""``POST /v1/xray/heart``: chest X-ray heart detection over HTTP.

Knowing when not to answer: an input that is not a frontal chest radiograph (a CT, MR or
ultrasound DICOM, a lateral view, a plot, a photograph) is answered **422** problem+json of kind
``not-a-chest-radiograph``, whatever ``format`` was asked for; a chest film whose masks are
implausible is answered **200** with ``ctr`` and ``cardiomegaly`` null and ``quality.status``
``"withheld"`` with its ``quality.reasons`` (the overlay and report say so).

Patient identifiers (PatientName, PatientID, PatientBirthDate ...) are never read into the result
nor logged: :func:`~cardioclarity.xray.io.read_xray` keeps only acquisition metadata.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from cardioclarity import DISCLAIMER
from cardioclarity.reporting import png_data_uri
from cardioclarity.serve import responses
from cardioclarity.serve.deps import get_gate, get_upload, pipeline
from cardioclarity.serve.limits import InferenceGate
from cardioclarity.serve.problems import ApiProblem
from cardioclarity.serve.services import PipelineService, guarded_read
from cardioclarity.serve.uploads import Upload
from cardioclarity.sniff import IMAGE_KINDS, describe_kind, sniff

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["Chest X-ray"])

_ECG_KINDS = {"text", "json", "wfdb-header", "edf", "npy", "dicom-waveform", "hl7-aecg", "philips-xml"}
_EXAMPLE = {"image_size": [1024, 1024], "heart_box": [402.0, 498.5, 768.0, 801.0], "ctr": 0.47,
            "cardiomegaly": False, "pixel_spacing_mm": [0.168, 0.168], "view_position": "PA",
            "quality": {"ok": True, "score": 0.93, "status": "measured", "reasons": [], "notes": [],
                        "chest_probability": 0.999}, "model": {"name": "cxr-heart-seg"},
            "disclaimer": DISCLAIMER}

_N = responses.NUMBER
_SCHEMA = responses.obj(
    "image_size", "heart_box", "ctr", "cardiomegaly", "quality", "model", "disclaimer",
    image_size={"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
    heart_box={"type": ["array", "null"], "items": _N}, ctr=_N,
    cardiomegaly={"type": ["boolean", "null"]},
    pixel_spacing_mm={"type": ["array", "null"], "items": _N},
    view_position={"type": ["string", "null"]}, measurements={"type": ["object", "null"]},
    quality=responses.obj("ok", "score", "status", "reasons", ok={"type": "boolean"},
                          score={"type": "number", "minimum": 0, "maximum": 1},
                          status={"enum": ["measured", "caution", "withheld", "refused"]},
                          reasons={"type": "array", "items": {"type": "string"}},
                          notes={"type": "array"}),
    model={"type": "object"}, disclaimer={"type": "string"},
    images=responses.obj("overlay", overlay={"type": "string"}))

_BODY = responses.body_doc(
    "application/dicom", "image/png", "image/jpeg", "application/octet-stream",
    description="One chest X-ray: DICOM (MONOCHROME1/2, compressed or not), PNG or JPEG; raw "
    "body or one multipart file.")


@router.post("/xray/heart", **responses.inference_route(
    "Detect the heart: box, contour, CTR, flag", "<stem>.json", _SCHEMA, _EXAMPLE, _BODY,
    text_html=responses.TEXT, image_png=responses.BINARY, application_dicom=responses.BINARY))
async def xray_heart(
    format: Literal["json", "html", "png", "dicom-sr", "dicom-seg", "dicom-sc"] = Query(
        "json", description="`json`: the `<stem>.json` object; `html`: a report (download); "
        "`png`: the overlay; `dicom-sr` / `dicom-seg` / `dicom-sc` (DICOM uploads only): the "
        "TID 1500 SR, heart/lung SEG or overlay Secondary Capture, in the upload's study"),
    include_images: bool = Query(False, description="add `images.overlay` (PNG data URI) to the JSON"),
    upload: Upload = Depends(get_upload),
    service: PipelineService = Depends(pipeline("xray-heart")),
    gate: InferenceGate = Depends(get_gate),
) -> Response:
    """The same result as `cardioclarity xray detect` (the `<stem>.json` schema).

    Not a frontal chest radiograph: 422 `not-a-chest-radiograph` (except `format=dicom-sr`,
    whose SR records the refusal and its reasons, with no CTR). A chest film with implausible
    masks: 200 with `ctr` and `cardiomegaly` null and `quality.reasons` saying why.

    Patient identifiers (PatientName, PatientID, PatientBirthDate ...) are never read into the
    result nor logged. The `dicom-*` formats are the exception the caller asks for: those objects
    join the upload's study, so they carry its patient and study attributes, copied exactly.
    """
    name, data = responses.single_file(upload, "image")
    kind = sniff(data)
    if kind not in IMAGE_KINDS:
        hint = ("POST ECGs to /v1/ecg/records or /v1/ecg/beats." if kind in _ECG_KINDS
                else "send DICOM, PNG or JPEG.")
        raise ApiProblem(415, f"The upload '{name}' is {describe_kind(kind)}, not a DICOM, PNG or "
                         "JPEG image.", hint=hint)
    if format.startswith("dicom-") and kind != "dicom":
        raise ApiProblem(415, f"format={format} needs a DICOM upload; '{name}' is "
                         f"{describe_kind(kind)}, which has no study to attach results to.",
                         hint="send the DICOM film, or ask for format=json.")
    service.ensure_available()
    stem = PurePosixPath(name).stem if name != "upload" else "xray"

    def job() -> Response | dict:
        from cardioclarity.xray.io import read_xray
        from cardioclarity.xray.report import overlay_png, render_xray_report

        detector = service.model()
        image = guarded_read("image", read_xray, data, name=stem)
        result = detector.detect(image)
        # The SR of a refused film says why and carries no CTR, so a PACS keeps the verdict;
        # every other format answers 422.
        if result.quality.get("status") == "refused" and format != "dicom-sr":
            reasons = ", ".join(result.quality.get("reasons", []))
            raise ApiProblem(422, f"The upload '{name}' does not look like a frontal chest radiograph "
                             f"({reasons}); no heart or CTR was measured.",
                             hint="send a frontal (PA or AP) chest film; laterals, CT, MR, "
                             "ultrasound and other pictures are refused.",
                             kind="not-a-chest-radiograph")
        if format.startswith("dicom-"):
            from cardioclarity.hospital import dicom_object

            return Response(dicom_object(data, image, result, format[6:]), media_type="application/dicom",
                            headers={"Content-Disposition": f'attachment; filename="{stem}_{format[6:]}.dcm"'})
        out = dict(result.to_dict())
        if format == "json" and not include_images:
            return out
        png = overlay_png(image, result)
        if format == "png":
            return Response(png, media_type="image/png")
        if format == "html":
            return responses.html_download(render_xray_report(out, png, stem), stem)
        out["images"] = {"overlay": png_data_uri(png)}
        return out

    result = await gate.run(job)
    return result if isinstance(result, Response) else responses.SafeJSONResponse(result)
