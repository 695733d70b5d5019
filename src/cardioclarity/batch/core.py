"""The engine-neutral unit of work: ``(name, files) -> row``, whatever engine runs it.

:func:`run_item` reads nothing from the client and writes nothing: it turns one input's bytes into
one result row (a plain dict) with the pipelines' public functions, in the order the single-file
CLI calls them, so ``cardioclarity batch`` gives the same per-file JSON as
``cardioclarity xray detect`` / ``cardioclarity ecg analyze``:

* ``xray``: :func:`~cardioclarity.xray.io.read_xray` → :meth:`HeartDetector.detect
  <cardioclarity.xray.detect.HeartDetector.detect>` → ``to_dict()`` with ``file`` added;
* ``ecg``: :func:`~cardioclarity.ecg.records.io.read_record` →
  :func:`~cardioclarity.ecg.records.analyze.analyze_record` → ``to_dict()`` (``findings.json``).

Only a few summary columns are read from that JSON, each defensively (a missing or renamed field
is ``None``, never an error): the full document travels as a string. A bad input becomes an error
row, never an exception; models are loaded once per process (:func:`pipeline_for`), with torch
on :attr:`BatchSpec.threads` threads, so a Dask worker loads them in its set-up and then reuses
them.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from cardioclarity.ecg.records.methods import DEFAULT_PEAK_METHOD, PIPELINE_PEAK_METHODS
from cardioclarity.errors import (
    EX_SOFTWARE,
    CardioClarityError,
    InvalidInputError,
    exception_summary,
)

__all__ = ["KINDS", "SUMMARY_COLUMNS", "BatchSpec", "error_row", "pipeline_for", "run_item",
           "spec_key"]

KINDS = ("xray", "ecg")
#: Summary columns per kind and their type (``float``, ``int``, ``bool``, ``str``): the
#: ``results.parquet`` columns besides the common ones (see ``outputs.results_schema``).
SUMMARY_COLUMNS: dict[str, dict[str, type]] = {
    "xray": {"x_min": float, "y_min": float, "x_max": float, "y_max": float, "ctr": float,
             "cardiomegaly": bool, "quality_ok": bool, "quality_status": str,
             "quality_score": float, "quality_reasons": str},
    "ecg": {"record": str, "lead": str, "duration_s": float, "n_beats": int,
            "flagged_beats": int, "irregular": bool, "irregularity_score": float,
            "mean_hr_bpm": float, "n_episodes": int, "usable_fraction": float},
}


@dataclass(frozen=True)
class BatchSpec:
    """What to run on every item (picklable, hashable: it is the per-process model cache key).

    Parameters
    ----------
    kind : {"xray", "ecg"}
        Pipeline.
    model : str, optional
        Bundled model name or checkpoint path (xray: ``cxr-heart-seg``; ecg: the beat model,
        ``mitdb-conv1d``); None for the default.
    ctr_threshold : float
        xray: cardiomegaly cut-off on the CTR.
    lead, fs : optional
        ecg: lead name and sampling rate (CSV/TXT records need ``fs``).
    adaptive : {"auto", "on", "off"}
        ecg: patient-adaptive beat scoring (``cardioclarity ecg analyze --adaptive``).
    beats : bool
        ecg: score beats (False = rhythm only, ``--no-beats``).
    peaks : {"cardioclarity", "net", "hybrid"}
        ecg: R-peak detector (``cardioclarity ecg analyze --peaks``; default ``hybrid``).
    threads : int
        torch intra-op threads per process (1: the fastest for batches on shared cores).
    """

    kind: str
    model: str | None = None
    ctr_threshold: float = 0.5
    lead: str | None = None
    fs: float | None = None
    adaptive: str = "auto"
    beats: bool = True
    peaks: str = DEFAULT_PEAK_METHOD
    threads: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        if self.adaptive not in ("auto", "on", "off"):
            raise InvalidInputError(f"adaptive must be auto, on or off, got {self.adaptive!r}.")
        if self.peaks not in PIPELINE_PEAK_METHODS:
            raise InvalidInputError(f"peaks must be one of {', '.join(PIPELINE_PEAK_METHODS)}, "
                                    f"got {self.peaks!r}.")
        if self.threads < 0:
            raise InvalidInputError(f"threads must be 0 or more, got {self.threads}.",
                                    hint="1 (the default) suits batches and shared machines.")


def spec_key(spec: BatchSpec) -> str:
    """Settings that change results (not ``threads``): a rerun with other settings redoes all."""
    d = asdict(spec)
    d.pop("threads")
    if d["peaks"] == "cardioclarity":
        # Keys of energy-detector runs stay as they were before the detector became a setting,
        # so a rerun with --peaks cardioclarity over an older ledger resumes instead of redoing
        # everything (the default detector's key names it).
        d.pop("peaks")
    return json.dumps(d, sort_keys=True)


@functools.lru_cache(maxsize=4)
def pipeline_for(spec: BatchSpec) -> dict[str, Any]:
    """The loaded models for ``spec``, once per process (sets torch's thread count first).

    Raises
    ------
    CardioClarityError
        An unknown model name or a bad checkpoint (the whole batch cannot run).
    """
    if spec.threads:
        import torch

        torch.set_num_threads(spec.threads)
    if spec.kind == "xray":
        from cardioclarity.xray.detect import HeartDetector

        det = HeartDetector.load(spec.model, ctr_threshold=spec.ctr_threshold)
        return {"detector": det, **_identity([det.card])}
    from cardioclarity.ecg.records.rhythm import RhythmModel
    from cardioclarity.ecg.records.scoring import RecordBeatModel

    beats = RecordBeatModel.load(spec.model) if spec.beats else False
    rhythm = RhythmModel.load(None)
    cards = [getattr(m, "card", None) or {} for m in (beats, rhythm) if m is not False]
    return {"beats": beats, "rhythm": rhythm, **_identity(cards)}


def _identity(cards: list[dict]) -> dict[str, str | None]:
    """``model_name`` (names joined by "+") and ``model_version`` (creation times) of the models
    that made a result: what tells two trainings of one name apart."""
    names = [_str(c.get("name")) for c in cards]
    stamps = [_str(c.get("created_utc")) or _str(c.get("cardioclarity_version")) for c in cards]
    return {"model_name": "+".join(n for n in names if n) or None,
            "model_version": "+".join(s for s in stamps if s) or None}


def run_item(spec: BatchSpec, name: str, files: Mapping[str, bytes]) -> dict[str, Any]:
    """Process one input: its name and ``{file name: bytes}`` (primary file first) → a row.

    Returns
    -------
    dict
        ``file, ok, error, error_kind, exit_code, summary (dict), document (the per-file JSON
        text, or None), model_name, model_version, worker, elapsed_s, warnings``.
        Never raises for a bad input: any failure is an error row.
    """
    t0 = time.perf_counter()
    try:
        doc, text, warnings = _RUNNERS[spec.kind](spec, name, files)
    except CardioClarityError as exc:
        row = error_row(name, str(exc), getattr(exc, "kind", None) or type(exc).__name__,
                        exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - one file's bug must not end a batch of thousands
        row = error_row(name, f"{name}: internal error ({exception_summary(exc, 1000)}); this is "
                        "a bug in CardioClarity, please report it.", "internal", EX_SOFTWARE)
    else:
        models = pipeline_for(spec)
        row = {"file": name, "ok": True, "error": None, "error_kind": None, "exit_code": 0,
               "summary": summarise(spec.kind, doc), "document": text,
               "model_name": models["model_name"], "model_version": models["model_version"],
               "warnings": warnings}
    row["worker"] = worker_id()
    row["elapsed_s"] = round(time.perf_counter() - t0, 4)
    return row


def error_row(name: str, error: str, kind: str, exit_code: int) -> dict[str, Any]:
    """A row for an input that gave no result (same keys as a result row, no worker yet)."""
    return {"file": name, "ok": False, "error": error, "error_kind": kind,
            "exit_code": int(exit_code), "summary": {}, "document": None, "model_name": None,
            "model_version": None, "warnings": [], "worker": None, "elapsed_s": None}


def worker_id() -> str:
    """``host:pid`` of the process that ran an item (a replaced Dask worker gets a new one)."""
    return f"{socket.gethostname()}:{os.getpid()}"


# -------------------------------------------------------------------------------- pipelines
def _run_xray(spec: BatchSpec, name: str, files: Mapping[str, bytes]) -> tuple[dict, str, list]:
    from cardioclarity.xray.io import read_xray

    det = pipeline_for(spec)["detector"]
    fname, data = next(iter(files.items()))
    img = read_xray(data, name=fname)
    doc = det.detect(img).to_dict()
    doc["file"] = name  # as `cardioclarity xray detect` writes it for a folder
    return doc, json.dumps(doc, indent=2), list(img.warnings)


def _run_ecg(spec: BatchSpec, name: str, files: Mapping[str, bytes]) -> tuple[dict, str, list]:
    from cardioclarity.ecg.records.analyze import analyze_record
    from cardioclarity.ecg.records.io import read_record

    models = pipeline_for(spec)
    record = read_record(dict(files), lead=spec.lead, fs=spec.fs)
    adaptive = {"auto": "auto", "on": True, "off": False}[spec.adaptive]
    findings = analyze_record(record, detector=models["beats"], adaptive=adaptive,
                              rhythm_model=models["rhythm"], peak_method=spec.peaks)
    doc = findings.to_dict()
    return doc, json.dumps(doc, indent=1), []


_RUNNERS = {"xray": _run_xray, "ecg": _run_ecg}


# --------------------------------------------------------------------------------- summaries
def _dig(doc: Any, *keys: str | int) -> Any:
    """``doc[k1][k2]...`` or None where any step is missing or of another type."""
    for k in keys:
        try:
            doc = doc[k]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def summarise(kind: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The summary columns of one per-file JSON, each cast to its type or None."""
    if kind == "xray":
        box = doc.get("heart_box") if isinstance(doc.get("heart_box"), list) else []
        raw = dict(zip(("x_min", "y_min", "x_max", "y_max"), box, strict=False),
                   ctr=doc.get("ctr"), cardiomegaly=doc.get("cardiomegaly"),
                   quality_ok=_dig(doc, "quality", "ok"),
                   quality_status=_dig(doc, "quality", "status"),
                   quality_score=_dig(doc, "quality", "score"),
                   # space-separated, as in `xray detect`'s summary.csv
                   quality_reasons=" ".join(map(str, _dig(doc, "quality", "reasons") or [])) or None)
    else:
        hr = _dig(doc, "rhythm", "heart_rate_bpm", "mean")
        episodes = _dig(doc, "rhythm", "episodes")
        raw = {"record": doc.get("record"), "lead": doc.get("lead"),
               "duration_s": doc.get("duration_s"), "n_beats": doc.get("n_beats"),
               "flagged_beats": _dig(doc, "rhythm", "ectopic_burden", "n_flagged"),
               "irregular": _dig(doc, "rhythm", "irregular"),
               "irregularity_score": _dig(doc, "rhythm", "irregularity_score"),
               "mean_hr_bpm": None if hr is None else _cast(hr, float),
               "n_episodes": len(episodes) if isinstance(episodes, list) else None,
               "usable_fraction": _dig(doc, "quality", "usable_fraction")}
    return {col: _cast(raw.get(col), typ) for col, typ in SUMMARY_COLUMNS[kind].items()}


def _cast(value: Any, typ: type) -> Any:
    if value is None or isinstance(value, dict | list):
        return None
    if typ is bool:
        return value if isinstance(value, bool) else None
    try:
        return typ(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _str(v: Any) -> str | None:
    return None if v is None or isinstance(v, dict | list) else str(v)
