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
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from cardioclarity import DISCLAIMER, __version__
from cardioclarity.serve import docs, routes
from cardioclarity.serve.edge import EdgeMiddleware
from cardioclarity.serve.limits import BodyLimitMiddleware, InferenceGate
from cardioclarity.serve.pipelines import build_services
from cardioclarity.serve.problems import install_problem_handlers
from cardioclarity.serve.settings import Settings

__all__ = ["STATIC_DIR", "create_app"]

log = logging.getLogger("cardioclarity.serve")

STATIC_DIR = Path(str(resources.files("cardioclarity.serve") / "static"))

_DESCRIPTION = f"""REST API over CardioClarity's ECG and chest X-ray pipelines.

**{DISCLAIMER}**

Uploads are recognised by their content (magic bytes), not by file name or Content-Type. Errors
are `application/problem+json` (RFC 9457) with a `detail` and a `hint`. When the server sets
`CARDIOCLARITY_API_KEY`, send it in the API-key header on `/v1/*` routes.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to :meth:`Settings.from_env`.

    Returns
    -------
    FastAPI
        ``app.state.settings``, ``app.state.services`` (pipelines by name) and ``app.state.gate``
        (the :class:`InferenceGate`) are set. Models are loaded at start-up (lifespan) when
        ``settings.preload``, otherwise on first use.
    """
    settings = settings or Settings.from_env()
    services = build_services()
    gate = InferenceGate(settings.max_concurrency, settings.max_queue, settings.request_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import torch

        # Inference threads share the CPU with the event loop and each other: cap intra-op threads.
        torch.set_num_threads(settings.effective_torch_threads)
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

    app = FastAPI(
        title="CardioClarity API", version=__version__, description=_DESCRIPTION,
        lifespan=lifespan, docs_url=None, redoc_url=None,
        license_info={"name": "MIT"},
    )
    app.state.settings = settings
    app.state.services = services
    app.state.gate = gate
    install_problem_handlers(app)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict:
        return {"status": "ok", "version": __version__, "disclaimer": DISCLAIMER}

    @app.get("/readyz", tags=["health"], summary="Readiness: every model of this build is loaded",
             responses={503: {"description": "a model is still loading or unavailable"}})
    async def readyz() -> JSONResponse:
        models = {name: s.info()["status"] for name, s in services.items()}
        ready = all(s.loaded for s in services.values())
        body = {"status": "ready" if ready else "not-ready", "models": models,
                "busy": gate.admitted, "capacity": gate.capacity, "disclaimer": DISCLAIMER}
        return JSONResponse(body, status_code=200 if ready else 503,
                            headers=None if ready else {"Retry-After": "5"})

    @app.get("/v1/models", tags=["models"], summary="What is loaded: name, version, data, metrics")
    async def models() -> dict:
        return {"models": [s.info() for s in services.values()], "disclaimer": DISCLAIMER}

    app.include_router(routes.router)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def api_docs(request: Request) -> HTMLResponse:
        return HTMLResponse(docs.render_docs(app.openapi()))

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
