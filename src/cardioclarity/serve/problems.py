"""Errors as ``application/problem+json`` (RFC 9457), with a message a developer can act on.

Every error response has the same shape::

    {"type": "https://cardioclarity.dev/problems/unsupported-media-type",
     "title": "Unsupported Media Type", "status": 415,
     "detail": "The body is a PNG image, not an ECG ...",
     "hint": "POST chest X-rays to /v1/xray/heart.",
     "instance": "/v1/ecg/records", "disclaimer": "Research use only ..."}

Nothing from the request body is echoed back (no pixel data, no patient identifiers).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cardioclarity import DISCLAIMER
from cardioclarity.errors import CardioClarityError

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "ApiProblem",
    "install_problem_handlers",
    "problem_response",
]

log = logging.getLogger("cardioclarity.serve")

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Base of the ``type`` URIs (they identify the problem kind; they need not resolve).
PROBLEM_BASE = "https://cardioclarity.dev/problems/"


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


class ApiProblem(CardioClarityError):
    """An HTTP-level problem raised by the serving layer (413, 415, 401, 503 ...).

    Parameters
    ----------
    status : int
        HTTP status code.
    message : str
        What was expected and what came.
    hint : str, optional
        How to fix it.
    kind : str, optional
        Last part of the problem ``type`` URI; defaults to the status phrase (``payload-too-large``).
    headers : dict, optional
        Extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(self, status: int, message: str, hint: str | None = None, *,
                 kind: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, hint)
        self.http_status = status
        self.kind = kind or _slug(status)
        self.headers = headers or {}


def problem_response(status: int, detail: str, *, hint: str | None = None, kind: str | None = None,
                     instance: str | None = None, headers: dict[str, str] | None = None,
                     **extra) -> JSONResponse:
    """Build a problem+json response carrying the research-use disclaimer."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body = {"type": PROBLEM_BASE + (kind or _slug(status)), "title": title, "status": status,
            "detail": detail}
    if hint:
        body["hint"] = hint
    if instance:
        body["instance"] = instance
    body.update(extra)
    body["disclaimer"] = DISCLAIMER
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def _cardioclarity_error(request: Request, exc: CardioClarityError) -> JSONResponse:
    status = int(getattr(exc, "http_status", 422))
    if status >= 500 and status != 503:
        # A checkpoint or model problem on the server side: the client cannot fix it.
        log.error("server-side error on %s: %s", request.url.path, exc.message)
    kind = getattr(exc, "kind", None) or type(exc).__name__.removesuffix("Error").lower() or None
    kind = {"invalidinput": "invalid-input", "unsupportedformat": "unsupported-media-type",
            "inputfilenotfound": "missing-input"}.get(kind, kind)
    return problem_response(status, exc.message, hint=exc.hint, kind=kind,
                            instance=request.url.path, headers=getattr(exc, "headers", None))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    hints = {
        404: "see the API documentation at /docs for the available routes.",
        405: "see the API documentation at /docs for the methods each route accepts.",
    }
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"There is no route {request.url.path}."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(exc.status_code, detail, hint=hints.get(exc.status_code),
                            instance=request.url.path, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
    return problem_response(422, f"The request parameters are invalid ({where}).",
                            hint="see the API documentation at /docs.", kind="invalid-parameters",
                            instance=request.url.path, errors=errors)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Log the traceback for the operator; the client gets one line, never the traceback.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(500, f"Internal error ({type(exc).__name__}) while handling the request.",
                            hint="this is a bug in CardioClarity; please report it with the input "
                            "that caused it, if you may share it.", instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the problem+json exception handlers on ``app``."""
    app.add_exception_handler(CardioClarityError, _cardioclarity_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
