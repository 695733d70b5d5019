"""``POST /v1/ecg/beats`` and ``POST /v1/ecg/records``: the ECG pipelines over HTTP.

The routes decide only where results go: the readers (``read_beats``, ``read_record``) know the
file formats, the writers (``scores_csv``, ``render_record_report``, ``strip_png``) return the
bytes the CLI writes to files.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from cardioclarity import DISCLAIMER
from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD
from cardioclarity.reporting import png_data_uri
from cardioclarity.serve import responses
from cardioclarity.serve.deps import get_gate, get_upload, pipeline
from cardioclarity.serve.limits import InferenceGate
from cardioclarity.serve.problems import ApiProblem
from cardioclarity.serve.services import PipelineService, guarded_read
from cardioclarity.serve.uploads import Upload
from cardioclarity.sniff import IMAGE_KINDS, describe_kind, sniff
from cardioclarity.validation import MAX_FS_HZ, check_fs

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["ECG"])

#: Kinds no ECG reader reads: refused at once, with a pointer to the right route for images.
_NOT_ECG_KINDS = IMAGE_KINDS | {"gif", "pdf", "gzip", "tiff", "bmp", "webp", "jpeg2000"}
_BEAT_KINDS = {"text", "json", "npy"}

# Shortened examples of the answers (the schemas in docs/ARCHITECTURE.md) for the API reference.
_BEATS_EXAMPLE = {
    "n_beats": 2, "n_anomalies": 1, "threshold": 0.41, "input_length": 140,
    "beats": [{"index": 0, "score": 0.12, "is_anomaly": False},
              {"index": 1, "score": 0.93, "is_anomaly": True}],
    "input": {"source_format": "csv"}, "model": {"pipeline": "ecg-beats"},
    "disclaimer": DISCLAIMER}
_RECORD_EXAMPLE = {
    "record": "100", "sampling_rate": 360.0, "lead": "MLII", "duration_s": 1805.6,
    "beats": [{"sample": 370, "time_s": 1.028, "score": 0.21, "is_anomaly": False}],
    "rhythm": {"irregularity_score": 0.08, "irregular": False,
               "heart_rate_bpm": {"mean": 75.2, "min": 57.0, "max": 95.1},
               "episodes": [{"type": "tachycardia", "start_s": 245.9, "end_s": 257.5}]},
    "quality": {"usable_fraction": 1.0}, "model": {"beats": {}, "rhythm": {}},
    "disclaimer": DISCLAIMER}

_N, _obj = responses.NUMBER, responses.obj
_BEATS_SCHEMA = _obj(
    "n_beats", "n_anomalies", "threshold", "input_length", "beats", "model", "disclaimer",
    n_beats={"type": "integer"}, n_anomalies={"type": "integer"}, threshold=_N,
    input_length={"type": "integer"}, input={"type": "object"}, model={"type": "object"},
    disclaimer={"type": "string"},
    beats={"type": "array", "items": _obj("index", "score", "is_anomaly", index={"type": "integer"},
                                           score=_N, is_anomaly={"type": "boolean"},
                                           label={"type": "integer"})})
_RECORD_SCHEMA = _obj(
    "record", "sampling_rate", "duration_s", "n_beats", "beats", "rhythm", "quality", "model",
    "disclaimer",
    record={"type": "string"}, sampling_rate={"type": "number"}, lead={"type": ["string", "null"]},
    leads={"type": "array", "items": {"type": "string"}}, duration_s={"type": "number"},
    n_beats={"type": "integer"}, rhythm={"type": "object"}, quality={"type": "object"},
    model={"type": "object"}, disclaimer={"type": "string"},
    images=_obj("strip", strip={"type": "string"}, ecg12={"type": "string"}),
    leads_used={"type": "array", "items": {"type": "string"}}, rhythm_lead={"type": "string"},
    multilead={"type": "object"}, morphology={"type": "object"}, intervals={"type": "object"},
    beats={"type": "array", "items": _obj("sample", "time_s", sample={"type": "integer"},
                                           time_s={"type": "number"}, score=_N,
                                           is_anomaly={"type": ["boolean", "null"]})})
_FORM_FIELDS = {
    "fs": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_FS_HZ,
           "description": "sampling rate in Hz (CSV/TXT signals)"},
    "lead": {"type": "string", "maxLength": 64, "description": "lead to analyse"}}

# The JSON forms of the bodies. No top-level type: the same route also reads CSV/NPY bytes, and a
# body is read by what it is, so only the members a JSON object must get right are constrained.
_ROWS = {"type": "array", "items": {"anyOf": [
    {"type": "array", "items": {"type": "number"}}, {"type": "number"}]}}
_BEATS_JSON = {"description": '{"beats": [[...], ...]} or a bare list of rows (a flat list is one '
               'beat)',
               "properties": {"beats": _ROWS}}
_RECORD_JSON = {"description": '{"signal": [...], "fs": 360, "lead": "MLII"}',
                "properties": {"signal": {"type": "array", "items": {"type": "number"}},
                               "fs": _FORM_FIELDS["fs"]}}

_BEATS_BODY = responses.body_doc(
    "text/csv", "text/plain", "application/json", "application/octet-stream",
    description="Beats, one per row: CSV/UCR text (label column detected as in `ecg score`), a "
    'NumPy .npy matrix, or JSON `{"beats": [[...], ...]}`. Raw body or one multipart file.',
    json_schema=_BEATS_JSON)
_RECORD_BODY = responses.body_doc(
    "application/zip", "text/csv", "text/plain", "application/json", "application/octet-stream",
    description="A WFDB record (`.hea` + `.dat`/`.mat`, optionally `.atr`) as multipart files or "
    "one zip; or one CSV/TXT signal (needs `fs`), EDF file, JSON "
    '`{"signal": [...], "fs": 360, "lead": "MLII"}`, DICOM ECG waveform, HL7 aECG or Philips '
    "Sierra XML (these carry every lead: the answer adds `leads_used`, `multilead`, "
    "`morphology` and `intervals`).", fields=_FORM_FIELDS,
    json_schema=_RECORD_JSON)


def _not_ecg(name: str, kind: str, what: str = "an ECG") -> ApiProblem:
    hint = ("POST chest X-rays to /v1/xray/heart." if kind in IMAGE_KINDS else
            "send a WFDB record (.hea with its .dat/.mat), a CSV/TXT signal with fs, an EDF file, "
            "JSON, a DICOM ECG waveform, an HL7 aECG or a Philips Sierra XML.")
    # A DICOM that is not a waveform (sniff tells them apart) is an image or other object.
    found = "a DICOM image, not an ECG waveform" if kind == "dicom" else \
        f"{describe_kind(kind)}, not {what}"
    return ApiProblem(415, f"The upload '{name}' is {found}.", hint=hint,
                      kind="dicom-not-waveform" if kind == "dicom" else None)


# --- beats ----------------------------------------------------------------------------------------

@router.post("/ecg/beats", **responses.inference_route(
    "Score heartbeats: per-beat anomaly score and flag", "per-beat scores", _BEATS_SCHEMA,
    _BEATS_EXAMPLE, _BEATS_BODY, text_csv=responses.TEXT, text_html=responses.TEXT))
async def ecg_beats(
    format: Literal["json", "csv", "html"] = Query(
        "json", description="`csv`: exactly `scores.csv`; `html`: the report `ecg score` writes "
        "(download)"),
    resample: bool = Query(False, description="resample beats of another length to the model's "
                           "input length (as `ecg score --resample`); otherwise a length "
                           "mismatch is a 422"),
    upload: Upload = Depends(get_upload),
    service: PipelineService = Depends(pipeline("ecg-beats")),
    gate: InferenceGate = Depends(get_gate),
) -> Response:
    """Score each beat with the bundled beat autoencoder.

    The JSON answer holds the rows of `scores.csv` (`index`, `score` — higher = more abnormal —,
    `is_anomaly`, and `label` when the file is labelled, 1 = anomaly) under `beats`, with counts,
    the decision threshold and the model card.
    """
    name, data = responses.single_file(upload, "beats")
    kind = sniff(data)
    if kind not in _BEAT_KINDS:
        raise _not_ecg(name, kind) if kind in _NOT_ECG_KINDS else ApiProblem(
            415, f"The upload '{name}' is {describe_kind(kind)}, not a table of beats.",
            hint="send beats as CSV/UCR text, a NumPy .npy matrix, or JSON.")
    service.ensure_available()  # 503 now if the model failed to load, before any work

    def job() -> Response | dict:
        from cardioclarity.ecg.beats.detector import score_table
        from cardioclarity.ecg.beats.io import read_beats
        from cardioclarity.ecg.beats.report import scores_csv

        detector = service.model()
        beats = guarded_read("beats file", read_beats, data)
        rows = score_table(detector, beats.X, resample=resample)
        if format == "csv":
            return Response(scores_csv(rows, beats.y), media_type="text/csv; charset=utf-8")
        if format == "html":
            return responses.html_download(_beat_report(detector, beats, rows, name),
                                           PurePosixPath(name).stem or "beats")
        if beats.y is not None:
            rows = [{**r, "label": int(beats.y[r["index"]])} for r in rows]
        info = service.info()
        return {
            "n_beats": len(rows), "n_anomalies": int(sum(bool(r["is_anomaly"]) for r in rows)),
            "threshold": detector.threshold_, "input_length": detector.input_length_,
            "beats": rows,
            "input": {k: v for k, v in beats.meta.items() if isinstance(v, str | int | float | bool)},
            "model": {k: v for k, v in info.items() if k not in {"status", "route", "load_seconds"}},
            "disclaimer": DISCLAIMER}

    result = await gate.run(job)
    return result if isinstance(result, Response) else responses.SafeJSONResponse(result)


def _beat_report(detector, beats, rows: list[dict], name: str) -> str:
    """The HTML report ``ecg score`` writes, for the beats as the detector scored them."""
    import numpy as np

    from cardioclarity.ecg.beats.report import render_beat_report

    X = beats.X if beats.length == detector.input_length_ else detector.prepare(beats.X,
                                                                                resample=True)
    return render_beat_report(detector, X, np.array([r["score"] for r in rows]), labels=beats.y,
                              source=name)


# --- records --------------------------------------------------------------------------------------

def _check_record_upload(upload: Upload) -> None:
    """Refuse, before any work, uploads that cannot be one ECG record (images, several headers)."""
    kinds = {name: sniff(data) for name, data in upload.files.items()}
    for name, kind in kinds.items():
        if kind in _NOT_ECG_KINDS:
            raise _not_ecg(name, kind)
    headers = sorted(n for n, k in kinds.items() if k == "wfdb-header")
    if len(headers) > 1:
        raise ApiProblem(422, f"{len(headers)} WFDB headers were sent ({headers}).",
                         hint="send one record (one .hea with its data files) per request.",
                         kind="several-records")


@router.post("/ecg/records", **responses.inference_route(
    "Analyse an ECG record: beats, rhythm, quality", "findings.json", _RECORD_SCHEMA,
    _RECORD_EXAMPLE, _RECORD_BODY, text_html=responses.TEXT, image_png=responses.BINARY))
async def ecg_records(
    fs: float | None = Query(None, gt=0, le=MAX_FS_HZ,
                             description="sampling rate in Hz (CSV/TXT signals)"),
    lead: str | None = Query(None, max_length=64, description="lead to analyse (default: the "
                             "pipeline's choice, MLII/II when present)"),
    format: Literal["json", "html", "png"] = Query(
        "json", description="`json`: findings.json; `html`: the full report (download); `png`: the "
        "ECG strip with flagged beats"),
    include_images: bool = Query(False, description="add `images.strip` (PNG data URI) to the JSON"),
    peaks: Literal["cardioclarity", "net", "hybrid"] = Query(
        DEFAULT_PEAK_METHOD, description="R-peak detector, as `ecg analyze --peaks`: `hybrid` "
        "(default: the learned `rpeak-net`'s beats at the energy detector's positions where both "
        "found them), `cardioclarity` (energy envelope only) or `net` (rpeak-net's positions)"),
    upload: Upload = Depends(get_upload),
    service: PipelineService = Depends(pipeline("ecg-records")),
    gate: InferenceGate = Depends(get_gate),
) -> Response:
    """The same findings as `cardioclarity ecg analyze` (the `findings.json` schema)."""
    if fs is None and upload.fields.get("fs"):
        fs = check_fs(upload.fields["fs"], "form field fs")
    lead = lead or upload.fields.get("lead") or None
    if lead is not None and len(lead) > 64:
        raise ApiProblem(422, f"The lead name is {len(lead)} characters long; at most 64 are "
                         "accepted.", hint="name a lead of the record, e.g. MLII.",
                         kind="invalid-parameters")
    _check_record_upload(upload)
    service.ensure_available()

    def job() -> Response | dict:
        from cardioclarity.ecg.records.analyze import analyze_record
        from cardioclarity.ecg.records.io import read_record
        from cardioclarity.ecg.records.record import STANDARD_12
        from cardioclarity.ecg.records.report import render_record_report, strip_png

        models = service.model()
        record = guarded_read("ECG record", read_record, upload.files, lead=lead, fs=fs)
        multi = record.signals is not None and len(record.leads) > 1
        if multi:  # DICOM/aECG/Philips: every lead read; 12-lead analysis on top
            from cardioclarity.ecg.records.twelve_lead import analyze_12lead

            f12 = analyze_12lead(record, **models.analyze_kwargs(), peak_method=peaks)
            findings, out = f12.findings, f12.to_dict()
        else:
            findings = analyze_record(record, **models.analyze_kwargs(), peak_method=peaks)
            out = dict(findings.to_dict())
        if format == "html":
            stem = PurePosixPath(record.name).stem or "record"
            return responses.html_download(render_record_report(findings, record), stem)
        if format == "json" and not include_images:
            return out
        png = strip_png(findings, record)
        if format == "png":
            return Response(png, media_type="image/png")
        out["images"] = {"strip": png_data_uri(png)}
        if multi and all(ld in record.leads for ld in STANDARD_12):
            from cardioclarity.ecg.records.report_12lead import twelve_lead_png

            out["images"]["ecg12"] = png_data_uri(twelve_lead_png(record, dpi=100))
        return out

    result = await gate.run(job)
    return result if isinstance(result, Response) else responses.SafeJSONResponse(result)
