"""The three pipelines behind the routes, loaded once and shared by all requests.

Each service wraps the public functions of its pipeline exactly as the CLI calls them, so a result is
computed the same way whichever door it came through (DESIGN.md): the routes return the objects the
CLI writes to files. A pipeline missing from this build (not installed, or its bundled weights
absent) makes its routes answer 503 ``model-unavailable``; the other routes keep working.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cardioclarity.errors import CardioClarityError
from cardioclarity.serve.problems import ApiProblem

__all__ = ["PipelineService", "build_services", "guarded_read", "jsonable"]

log = logging.getLogger("cardioclarity.serve")


def guarded_read(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a reader on client data; turn any non-CardioClarity failure into a 422 problem.

    Readers raise :class:`CardioClarityError` for the bad inputs they foresee. Third-party parsers
    (pydicom, wfdb, PIL) raise their own exceptions for the ones nobody foresaw (a DICOM cut in the
    middle of a tag, a header with a stray byte); the cause is still the client's data, so the
    answer is a 4xx naming the exception type, never a 500. Only reading is guarded this way: a
    failure inside a model stays a 500, because it is a bug.
    """
    try:
        return fn(*args, **kwargs)
    except CardioClarityError:
        raise
    except MemoryError:
        raise ApiProblem(413, f"The {what} is too large to decode in memory.",
                         hint="send a smaller input.", kind="payload-too-large") from None
    except Exception as exc:  # noqa: BLE001 - see docstring
        first = (str(exc).splitlines() or [""])[0][:160]
        raise ApiProblem(422, f"The {what} could not be read ({type(exc).__name__}: {first}).",
                         hint="check that the file is complete and in a supported format.",
                         kind="unreadable-input") from None


class PipelineService:
    """One pipeline: how to load its model, and whether that worked.

    Parameters
    ----------
    name : str
        Short name (``"ecg-beats"``, ``"ecg-records"``, ``"xray-heart"``).
    route : str
        The route it serves.
    modules : tuple of str
        Modules the pipeline needs; when one is missing from the build the service is unavailable.
    loader : callable
        ``loader() -> model`` (the object passed to the pipeline functions), called once.
    describe : callable, optional
        ``describe(model) -> dict`` of metadata for ``/v1/models``.
    """

    def __init__(self, name: str, route: str, modules: tuple[str, ...],
                 loader: Callable[[], Any], describe: Callable[[Any], dict] | None = None) -> None:
        self.name = name
        self.route = route
        self.modules = modules
        self._loader = loader
        self._describe = describe
        self._lock = threading.Lock()
        self._model: Any = None
        self._loaded = False
        self.error: str | None = None
        self.load_seconds: float | None = None

    @property
    def loaded(self) -> bool:
        """The model is loaded and ready."""
        return self._loaded

    def load(self) -> bool:
        """Load the model once (thread-safe). Returns whether the pipeline is usable."""
        with self._lock:
            if self._loaded or self.error is not None:
                return self._loaded
            t0 = time.perf_counter()
            try:
                for mod in self.modules:
                    importlib.import_module(mod)
                self._model = self._loader()
                self._loaded = True
                self.load_seconds = time.perf_counter() - t0
                log.info("loaded %s in %.2f s", self.name, self.load_seconds)
            except ImportError as exc:
                self.error = f"the {self.name} pipeline is not part of this build ({exc})"
                log.warning("%s unavailable: %s", self.name, self.error)
            except Exception as exc:  # noqa: BLE001 - a broken model must not stop the server
                self.error = f"its model could not be loaded ({type(exc).__name__}: {exc})"
                log.error("%s unavailable: %s", self.name, self.error)
            return self._loaded

    def _unavailable(self) -> ApiProblem:
        return ApiProblem(503, f"Model not available in this build: {self.error}.",
                          hint="GET /v1/models lists what this server has loaded; the other "
                          "routes keep working.", kind="model-unavailable")

    def ensure_available(self) -> None:
        """Raise the 503 problem now if the pipeline is known to be missing (cheap: loads nothing).

        Routes call it on the event loop before queueing any work; the model itself is loaded by
        :meth:`model` on a worker thread.
        """
        if self._loaded:
            return
        if self.error is None:
            for mod in self.modules:
                try:
                    found = importlib.util.find_spec(mod) is not None
                except ImportError:
                    found = False
                if not found:
                    self.error = f"the {self.name} pipeline is not part of this build ({mod})"
                    break
        if self.error is not None:
            raise self._unavailable()

    def model(self) -> Any:
        """The loaded model, loading it on first use.

        Raises
        ------
        ApiProblem
            503 ``model-unavailable`` when the pipeline is not in this build or failed to load.
        """
        if not self._loaded and not self.load():
            raise self._unavailable()
        return self._model

    def info(self) -> dict:
        """Status and metadata for ``/v1/models``."""
        out: dict[str, Any] = {"pipeline": self.name, "route": self.route,
                               "status": "loaded" if self._loaded else
                               ("unavailable" if self.error else "not-loaded")}
        if self.error:
            out["reason"] = self.error
        if self._loaded and self._describe is not None:
            try:
                out.update(jsonable(self._describe(self._model), metadata=True))
            except Exception as exc:  # noqa: BLE001 - metadata is best effort
                out["metadata_error"] = type(exc).__name__
        if self.load_seconds is not None:
            out["load_seconds"] = round(self.load_seconds, 3)
        return out


def jsonable(value: Any, *, metadata: bool = False) -> Any:
    """``value`` made valid JSON: numpy types plain, paths as text, NaN/inf as ``null``.

    With ``metadata=True`` (model cards for ``/v1/models``) weights are left out, arrays longer
    than 64 values are summarised and unknown objects become their ``str``.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v, metadata=metadata) for k, v in value.items()
                if not (metadata and k == "state_dict")}
    if isinstance(value, list | tuple):
        return [jsonable(v, metadata=metadata) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        if metadata and value.size > 64:
            return f"array{list(value.shape)}"
        return jsonable(value.tolist(), metadata=metadata)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, Path) or metadata:
        return str(value)
    return value


def _checkpoint_card(obj: Any, kinds: tuple[str, ...]) -> dict:
    """Name, version, training data and headline metrics of the checkpoint behind ``obj``.

    Looks for checkpoint metadata on the object first, then falls back to the bundled checkpoint of
    one of ``kinds`` (the registry in :mod:`cardioclarity.checkpoints`).
    """
    from cardioclarity.checkpoints import describe_checkpoint, list_bundled, load_checkpoint

    for attr in ("checkpoint_", "meta_", "metadata_", "checkpoint_meta_", "info", "meta", "metadata"):
        meta = getattr(obj, attr, None)
        if isinstance(meta, dict) and meta:
            return _card_fields(meta)
    for name, path in list_bundled().items():
        ckpt = load_checkpoint(path)
        if ckpt.get("kind") in kinds:
            return _card_fields({"name": name, **describe_checkpoint(ckpt)})
    return {}


def _card_fields(meta: dict) -> dict:
    keys = ("name", "kind", "model", "architecture", "cardioclarity_version", "created_utc",
            "training_data", "data", "protocol", "metrics", "threshold", "ctr_threshold",
            "input_length", "input_size", "label_convention")
    out = {k: meta[k] for k in keys if k in meta}
    if "path" in meta and "name" not in out:
        out["name"] = str(meta["path"]).rsplit("/", 1)[-1].removesuffix(".pt")
    return out


# --- the three pipelines (interfaces agreed in the briefs; imported lazily) ---------------------

def _load_beat_detector() -> Any:
    from cardioclarity.ecg.detector import load_detector
    from cardioclarity.ecg.io import read_beats  # noqa: F401 - the route's reader must exist too

    return load_detector(None)


def _load_record_pipeline() -> dict:
    """The record pipeline's models, loaded once: beat scorer and rhythm model.

    ``analyze_record`` loads its bundled defaults on every call when given none; loading them once
    here keeps that cost out of each request. When the beat model cannot be loaded (its pipeline
    is missing from the build), the route still answers with rhythm and quality, and says so:
    ``model.beats`` is null in the findings and ``/v1/models`` gives the reason.
    """
    import cardioclarity.ecg.analyze  # noqa: F401 - the pipeline itself must be importable

    models: dict[str, Any] = {"detector": None, "rhythm_model": None}
    try:
        from cardioclarity.ecg.rhythm import load_rhythm_model

        models["rhythm_model"] = load_rhythm_model(None)
    except ImportError:
        pass  # older layout: analyze_record loads it
    try:
        from cardioclarity.ecg.record_beats import load_record_model

        models["detector"] = load_record_model(None)
    except ImportError as exc:
        models["detector"] = False  # rhythm only
        models["beats_unavailable"] = f"beat model not in this build ({exc.name or exc})"
    except CardioClarityError as exc:
        models["detector"] = False
        models["beats_unavailable"] = f"beat model could not be loaded ({exc.message})"
    return models


def _describe_record_pipeline(models: dict) -> dict:
    out: dict[str, Any] = {}
    det = models.get("detector")
    if det:
        describe = getattr(det, "describe", None)
        out["beats"] = jsonable(describe(), metadata=True) if callable(describe) else \
            _checkpoint_card(det, ("ecg-record-detector", "ecg-beat-detector"))
    else:
        out["beats"] = {"status": "unavailable",
                        "reason": models.get("beats_unavailable", "not loaded")}
    rm = models.get("rhythm_model")
    if rm is not None:
        out["rhythm"] = _card_fields(dict(getattr(rm, "meta", {}) or {}))
        if getattr(rm, "threshold_", None) is not None:
            out["rhythm"]["threshold"] = float(rm.threshold_)
    return out


def _load_heart_detector() -> Any:
    from cardioclarity.xray.detect import HeartDetector

    return HeartDetector.load(None)


def build_services() -> dict[str, PipelineService]:
    """The three services by pipeline name (nothing loaded yet)."""
    return {
        "ecg-beats": PipelineService(
            "ecg-beats", "/v1/ecg/beats", ("cardioclarity.ecg.io", "cardioclarity.ecg.detector"),
            _load_beat_detector,
            lambda det: _checkpoint_card(det, ("ecg-beat-detector",))),
        "ecg-records": PipelineService(
            "ecg-records", "/v1/ecg/records",
            ("cardioclarity.ecg.io", "cardioclarity.ecg.analyze"),
            _load_record_pipeline, _describe_record_pipeline),
        "xray-heart": PipelineService(
            "xray-heart", "/v1/xray/heart",
            ("cardioclarity.xray.io", "cardioclarity.xray.detect", "cardioclarity.xray.report"),
            _load_heart_detector,
            lambda det: _card_fields({**det.card, **det.model_field()})),
    }
