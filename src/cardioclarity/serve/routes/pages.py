"""The web page at ``/`` and the offline API reference at ``/docs`` (not in the OpenAPI schema)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from cardioclarity.serve.docs import render_docs

__all__ = ["STATIC_DIR", "router"]

#: The web page's files, served under ``/static``.
STATIC_DIR = Path(str(resources.files("cardioclarity.serve") / "static"))

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/docs")
async def api_docs(request: Request) -> HTMLResponse:
    return HTMLResponse(render_docs(request.app.openapi()))
