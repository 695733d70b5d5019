"""What the inference routes share: the JSON response class, downloads, OpenAPI fragments."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse, Response

from cardioclarity import DISCLAIMER
from cardioclarity.serve.problems import ApiProblem
from cardioclarity.serve.uploads import Upload
from cardioclarity.validation import to_jsonable

__all__ = ["BINARY", "ERROR_RESPONSES", "NUMBER", "PROBLEM_SCHEMA", "TEXT", "SafeJSONResponse",
           "body_doc", "html_download", "inference_route", "json_content", "obj", "single_file"]

#: OpenAPI schemas of non-JSON answers: a text document (CSV, HTML) and binary bytes (PNG).
TEXT: dict[str, Any] = {"schema": {"type": "string"}}
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}

_ERRORS = {
    400: {"description": "empty body or malformed multipart form"},
    401: {"description": "missing or wrong API key (when the server requires one)"},
    413: {"description": "body over the upload size limit (also for chunked bodies)"},
    415: {"description": "the content is not something this route reads (sniffed by magic bytes)"},
    422: {"description": "the content is of the right kind but invalid (NaN, truncated, ...)"},
    503: {"description": "server at capacity or timed out (Retry-After), or model not available"},
    500: {"description": "internal error: one line, no traceback (a bug; please report it)"},
}
#: JSON Schema of every problem+json answer (RFC 9457 members plus ``hint`` and ``disclaimer``).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "title", "status", "detail", "disclaimer"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"}, "hint": {"type": "string"}, "instance": {"type": "string"},
        "disclaimer": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}}}}
_PROBLEM = {"content": {"application/problem+json": {"schema": PROBLEM_SCHEMA, "example": {
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


def obj(*required: str, **properties: Any) -> dict:
    """JSON Schema of an object with these ``required`` keys and ``properties`` (others allowed)."""
    return {"type": "object", "required": list(required), "properties": properties}


#: A number that is ``null`` when it could not be computed (NaN is written as null).
NUMBER: dict[str, Any] = {"type": ["number", "null"]}


def json_content(schema: dict, example: dict) -> dict:
    """The ``application/json`` entry of an OpenAPI response: its schema and a short example."""
    return {"application/json": {"schema": schema, "example": example}}


def inference_route(summary: str, description: str, schema: dict, example: dict,
                    body: dict, **other_media: dict) -> dict:
    """Keyword arguments of ``router.post`` for an inference route: its summary, the JSON answer
    (schema and example), other media types of the 200 answer (``text_html=TEXT``: underscores
    stand for ``/``), the documented errors and the request body."""
    media = {k.replace("_", "/", 1): v for k, v in other_media.items()}
    return {"summary": summary, "response_class": SafeJSONResponse, "openapi_extra": body,
            "responses": {**ERROR_RESPONSES, 200: {"description": description, "content": {
                **json_content(schema, example), **media}}}}


def body_doc(*media: str, description: str, fields: dict | None = None,
             json_schema: dict | None = None) -> dict:
    """OpenAPI ``requestBody`` of a route that takes a raw body or a multipart form.

    ``fields`` are the text fields the multipart form may carry besides its files (``fs``, ``lead``);
    ``json_schema`` describes the ``application/json`` form of the body.
    Bodies must be non-empty; whether the bytes are what the route reads is decided by sniffing
    them, which a schema cannot express (a wrong kind is a 415, a broken file a 422).
    """
    binary = {"type": "string", "format": "binary", "minLength": 1}
    # Text bodies go over the wire as their characters: a number is text too, so no "type".
    text = {"minLength": 1}
    content: dict[str, Any] = {m: {"schema": text if m.startswith("text/") else binary}
                               for m in media}
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    content["multipart/form-data"] = {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "array", "minItems": 1, "items": binary}, **(fields or {})}}}
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
