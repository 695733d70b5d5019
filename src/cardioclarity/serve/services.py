"""The three pipelines behind the routes, each loaded once and shared by all requests.

A service wraps the public functions of its pipeline exactly as the CLI calls them, so a result is
the same whichever door it came through: the routes return the objects the CLI writes to files. A
pipeline whose model cannot be loaded (its bundled weights absent or damaged) makes its routes
answer 503 ``model-unavailable``; the other routes keep working.

Every model follows one protocol: ``Model.load(name_or_path=None)`` and a ``.card`` dict (name,
kind, version, training data, metrics), which is what ``/v1/models`` shows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cardioclarity.errors import CardioClarityError, exception_summary
from cardioclarity.serve.problems import ApiProblem
from cardioclarity.validation import to_jsonable

__all__ = ["PipelineService", "RecordModels", "build_services", "guarded_read"]

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
        raise ApiProblem(422, f"The {what} could not be read ({exception_summary(exc, 160)}).",
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
    loader : callable
        ``loader() -> model`` (the object passed to the pipeline functions, with a ``.card``
        dict), called once.
    """

    def __init__(self, name: str, route: str, loader: Callable[[], Any]) -> None:
        self.name = name
        self.route = route
        self._loader = loader
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
                self._model = self._loader()
                self._loaded = True
                self.load_seconds = time.perf_counter() - t0
                log.info("loaded %s in %.2f s", self.name, self.load_seconds)
            except Exception as exc:  # noqa: BLE001 - a broken model must not stop the server
                message = exc.message if isinstance(exc, CardioClarityError) else str(exc)
                self.error = f"its model could not be loaded ({type(exc).__name__}: {message})"
                log.error("%s unavailable: %s", self.name, self.error)
            return self._loaded

    def _unavailable(self) -> ApiProblem:
        return ApiProblem(503, f"Model not available in this build: {self.error}.",
                          hint="GET /v1/models lists what this server has loaded; the other "
                          "routes keep working.", kind="model-unavailable")

    def ensure_available(self) -> None:
        """Raise the 503 problem now if loading already failed (cheap: loads nothing).

        Routes call it on the event loop before queueing any work; the model itself is loaded by
        :meth:`model` on a worker thread.
        """
        if self.error is not None:
            raise self._unavailable()

    def model(self) -> Any:
        """The loaded model, loading it on first use.

        Raises
        ------
        ApiProblem
            503 ``model-unavailable`` when the model failed to load.
        """
        if not self._loaded and not self.load():
            raise self._unavailable()
        return self._model

    def info(self) -> dict:
        """Status and model card for ``/v1/models``."""
        out: dict[str, Any] = {"pipeline": self.name, "route": self.route,
                               "status": "loaded" if self._loaded else
                               ("unavailable" if self.error else "not-loaded")}
        if self.error:
            out["reason"] = self.error
        if self._loaded:
            out.update(to_jsonable(self._model.card, metadata=True))
        if self.load_seconds is not None:
            out["load_seconds"] = round(self.load_seconds, 3)
        return out


@dataclass
class RecordModels:
    """The record pipeline's models, loaded once: beat scorer and rhythm model.

    ``analyze_record`` loads its bundled defaults on every call when given none; loading them once
    keeps that cost out of each request. When the beat model cannot be loaded the route still
    answers with rhythm and quality, and says so: ``model.beats`` is null in the findings and
    ``/v1/models`` gives the reason.
    """

    detector: Any
    rhythm_model: Any
    beats_unavailable: str | None = None

    @classmethod
    def load(cls) -> RecordModels:
        """The bundled record beat model and rhythm model."""
        from cardioclarity.ecg.records.rhythm import RhythmModel
        from cardioclarity.ecg.records.scoring import RecordBeatModel

        rhythm = RhythmModel.load()
        try:
            return cls(detector=RecordBeatModel.load(), rhythm_model=rhythm)
        except CardioClarityError as exc:
            return cls(detector=False, rhythm_model=rhythm,
                       beats_unavailable=f"beat model could not be loaded ({exc.message})")

    @property
    def card(self) -> dict:
        """Cards of both models (the beat model's reason when it is unavailable)."""
        beats = self.detector.card if self.detector else {
            "status": "unavailable", "reason": self.beats_unavailable or "not loaded"}
        return {"beats": beats,
                "rhythm": {**self.rhythm_model.card, "threshold": float(self.rhythm_model.threshold_)}}

    def analyze_kwargs(self) -> dict:
        """Keyword arguments of :func:`~cardioclarity.ecg.records.analyze.analyze_record`."""
        return {"detector": self.detector, "rhythm_model": self.rhythm_model}


def _load_beat_detector() -> Any:
    from cardioclarity.ecg.beats.detector import load_detector

    return load_detector()


def _load_heart_detector() -> Any:
    from cardioclarity.xray.detect import HeartDetector

    return HeartDetector.load()


def build_services(loaders: dict[str, Callable[[], Any]] | None = None
                   ) -> dict[str, PipelineService]:
    """The three services by pipeline name (nothing loaded yet).

    Parameters
    ----------
    loaders : dict, optional
        Replacement loaders by pipeline name (tests use it to simulate a missing model).
    """
    specs = {"ecg-beats": ("/v1/ecg/beats", _load_beat_detector),
             "ecg-records": ("/v1/ecg/records", RecordModels.load),
             "xray-heart": ("/v1/xray/heart", _load_heart_detector)}
    loaders = loaders or {}
    return {name: PipelineService(name, route, loaders.get(name, loader))
            for name, (route, loader) in specs.items()}
