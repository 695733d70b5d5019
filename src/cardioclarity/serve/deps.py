"""FastAPI dependencies: how a route gets the settings, the inference gate, its pipeline, the upload.

The application keeps one of each in ``app.state`` (set by :func:`~cardioclarity.serve.app.create_app`);
routes never read ``app.state`` themselves, they declare what they need::

    async def xray_heart(upload: Upload = Depends(get_upload),
                         service: PipelineService = Depends(pipeline("xray-heart")), ...)
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Query, Request

from cardioclarity.serve.limits import InferenceGate
from cardioclarity.serve.services import PipelineService
from cardioclarity.serve.settings import Settings
from cardioclarity.serve.uploads import Upload, read_upload

__all__ = ["get_gate", "get_services", "get_settings", "get_upload", "pipeline"]


def get_settings(request: Request) -> Settings:
    """The server's :class:`Settings`."""
    return request.app.state.settings


def get_gate(request: Request) -> InferenceGate:
    """The :class:`InferenceGate` every inference job runs under."""
    return request.app.state.gate


def get_services(request: Request) -> dict[str, PipelineService]:
    """All pipeline services by name."""
    return request.app.state.services


def pipeline(name: str) -> Callable[[Request], PipelineService]:
    """A dependency returning the service of pipeline ``name``."""

    def dependency(request: Request) -> PipelineService:
        return request.app.state.services[name]

    dependency.__name__ = f"pipeline_{name.replace('-', '_')}"
    return dependency


async def get_upload(
    request: Request, settings: Settings = Depends(get_settings),
    filename: str | None = Query(None, max_length=255,
                                 description="name of a raw-body upload (not used to sniff)"),
) -> Upload:
    """The request body as an :class:`Upload` (multipart form, zip or raw body), within limits."""
    return await read_upload(request, max_entries=settings.max_zip_entries,
                             max_total_bytes=settings.max_upload_bytes, filename=filename)
