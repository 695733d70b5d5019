"""What a batch writes, every file atomically (a temp file in the same folder, then a rename):

* the per-file JSON, where the single-file CLI puts it: ``OUT/<stem>.json`` (xray) or
  ``OUT/<stem>/findings.json`` (ecg), written as each result arrives;
* ``OUT/results.parquet``, one row per input, schema :func:`results_schema`;
* ``OUT/summary.csv`` (``file``, the summary columns, ``ok``, ``error``) and ``OUT/errors.csv``
  (``file, error_kind, exit_code, error``; only a header when nothing failed).

A reader never sees a half-written file: an interrupted job leaves the previous complete version
(or none). Writers of CSV return ``str``; :func:`write_results` streams Parquet in row groups so
a million rows never sit in memory as one table.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cardioclarity import DISCLAIMER
from cardioclarity.batch.core import SUMMARY_COLUMNS

__all__ = ["COMMON_COLUMNS", "SCHEMA_VERSION", "atomic_write", "errors_csv", "json_relpath",
           "results_schema", "summary_csv", "unique_stems", "write_results"]

SCHEMA_VERSION = "cardioclarity-batch-results/1"
#: Columns of every ``results.parquet`` (the kind's summary columns go after ``exit_code``).
COMMON_COLUMNS = ("file", "ok", "error", "error_kind", "exit_code")
_TAIL_COLUMNS = ("result_json", "model_name", "model_version", "worker", "elapsed_s", "size",
                 "fingerprint", "json_path", "run_id", "finished_utc")
_ROW_GROUP = 512


def atomic_write(path: str | Path, data: str | bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a part
    (temp file beside it, flush [+ fsync], ``os.replace``). Without ``fsync`` a killed process
    still leaves a whole file; only a power cut could lose it (the ledger then redoes it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def unique_stems(names: Sequence[str]) -> dict[str, str]:
    """Output stem per input name: the path without extension, ``/`` → ``__``; names whose stems
    collide (``a.dcm``, ``a.png``) keep their extension (``a_dcm``, ``a_png``), as the CLI does."""
    by_stem: dict[str, list[str]] = {}
    for n in names:
        by_stem.setdefault(posixpath.splitext(n)[0].replace("/", "__"), []).append(n)
    out = {}
    for stem, group in by_stem.items():
        for n in group:
            ext = posixpath.splitext(n)[1].lstrip(".").lower() or "noext"
            out[n] = stem if len(group) == 1 else f"{stem}_{ext}"
    return out


def json_relpath(kind: str, stem: str) -> str:
    """Where the per-file JSON of an input goes, relative to OUT (the single-file CLI's place)."""
    return f"{stem}.json" if kind == "xray" else f"{stem}/findings.json"


def results_schema(kind: str):
    """The ``results.parquet`` schema of ``kind`` (a ``pyarrow.Schema``; needs ``pyarrow``).

    Columns, in order:

    - ``file`` (string): the input's name (path relative to INPUT, or the manifest entry);
    - ``ok`` (bool), ``error`` (string, null when ok), ``error_kind`` (the error class or kind:
      ``UnsupportedFormatError``, ``internal``, ``worker-lost``...), ``exit_code`` (int16: 0, 65
      bad data, 66 missing input, 70 internal);
    - the summary columns of the kind (null when absent or the input failed):
      xray ``x_min, y_min, x_max, y_max, ctr`` (float64), ``cardiomegaly, quality_ok`` (bool),
      ``quality_status`` (string: measured, caution, withheld, refused), ``quality_score``
      (float64), ``quality_reasons`` (string, space-separated);
      ecg ``record, lead`` (string), ``duration_s`` (float64), ``n_beats, flagged_beats``
      (int64), ``irregular`` (bool), ``irregularity_score, mean_hr_bpm`` (float64),
      ``n_episodes`` (int64), ``usable_fraction`` (float64);
    - ``result_json`` (string): the full per-file JSON, exactly the file's text;
    - ``model_name``, ``model_version`` (string; ecg: beat + rhythm model joined by ``+``),
      ``worker`` (``host:pid``), ``elapsed_s`` (float64, processing time of the item);
    - ``size`` (int64 bytes), ``fingerprint`` (what a rerun compares), ``json_path`` (relative
      to OUT), ``run_id`` (the run that produced the row), ``finished_utc`` (timestamp, UTC).

    The schema metadata holds ``schema`` (:data:`SCHEMA_VERSION`), ``kind`` and ``disclaimer``.
    """
    import pyarrow as pa

    types = {float: pa.float64(), int: pa.int64(), bool: pa.bool_(), str: pa.string()}
    fields = [pa.field("file", pa.string(), nullable=False), pa.field("ok", pa.bool_(), False),
              pa.field("error", pa.string()), pa.field("error_kind", pa.string()),
              pa.field("exit_code", pa.int16())]
    fields += [pa.field(c, types[t]) for c, t in SUMMARY_COLUMNS[kind].items()]
    fields += [pa.field("result_json", pa.string()), pa.field("model_name", pa.string()),
               pa.field("model_version", pa.string()), pa.field("worker", pa.string()),
               pa.field("elapsed_s", pa.float64()), pa.field("size", pa.int64()),
               pa.field("fingerprint", pa.string()), pa.field("json_path", pa.string()),
               pa.field("run_id", pa.string()),
               pa.field("finished_utc", pa.timestamp("ms", tz="UTC"))]
    return pa.schema(fields, metadata={"schema": SCHEMA_VERSION, "kind": kind,
                                       "disclaimer": DISCLAIMER})


def write_results(path: str | Path, kind: str, rows: Iterable[Mapping[str, Any]],
                  read_json: Callable[[str], str | None]) -> int:
    """Write ``results.parquet`` atomically from ledger rows (``read_json(json_path)`` gives
    each row's document); returns the number of rows."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = results_schema(kind)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    n = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            chunk: list[dict] = []
            for r in rows:
                flat = {c: r.get(c) for c in (*COMMON_COLUMNS, *_TAIL_COLUMNS)}
                flat.update({c: (r.get("summary") or {}).get(c) for c in SUMMARY_COLUMNS[kind]})
                flat["result_json"] = read_json(r["json_path"]) if r.get("json_path") else None
                ts = r.get("finished_utc")
                flat["finished_utc"] = dt.datetime.fromisoformat(ts) if ts else None
                chunk.append(flat)
                if len(chunk) >= _ROW_GROUP:
                    writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                    n += len(chunk)
                    chunk = []
            if chunk or not n:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                n += len(chunk)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def summary_csv(kind: str, rows: Iterable[Mapping[str, Any]]) -> str:
    """``summary.csv``: ``file``, the kind's summary columns, ``ok``, ``error``; one row per
    input (empty cells where a value is absent)."""
    cols = ["file", *SUMMARY_COLUMNS[kind], "ok", "error"]
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    wr.writeheader()
    for r in rows:
        values = {"file": r["file"], **(r.get("summary") or {}), "ok": int(bool(r.get("ok"))),
                  "error": r.get("error")}
        wr.writerow({c: "" if values.get(c) is None else values[c] for c in cols})
    return buf.getvalue()


def errors_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """``errors.csv``: ``file, error_kind, exit_code, error`` for every failed input."""
    buf = io.StringIO()
    wr = csv.writer(buf, lineterminator="\n")
    wr.writerow(["file", "error_kind", "exit_code", "error"])
    wr.writerows((r["file"], r.get("error_kind"), r.get("exit_code"), r.get("error"))
                 for r in rows if not r.get("ok"))
    return buf.getvalue()
