"""``GET /healthz``, ``GET /readyz`` and ``GET /v1/models``: is the server up, ready, with what."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from cardioclarity import DISCLAIMER, __version__
from cardioclarity.serve.deps import get_gate, get_services
from cardioclarity.serve.limits import InferenceGate
from cardioclarity.serve.services import PipelineService

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz", tags=["health"], summary="Liveness: the process answers")
async def healthz() -> dict:
    return {"status": "ok", "version": __version__, "disclaimer": DISCLAIMER}


@router.get("/readyz", tags=["health"], summary="Readiness: every model of this build is loaded",
            responses={503: {"description": "a model is still loading or unavailable"}})
async def readyz(services: dict[str, PipelineService] = Depends(get_services),
                 gate: InferenceGate = Depends(get_gate)) -> JSONResponse:
    models = {name: s.info()["status"] for name, s in services.items()}
    ready = all(s.loaded for s in services.values())
    body = {"status": "ready" if ready else "not-ready", "models": models,
            "busy": gate.admitted, "capacity": gate.capacity, "disclaimer": DISCLAIMER}
    return JSONResponse(body, status_code=200 if ready else 503,
                        headers=None if ready else {"Retry-After": "5"})


@router.get("/v1/models", tags=["models"], summary="What is loaded: name, version, data, metrics")
async def models(services: dict[str, PipelineService] = Depends(get_services)) -> dict:
    return {"models": [s.info() for s in services.values()], "disclaimer": DISCLAIMER}
