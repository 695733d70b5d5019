"""The FastAPI application: ``create_app(settings)``.

Routes (all responses carry the research-use disclaimer, in the JSON body and in the
``X-CardioClarity-Disclaimer`` header):

- ``POST /v1/ecg/beats``    beats (CSV/UCR text/NPY or JSON) -> per-beat score and flag
- ``POST /v1/ecg/records``  WFDB record (multipart or zip) or CSV/JSON signal -> ``findings.json``
- ``POST /v1/xray/heart``   DICOM/PNG/JPEG -> ``<stem>.json`` (+ overlay image on request)
- ``GET /v1/models``, ``GET /healthz``, ``GET /readyz``, ``GET /docs`` (API reference),
  ``GET /openapi.json``, and the web page at ``/``.

Middleware, outermost first: :class:`~cardioclarity.serve.edge.EdgeMiddleware` (API key, headers,
access log), CORS (only when origins are configured), and
:class:`~cardioclarity.serve.limits.BodyLimitMiddleware` (413).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from cardioclarity import DISCLAIMER, __version__
from cardioclarity.serve.edge import EdgeMiddleware
from cardioclarity.serve.limits import BodyLimitMiddleware, InferenceGate
from cardioclarity.serve.problems import install_problem_handlers
from cardioclarity.serve.routes import ROUTERS
from cardioclarity.serve.routes.health import debug_router
from cardioclarity.serve.routes.pages import STATIC_DIR
from cardioclarity.serve.services import PipelineService, build_services
from cardioclarity.serve.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("cardioclarity.serve")

_DESCRIPTION = f"""REST API over CardioClarity's ECG and chest X-ray pipelines.

**{DISCLAIMER}**

Uploads are recognised by their content (magic bytes), not by file name or Content-Type. Errors
are `application/problem+json` (RFC 9457) with a `detail` and a `hint`. When the server sets
`CARDIOCLARITY_API_KEY`, send it in the API-key header on `/v1/*` routes.
"""


def create_app(settings: Settings | None = None, *,
               services: dict[str, PipelineService] | None = None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :meth:`Settings.from_env`.
    services : dict, optional
        Pipeline services by name; default :func:`~cardioclarity.serve.services.build_services`
        (tests pass services whose model fails to load).

    Returns
    -------
    FastAPI
        ``app.state.settings``, ``app.state.services`` and ``app.state.gate`` (the
        :class:`InferenceGate`) are what the route dependencies in
        :mod:`cardioclarity.serve.deps` hand out. Models are loaded at start-up (lifespan) when
        ``settings.preload``, otherwise on first use.
    """
    settings = settings or Settings.from_env()
    services = build_services() if services is None else services
    gate = InferenceGate(settings.max_concurrency, settings.max_queue, settings.request_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import torch

        # Inference threads share the CPU with the event loop and each other: cap intra-op threads.
        torch.set_num_threads(settings.effective_torch_threads)
        if settings.debug_memory:
            import tracemalloc

            tracemalloc.start()
        if settings.preload:
            loop = asyncio.get_running_loop()
            for service in services.values():
                # On a worker thread, without the request timeout: a slow disk must not fail the
                # start-up, and the loop stays free to answer /healthz meanwhile.
                await loop.run_in_executor(None, service.load)
        try:
            yield
        finally:
            gate.shutdown()
            if settings.debug_memory:
                import tracemalloc

                tracemalloc.stop()

    app = FastAPI(title="CardioClarity API", version=__version__, description=_DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None, license_info={"name": "MIT"})
    app.state.settings = settings
    app.state.services = services
    app.state.gate = gate
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    if settings.debug_memory:
        app.include_router(debug_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Middleware: the last added runs first.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", settings.api_key_header],
                           expose_headers=["Retry-After", "X-CardioClarity-Disclaimer"])
    app.add_middleware(EdgeMiddleware, api_key=settings.api_key, header=settings.api_key_header,
                       log_requests=settings.log_requests)
    return app
