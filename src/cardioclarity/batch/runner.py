"""One batch run: list the inputs → skip what is done → run the rest on an engine → write.

:func:`run_batch` is what ``cardioclarity batch`` calls, and what a script calls. The client (this
process) is the only writer: each result is written to its per-file JSON, then journalled in the
ledger, as it arrives; ``results.parquet``, ``summary.csv`` and ``errors.csv`` are rebuilt from the
ledger at the end, also after an error or Ctrl-C, for every input of this run's INPUT.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardioclarity.batch.core import BatchSpec, spec_key
from cardioclarity.batch.engines import make_engine
from cardioclarity.batch.ledger import Ledger
from cardioclarity.batch.outputs import (
    atomic_write,
    errors_csv,
    json_relpath,
    summary_csv,
    unique_stems,
    write_results,
)
from cardioclarity.batch.sources import Item, list_items
from cardioclarity.errors import EX_PARTIAL

__all__ = ["BatchReport", "run_batch"]


@dataclass
class BatchReport:
    """What a run did. ``exit_code`` is 0 when every input has a result, else 1 (some failed)."""

    kind: str
    out: Path
    engine: str
    n_inputs: int
    n_skipped: int
    n_processed: int
    n_ok: int
    n_failed: int
    elapsed_s: float
    results_parquet: Path | None

    @property
    def exit_code(self) -> int:
        return EX_PARTIAL if self.n_failed else 0

    def summary(self) -> str:
        rate = self.n_processed / self.elapsed_s if self.elapsed_s > 0 else 0.0
        unit = "images" if self.kind == "xray" else "records"
        line = (f"{self.n_ok}/{self.n_inputs} {unit} with a result, {self.n_failed} failed "
                f"(see {self.out / 'errors.csv'}); this run processed {self.n_processed} "
                f"({rate:.3g}/s) and skipped {self.n_skipped} already done; {self.engine}")
        where = self.results_parquet or self.out / "summary.csv"
        return f"{line} -> {where}"


def run_batch(spec: BatchSpec, source: str, out: str | Path, *, engine: str = "local",
              force: bool = False, fingerprint: str = "stat", show_progress: bool | None = None,
              log=None, **engine_options: Any) -> BatchReport:
    """Process every input of ``source`` into ``out``; resume where a previous run stopped.

    Parameters
    ----------
    spec : BatchSpec
        Pipeline and its settings.
    source : str
        INPUT: folder, glob, manifest or fsspec URL (:func:`~cardioclarity.batch.sources.list_items`).
    out : str or Path
        Output folder (created); holds the outputs and the resume state ``.batch/``.
    engine : {"local", "dask"}
        Who runs the items (:func:`~cardioclarity.batch.engines.make_engine`).
    force : bool
        Recompute every input, even those with a complete result.
    fingerprint : {"stat", "hash"}
        How an unchanged input is recognised.
    show_progress : bool, optional
        Progress bar on stderr (None: when stderr is a terminal).
    log : callable, optional
        Receives one-line messages (warnings, errors); default: stderr.
    **engine_options
        Passed to the engine (``address``, ``workers``, ``threads_per_worker``...).

    Returns
    -------
    BatchReport

    Raises
    ------
    CardioClarityError
        INPUT missing or empty, a bad model, an engine that cannot start, OUT locked by another
        run. A bad *input file* never raises: it is an error row.
    """
    from cardioclarity.reporting import progress

    log = log or (lambda m: print(m, file=sys.stderr))
    t0 = time.perf_counter()
    out = Path(out)
    items = list_items(source, spec.kind, fingerprint=fingerprint)
    paths = {n: json_relpath(spec.kind, s) for n, s in unique_stems([i.name for i in items]).items()}
    key = spec_key(spec)
    out.mkdir(parents=True, exist_ok=True)
    with Ledger(out) as ledger:
        rows = ledger.load()
        todo = [it for it in items if force or not (
            ledger.is_done(rows.get(it.name), it.fingerprint, key)
            and rows[it.name].get("json_path") in (None, paths[it.name]))]
        n_done, described = 0, "nothing to do"
        try:
            if todo:
                with make_engine(engine, **engine_options) as eng:
                    described = eng.describe()
                    run_id = uuid.uuid4().hex
                    stream = progress(eng.map(spec, todo), desc=f"batch {spec.kind}",
                                      total=len(todo), unit="item", disable=_disable(show_progress))
                    for row in _recorded(stream, {it.name: it for it in todo}, paths, out, key,
                                         run_id, log):
                        ledger.append([row])
                        rows[row["file"]] = row
                        n_done += 1
        finally:
            final = [rows[it.name] for it in items if it.name in rows]
            parquet = _write_tables(out, spec.kind, final, log)
    n_ok = sum(1 for r in final if r.get("ok"))
    return BatchReport(kind=spec.kind, out=out, engine=described, n_inputs=len(items),
                       n_skipped=len(items) - len(todo), n_processed=n_done, n_ok=n_ok,
                       n_failed=len(items) - n_ok, elapsed_s=time.perf_counter() - t0,
                       results_parquet=parquet)


def _disable(show: bool | None) -> bool | None:
    return None if show is None else not show


def _recorded(stream: Iterator[dict], items: dict[str, Item], paths: dict[str, str], out: Path,
              key: str, run_id: str, log) -> Iterator[dict]:
    """Each finished row, its JSON written (atomically) and its ledger fields added."""
    for row in stream:
        item = items[row["file"]]
        doc = row.pop("document", None)
        rel = paths[item.name]
        if row["ok"]:
            atomic_write(out / rel, doc, fsync=False)
        else:
            (out / rel).unlink(missing_ok=True)  # never leave an older result beside an error
            log(f"cardioclarity: error: {row['error']}")
        for w in row.pop("warnings", None) or []:
            log(f"cardioclarity: warning: {item.name}: {w}")
        row.update(json_path=rel if row["ok"] else None, size=item.size,
                   fingerprint=item.fingerprint, spec=key, run_id=run_id,
                   finished_utc=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
        yield row


def _write_tables(out: Path, kind: str, rows: list[dict], log) -> Path | None:
    """results.parquet (when pyarrow is installed), summary.csv and errors.csv, atomically."""
    atomic_write(out / "summary.csv", summary_csv(kind, rows))
    atomic_write(out / "errors.csv", errors_csv(rows))
    try:
        import pyarrow  # noqa: F401 - only to know whether Parquet can be written
    except ImportError:
        log("cardioclarity: warning: results.parquet not written: pyarrow is not installed "
            "(pip install 'cardioclarity[dask]'); summary.csv and the JSON files are complete.")
        return None
    path = out / "results.parquet"
    write_results(path, kind, rows, lambda rel: (out / rel).read_text(encoding="utf-8"))
    return path
