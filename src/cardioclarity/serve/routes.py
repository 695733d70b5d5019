"""The ``/v1`` inference routes: thin doors onto the same pipeline functions as the CLI.

Each route reads the upload (multipart, zip or raw body), sniffs what it is, and runs the whole
job (decoding, model, rendering) on the :class:`~cardioclarity.serve.limits.InferenceGate`, off the
event loop. JSON answers are the objects the CLI writes to files (DESIGN.md schemas).
"""

from __future__ import annotations

import base64
import json
import math
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from cardioclarity import DISCLAIMER
from cardioclarity.errors import InvalidInputError
from cardioclarity.serve.pipelines import PipelineService, guarded_read, jsonable
from cardioclarity.serve.problems import ApiProblem
from cardioclarity.serve.uploads import Upload, read_upload
from cardioclarity.sniff import IMAGE_KINDS, describe_kind, sniff

__all__ = ["SafeJSONResponse", "jsonable", "router"]

router = APIRouter(prefix="/v1")

_NOT_ECG_KINDS = IMAGE_KINDS | {"gif", "pdf", "gzip", "tiff", "bmp", "webp", "jpeg2000"}
_ERRORS = {
    400: {"description": "empty body or malformed multipart form"},
    401: {"description": "missing or wrong API key (when the server requires one)"},
    413: {"description": "body over the upload size limit (also for chunked bodies)"},
    415: {"description": "the content is not something this route reads (sniffed by magic bytes)"},
    422: {"description": "the content is of the right kind but invalid (NaN, truncated, ...)"},
    503: {"description": "server at capacity or timed out (Retry-After), or model not available"},
}
_PROBLEM = {"content": {"application/problem+json": {"example": {
    "type": "https://cardioclarity.dev/problems/unsupported-media-type",
    "title": "Unsupported Media Type", "status": 415,
    "detail": "The upload 'film.png' is a PNG image, not an ECG.",
    "hint": "POST chest X-rays to /v1/xray/heart.", "instance": "/v1/ecg/records",
    "disclaimer": DISCLAIMER}}}}
# Shortened examples of the answers (DESIGN.md schemas) for the API reference.
_EXAMPLES = {
    "beats": {"n_beats": 2, "n_anomalies": 1, "threshold": 0.41, "input_length": 140,
              "beats": [{"index": 0, "score": 0.12, "is_anomaly": False},
                        {"index": 1, "score": 0.93, "is_anomaly": True}],
              "input": {"source_format": "csv"}, "model": {"pipeline": "ecg-beats"},
              "disclaimer": DISCLAIMER},
    "record": {"record": "100", "sampling_rate": 360.0, "lead": "MLII", "duration_s": 1805.6,
               "beats": [{"sample": 370, "time_s": 1.028, "score": 0.21, "is_anomaly": False}],
               "rhythm": {"irregularity_score": 0.08, "irregular": False,
                          "heart_rate_bpm": {"mean": 75.2, "min": 57.0, "max": 95.1},
                          "episodes": [{"type": "tachycardia", "start_s": 245.9, "end_s": 257.5}]},
               "quality": {"usable_fraction": 1.0}, "model": {"beats": {}, "rhythm": {}},
               "disclaimer": DISCLAIMER},
    "xray": {"image_size": [1024, 1024], "heart_box": [402.0, 498.5, 768.0, 801.0], "ctr": 0.47,
             "cardiomegaly": False, "pixel_spacing_mm": [0.168, 0.168], "view_position": "PA",
             "quality": {"ok": True, "notes": []}, "model": {"name": "cxr-heart-seg"},
             "disclaimer": DISCLAIMER},
}


class SafeJSONResponse(JSONResponse):
    """JSON response tolerant of numpy scalars and NaN (written as ``null``, as JSON requires)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(jsonable(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


def _body_doc(*media: str, description: str) -> dict:
    content: dict[str, Any] = {m: {"schema": {"type": "string", "format": "binary"}} for m in media}
    content["multipart/form-data"] = {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "fs": {"type": "number"}, "lead": {"type": "string"}}}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _service(request: Request, name: str) -> PipelineService:
    return request.app.state.services[name]


async def _read(request: Request) -> Upload:
    s = request.app.state.settings
    return await read_upload(request, max_entries=s.max_zip_entries,
                             max_total_bytes=s.max_upload_bytes)


def _single(upload: Upload, what: str) -> tuple[str, bytes]:
    if len(upload.files) != 1:
        raise ApiProblem(422, f"Expected one {what} file, got {len(upload.files)}.",
                         hint=f"send one {what} per request.", kind="wrong-file-count")
    return next(iter(upload.files.items()))


def _not_ecg(name: str, kind: str) -> ApiProblem:
    hint = ("POST chest X-rays to /v1/xray/heart." if kind in IMAGE_KINDS else
            "send a WFDB record (.hea with its .dat/.mat), a CSV/TXT signal with fs, an EDF file, "
            "or JSON.")
    return ApiProblem(415, f"The upload '{name}' is {describe_kind(kind)}, not an ECG.", hint=hint)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _html_download(html: str, stem: str) -> Response:
    return Response(html, media_type="text/html; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{stem}_report.html"'})


def _finite_matrix(rows: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(rows, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{what} must be numbers, in rows of equal length.",
                                hint='send {"beats": [[...], [...]]}.') from None
    if arr.ndim == 1 and arr.size:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidInputError(f"{what} must be a non-empty 2-D array, got shape {arr.shape}.",
                                hint='send {"beats": [[...], [...]]}, one row per beat.')
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise InvalidInputError(f"{what} contain NaN or infinite values ({bad} rows).",
                                hint="remove or interpolate the missing samples before scoring.")
    return arr


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInputError(f"The {what} is not valid JSON ({type(exc).__name__}).",
                                hint="check the JSON syntax.") from None


# --- ECG beats ----------------------------------------------------------------------------------

def _beats_from_upload(data: bytes) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Beats matrix, labels (1 = anomaly) when the file carries them, and reader metadata."""
    kind = sniff(data)
    if kind == "json":
        doc = _parse_json(data, "beats body")
        rows = doc.get("beats") if isinstance(doc, dict) else doc
        if rows is None:
            raise InvalidInputError("The JSON object has no 'beats' field.",
                                    hint='send {"beats": [[...], [...]]}, one row per beat.')
        return _finite_matrix(rows, "Beats"), None, {"source_format": "json"}
    from cardioclarity.ecg.io import read_beats

    beats = guarded_read("beats file", read_beats, data)
    X = np.asarray(beats.X, dtype=np.float32)
    if X.size and not np.isfinite(X).all():
        _finite_matrix(X, "Beats")  # raises with the count of bad rows
    return X, getattr(beats, "y", None), dict(getattr(beats, "meta", None) or {})


@router.post(
    "/ecg/beats", tags=["ECG"], summary="Score heartbeats: per-beat anomaly score and flag",
    response_class=SafeJSONResponse,
    responses={**{k: {**v, **_PROBLEM} for k, v in _ERRORS.items()},
               200: {"description": "per-beat scores", "content": {
                   "application/json": {"example": _EXAMPLES["beats"]}, "text/csv": {}}}},
    openapi_extra=_body_doc("text/csv", "text/plain", "application/json", "application/octet-stream",
                            description="Beats, one per row: CSV/UCR text (label column detected "
                            "as in `ecg score`), a NumPy .npy matrix, or JSON "
                            '`{"beats": [[...], ...]}`. Raw body or one multipart file.'),
)
async def ecg_beats(
    request: Request,
    format: Literal["json", "csv"] = Query("json", description="`csv`: exactly `scores.csv`"),
    resample: bool = Query(False, description="resample beats of another length to the model's "
                           "input length (as `ecg score --resample`); otherwise a length "
                           "mismatch is a 422"),
    filename: str | None = Query(None, description="name of a raw-body upload (not used to sniff)"),
) -> Response:
    """Score each beat with the bundled beat autoencoder.

    The JSON answer holds the rows of `scores.csv` (`index`, `score` — higher = more abnormal —,
    `is_anomaly`, and `label` when the file is labelled, 1 = anomaly) under `beats`, with counts,
    the decision threshold and the model card.
    """
    upload = await _read(request)
    name, data = _single(upload, "beats")
    kind = sniff(data)
    if kind not in {"text", "json", "npy", "wfdb-header"}:
        raise _not_ecg(name, kind) if kind in _NOT_ECG_KINDS else ApiProblem(
            415, f"The upload '{name}' is {describe_kind(kind)}, not a table of beats.",
            hint="send beats as CSV/UCR text, a NumPy .npy matrix, or JSON.")
    service = _service(request, "ecg-beats")
    service.ensure_available()  # 503 now if the pipeline is missing, before any work

    def job() -> tuple[list[dict], dict, dict]:
        from cardioclarity.ecg.detector import score_table

        detector = service.model()
        X, labels, meta = _beats_from_upload(data)
        rows = score_table(detector, X, resample=resample)
        if format == "csv":
            from cardioclarity.ecg.beats_cli import write_scores_csv

            # The CLI's own writer, so the answer is scores.csv byte for byte.
            with tempfile.TemporaryDirectory(prefix="cardioclarity-serve-") as tmp:
                path = write_scores_csv(Path(tmp) / "scores.csv", rows, labels)
                return Response(path.read_bytes(), media_type="text/csv; charset=utf-8")
        if labels is not None:
            rows = [{**r, "label": int(labels[r["index"]])} for r in rows]
        return rows, meta, {"threshold": getattr(detector, "threshold_", None),
                            "input_length": getattr(detector, "input_length_", None)}

    result = await request.app.state.gate.run(job)
    if isinstance(result, Response):
        return result
    rows, meta, det = result
    info = service.info()
    return SafeJSONResponse({
        "n_beats": len(rows), "n_anomalies": int(sum(bool(r["is_anomaly"]) for r in rows)),
        **det, "beats": rows,
        "input": {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)},
        "model": {k: v for k, v in info.items() if k not in {"status", "route", "load_seconds"}},
        "disclaimer": DISCLAIMER})


# --- ECG records --------------------------------------------------------------------------------

_HEA_SIGNAL_FILE = re.compile(r"^(\S+)\s")


def _wfdb_files(header: bytes) -> tuple[str, list[str]]:
    """Record name and the signal files a WFDB header refers to."""
    lines = [ln.strip() for ln in header.decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    record_line = lines[0].split()
    record, nsig = record_line[0].split("/")[0], int(record_line[1])
    files: list[str] = []
    if "/" in record_line[0]:
        return record, files  # multi-segment: segments are headers themselves, checked by wfdb
    for line in lines[1:1 + nsig]:
        m = _HEA_SIGNAL_FILE.match(line + " ")
        if m and m.group(1) != "~" and m.group(1) not in files:
            files.append(PurePosixPath(m.group(1)).name)
    return record, files


def _fs_value(raw: str | float | None, source: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        fs = float(raw)
    except (TypeError, ValueError):
        fs = float("nan")
    if not math.isfinite(fs) or fs <= 0:
        raise InvalidInputError(f"The sampling rate ({source}) must be a positive number, got {raw!r}.",
                                hint="give fs in Hz, e.g. fs=360.")
    return fs


def _record_source(upload: Upload, fs: float | None, lead: str | None
                   ) -> tuple[Any, float | None, str, str | None]:
    """What to pass to ``read_record``: a ``{filename: bytes}`` mapping or CSV bytes, ``fs``, a
    stem for file names, and the lead to select."""
    kinds = {name: sniff(data) for name, data in upload.files.items()}
    for name, kind in kinds.items():
        if kind in _NOT_ECG_KINDS:
            raise _not_ecg(name, kind)
    headers = [n for n, k in kinds.items() if k == "wfdb-header"]
    if len(headers) > 1:
        raise ApiProblem(422, f"{len(headers)} WFDB headers were sent ({sorted(headers)}).",
                         hint="send one record (one .hea with its data files) per request.",
                         kind="several-records")
    if headers:
        record, needed = _wfdb_files(upload.files[headers[0]])
        files = dict(upload.files)
        files[f"{record}.hea"] = files.pop(headers[0])  # a raw-body header arrives as "upload"
        missing = [f for f in needed if f not in files]
        if missing:
            raise ApiProblem(422, f"The WFDB header of record '{record}' refers to "
                             f"{', '.join(repr(m) for m in missing)}, which "
                             f"{'was' if len(missing) == 1 else 'were'} not uploaded.",
                             hint="send the header together with its data files (multipart with "
                             "several files, or one zip).", kind="missing-data-file")
        return files, fs, record, lead
    if len(upload.files) > 1:
        raise ApiProblem(422, f"{len(upload.files)} files were sent but none is a WFDB header.",
                         hint="send a WFDB record (.hea + .dat/.mat), or one CSV/TXT/EDF/JSON signal.",
                         kind="missing-header")
    name, data = next(iter(upload.files.items()))
    kind = kinds[name]
    stem = PurePosixPath(name).stem or "record"
    if kind == "json":
        doc = _parse_json(data, "signal body")
        if not isinstance(doc, dict) or "signal" not in doc:
            raise InvalidInputError("The JSON signal must be an object with a 'signal' list.",
                                    hint='send {"signal": [...], "fs": 360, "lead": "MLII"}.')
        fs = fs if fs is not None else _fs_value(doc.get("fs"), "JSON field fs")
        # The lead name goes in the CSV header row, which the reader takes as the column name.
        lead = re.sub(r"[^\w +\-.]", "", str(lead or doc.get("lead") or "ECG"))[:64] or "ECG"
        sig = np.asarray(_finite_matrix(doc["signal"], "Signal samples")).ravel() \
            if isinstance(doc["signal"], list) else None
        if sig is None:
            raise InvalidInputError("The JSON field 'signal' must be a list of numbers.",
                                    hint='send {"signal": [...], "fs": 360}.')
        # Through the same CSV reader as an uploaded file: one validation path for both.
        data = (lead + "\n" + "\n".join(repr(float(v)) for v in sig)).encode()
        kind = "text"
    if kind == "text":
        if fs is None:
            raise InvalidInputError("A CSV/TXT signal needs its sampling rate.",
                                    hint="add the query parameter fs (Hz), e.g. ?fs=360, or a form "
                                    "field fs.")
        return data, fs, stem, lead
    if kind == "edf":
        return {name if name.lower().endswith(".edf") else f"{stem}.edf": data}, fs, stem, lead
    raise ApiProblem(415, f"The upload '{name}' is {describe_kind(kind)}, not an ECG record the "
                     "server can read alone.", hint="a WFDB .dat or .mat file needs its .hea header "
                     "in the same request; other signals go as CSV/TXT (with fs), EDF or JSON.")


@router.post(
    "/ecg/records", tags=["ECG"], summary="Analyse an ECG record: beats, rhythm, quality",
    response_class=SafeJSONResponse,
    responses={**{k: {**v, **_PROBLEM} for k, v in _ERRORS.items()},
               200: {"description": "findings.json", "content": {
                   "application/json": {"example": _EXAMPLES["record"]}, "text/html": {},
                   "image/png": {}}}},
    openapi_extra=_body_doc("application/zip", "text/csv", "text/plain", "application/json",
                            "application/octet-stream",
                            description="A WFDB record (`.hea` + `.dat`/`.mat`, optionally `.atr`) "
                            "as multipart files or one zip; or one CSV/TXT signal (needs `fs`), "
                            'EDF file, or JSON `{"signal": [...], "fs": 360, "lead": "MLII"}`.'),
)
async def ecg_records(
    request: Request,
    fs: float | None = Query(None, gt=0, description="sampling rate in Hz (CSV/TXT signals)"),
    lead: str | None = Query(None, max_length=64, description="lead to analyse (default: the "
                             "pipeline's choice, MLII/II when present)"),
    format: Literal["json", "html", "png"] = Query(
        "json", description="`json`: findings.json; `html`: the full report (download); `png`: the "
        "ECG strip with flagged beats"),
    include_images: bool = Query(False, description="add `images.strip` (PNG data URI) to the JSON"),
    filename: str | None = Query(None, description="name of a raw-body upload (not used to sniff)"),
) -> Response:
    """The same findings as `cardioclarity ecg analyze` (the `findings.json` schema)."""
    upload = await _read(request)
    fs = fs if fs is not None else _fs_value(upload.fields.get("fs"), "form field fs")
    lead = lead or upload.fields.get("lead") or None
    source, fs, stem, lead = _record_source(upload, fs, lead)
    service = _service(request, "ecg-records")
    service.ensure_available()

    def job() -> Response | dict:
        from cardioclarity.ecg.analyze import analyze_record
        from cardioclarity.ecg.io import read_record

        models = service.model()
        record = guarded_read("ECG record", read_record, source, lead=lead, fs=fs,
                              **({} if isinstance(source, dict) else {"name": stem}))
        kwargs = {k: models[k] for k in ("detector", "rhythm_model") if models.get(k) is not None}
        findings = analyze_record(record, **kwargs)
        out = dict(findings.to_dict())
        if format == "json" and not include_images:
            return out
        report = _record_report_module(required=format != "json")
        if report is None:
            return out  # images asked for but not in this build: the findings alone
        if format == "html":
            with tempfile.TemporaryDirectory(prefix="cardioclarity-serve-") as tmp:
                path = Path(report.write_record_report(findings, record, Path(tmp)))
                if path.is_dir():
                    path = next(path.glob("*.html"))
                return _html_download(path.read_text(encoding="utf-8"), stem)
        png = report.strip_png(findings, record)
        if format == "png":
            return Response(png, media_type="image/png")
        out["images"] = {"strip": _data_uri(png)}
        return out

    result = await request.app.state.gate.run(job)
    return result if isinstance(result, Response) else SafeJSONResponse(result)


def _record_report_module(required: bool) -> Any:
    try:
        from cardioclarity.ecg import record_report
    except ImportError:
        if not required:
            return None
        raise ApiProblem(503, "The ECG record report (strip image, HTML) is not available in this "
                         "build.", hint="ask for format=json without include_images; the findings "
                         "are complete.", kind="model-unavailable") from None
    return record_report


# --- chest X-ray --------------------------------------------------------------------------------

def _xray_report_html(result: dict, overlay: bytes, stem: str) -> str:
    from cardioclarity.reporting import Section, render_html

    flat = {k: v for k, v in result.items() if k not in {"model", "quality", "disclaimer"}}
    rows = [{"field": k, "value": json.dumps(jsonable(v)) if isinstance(v, list | dict) else v}
            for k, v in flat.items()]
    quality = result.get("quality") or {}
    sections = [Section("Result", table=rows),
                Section("Overlay", images=[("Heart contour and box, cardiothoracic ratio lines",
                                            overlay)])]
    if isinstance(quality, dict) and quality:
        sections.append(Section("Quality", table=[{"check": k, "value": json.dumps(jsonable(v))}
                                                  for k, v in quality.items()]))
    model = result.get("model")
    if isinstance(model, dict) and model:
        sections.append(Section("Model", table=[{"field": k, "value": json.dumps(jsonable(v))}
                                                for k, v in model.items()]))
    return render_html(f"Chest X-ray heart detection: {stem}", sections)


@router.post(
    "/xray/heart", tags=["Chest X-ray"], summary="Detect the heart: box, contour, CTR, flag",
    response_class=SafeJSONResponse,
    responses={**{k: {**v, **_PROBLEM} for k, v in _ERRORS.items()},
               200: {"description": "<stem>.json", "content": {
                   "application/json": {"example": _EXAMPLES["xray"]}, "text/html": {},
                   "image/png": {}}}},
    openapi_extra=_body_doc("application/dicom", "image/png", "image/jpeg",
                            "application/octet-stream",
                            description="One chest X-ray: DICOM (MONOCHROME1/2, compressed or "
                            "not), PNG or JPEG; raw body or one multipart file."),
)
async def xray_heart(
    request: Request,
    format: Literal["json", "html", "png"] = Query(
        "json", description="`json`: the `<stem>.json` object; `html`: a report (download); "
        "`png`: the overlay"),
    include_images: bool = Query(False, description="add `images.overlay` (PNG data URI) to the JSON"),
    filename: str | None = Query(None, description="name of a raw-body upload (not used to sniff)"),
) -> Response:
    """The same result as `cardioclarity xray detect` (the `<stem>.json` schema).

    Patient identifiers (PatientName, PatientID, PatientBirthDate ...) are never read into the
    result nor logged.
    """
    upload = await _read(request)
    name, data = _single(upload, "image")
    kind = sniff(data)
    if kind not in IMAGE_KINDS:
        hint = ("POST ECGs to /v1/ecg/records or /v1/ecg/beats." if kind in
                {"text", "json", "wfdb-header", "edf", "npy"} else "send DICOM, PNG or JPEG.")
        raise ApiProblem(415, f"The upload '{name}' is {describe_kind(kind)}, not a DICOM, PNG or "
                         "JPEG image.", hint=hint)
    service = _service(request, "xray-heart")
    service.ensure_available()
    stem = PurePosixPath(name).stem if name != "upload" else "xray"

    def job() -> Response | dict:
        from cardioclarity.xray.io import read_xray

        detector = service.model()
        image = guarded_read("image", read_xray, data, name=stem)
        result = detector.detect(image)
        out = dict(result.to_dict())
        if format == "json" and not include_images:
            return out
        from cardioclarity.xray.report import overlay_png

        png = overlay_png(image, result)
        if format == "png":
            return Response(png, media_type="image/png")
        if format == "html":
            return _html_download(_xray_report_html(out, png, stem), stem)
        out["images"] = {"overlay": _data_uri(png)}
        return out

    result = await request.app.state.gate.run(job)
    return result if isinstance(result, Response) else SafeJSONResponse(result)
