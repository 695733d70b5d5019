"""``GET /healthz``, ``GET /readyz`` and ``GET /v1/models``: is the server up, ready, with what."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from cardioclarity import DISCLAIMER, __version__
from cardioclarity.serve.deps import get_gate, get_services
from cardioclarity.serve.limits import InferenceGate
from cardioclarity.serve.services import PipelineService

__all__ = ["debug_router", "router"]

router = APIRouter()
#: Included only when ``Settings.debug_memory`` is on (not in the OpenAPI schema).
debug_router = APIRouter(prefix="/debug", include_in_schema=False)


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


def _proc_status_mb(*fields: str) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        for line in open("/proc/self/status").read().splitlines():  # noqa: SIM115 - Linux only
            key = line.split(":", 1)[0]
            if key in fields:
                out[key] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


@debug_router.get("/memory")
async def debug_memory(top: int = 20) -> dict:
    """Resident memory and the ``top`` allocation sites of live Python objects (tracemalloc)."""
    import tracemalloc

    out: dict = {"memory_mb": _proc_status_mb("VmRSS", "VmHWM", "RssAnon"),
                 "tracing": tracemalloc.is_tracing(), "disclaimer": DISCLAIMER}
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        out["traced_mb"] = {"current": round(current / 2**20, 2), "peak": round(peak / 2**20, 2)}
        out["top"] = [{"where": str(s.traceback[0]), "size_kb": round(s.size / 1024, 1),
                       "count": s.count} for s in snapshot.statistics("lineno")[:max(1, top)]]
    return out


@debug_router.post("/memory/trim")
async def debug_memory_trim() -> dict:
    """Return freed heap pages to the OS (glibc ``malloc_trim(0)``); resident memory before/after."""
    import ctypes

    before = _proc_status_mb("VmRSS")
    try:
        trimmed = bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        trimmed = False  # not glibc
    return {"trimmed": trimmed, "before_mb": before, "after_mb": _proc_status_mb("VmRSS"),
            "disclaimer": DISCLAIMER}
