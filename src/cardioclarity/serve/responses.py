"""What the inference routes share: the JSON response class, downloads, OpenAPI fragments."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse, Response

from cardioclarity import DISCLAIMER
from cardioclarity.serve.problems import ApiProblem
from cardioclarity.serve.uploads import Upload
from cardioclarity.validation import to_jsonable

__all__ = ["ERROR_RESPONSES", "SafeJSONResponse", "body_doc", "html_download", "single_file"]

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

#: The documented error answers of every inference route (OpenAPI ``responses``).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {k: {**v, **_PROBLEM} for k, v in _ERRORS.items()}


class SafeJSONResponse(JSONResponse):
    """JSON response tolerant of numpy scalars and NaN (written as ``null``, as JSON requires)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(to_jsonable(content), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")


def body_doc(*media: str, description: str) -> dict:
    """OpenAPI ``requestBody`` of a route that takes a raw body or a multipart form."""
    content: dict[str, Any] = {m: {"schema": {"type": "string", "format": "binary"}} for m in media}
    content["multipart/form-data"] = {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "fs": {"type": "number"}, "lead": {"type": "string"}}}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def html_download(html: str, stem: str) -> Response:
    """An HTML report as a file download named ``<stem>_report.html``."""
    return Response(html, media_type="text/html; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{stem}_report.html"'})


def single_file(upload: Upload, what: str) -> tuple[str, bytes]:
    """The one file of ``upload`` as ``(name, bytes)``; a 422 problem when there are several."""
    if len(upload.files) != 1:
        raise ApiProblem(422, f"Expected one {what} file, got {len(upload.files)}.",
                         hint=f"send one {what} per request.", kind="wrong-file-count")
    return next(iter(upload.files.items()))
