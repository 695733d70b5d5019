"""Atomic writes, output names, the results.parquet schema, summary.csv and errors.csv."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from cardioclarity import DISCLAIMER
from cardioclarity.batch.core import SUMMARY_COLUMNS
from cardioclarity.batch.outputs import (
    SCHEMA_VERSION,
    atomic_write,
    errors_csv,
    json_relpath,
    results_schema,
    summary_csv,
    unique_stems,
    write_results,
)


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "d" / "x.csv"
    atomic_write(p, "old")
    import os

    def fail(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(p, "new")
    monkeypatch.undo()
    assert p.read_text() == "old" and [f.name for f in p.parent.iterdir()] == ["x.csv"]
    atomic_write(p, b"new", fsync=False)
    assert p.read_text() == "new"


def test_unique_stems_and_json_paths_follow_the_cli():
    stems = unique_stems(["a.png", "a.dcm", "sub/b.png", "c"])
    assert stems == {"a.png": "a_png", "a.dcm": "a_dcm", "sub/b.png": "sub__b", "c": "c"}
    assert json_relpath("xray", "sub__b") == "sub__b.json"
    assert json_relpath("ecg", "100") == "100/findings.json"


@pytest.mark.parametrize("kind", ["xray", "ecg"])
def test_schema_columns_and_metadata(kind):
    schema = results_schema(kind)
    names = schema.names
    assert names[:5] == ["file", "ok", "error", "error_kind", "exit_code"]
    assert names[5:5 + len(SUMMARY_COLUMNS[kind])] == list(SUMMARY_COLUMNS[kind])
    assert {"result_json", "model_name", "model_version", "worker", "elapsed_s", "fingerprint",
            "run_id", "finished_utc"} <= set(names)
    meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    assert meta == {"schema": SCHEMA_VERSION, "kind": kind, "disclaimer": DISCLAIMER}


def _rows(n):
    rows = [{"file": f"f{i}.png", "ok": True, "exit_code": 0, "summary": {"ctr": 0.4 + i / 100,
             "cardiomegaly": False, "x_min": 1.0}, "json_path": f"f{i}.json", "worker": "h:1",
             "elapsed_s": 0.1, "size": 10, "fingerprint": "fp", "run_id": "r",
             "finished_utc": "2026-01-01T00:00:00.000+00:00"} for i in range(n)]
    rows.append({"file": "bad.png", "ok": False, "error": "bad.png: not a PNG", "exit_code": 65,
                 "error_kind": "UnsupportedFormatError", "summary": {}, "json_path": None})
    return rows


def test_parquet_round_trip_in_row_groups(tmp_path):
    rows = _rows(1100)  # more than two row groups
    docs = {r["json_path"]: json.dumps({"ctr": r["summary"]["ctr"]}) for r in rows if r["ok"]}
    n = write_results(tmp_path / "results.parquet", "xray", rows, docs.__getitem__)
    t = pq.read_table(tmp_path / "results.parquet")
    assert n == t.num_rows == 1101 and t.schema.equals(results_schema("xray"), check_metadata=True)
    back = t.to_pylist()
    assert back[5]["ctr"] == pytest.approx(0.45) and json.loads(back[5]["result_json"]) == {"ctr": 0.45}
    assert back[-1]["ok"] is False and back[-1]["result_json"] is None and back[-1]["ctr"] is None
    assert [f.name for f in tmp_path.iterdir()] == ["results.parquet"]


def test_an_empty_run_still_writes_a_valid_table(tmp_path):
    assert write_results(tmp_path / "r.parquet", "ecg", [], lambda p: None) == 0
    assert pq.read_table(tmp_path / "r.parquet").num_rows == 0


def test_summary_and_errors_csv():
    rows = _rows(2)
    summary = list(csv.DictReader(io.StringIO(summary_csv("xray", rows))))
    assert [r["file"] for r in summary] == ["f0.png", "f1.png", "bad.png"]
    assert summary[0]["ctr"] == "0.4" and summary[0]["ok"] == "1" and summary[0]["y_min"] == ""
    assert summary[2]["ok"] == "0" and summary[2]["error"] == "bad.png: not a PNG"
    errors = list(csv.reader(io.StringIO(errors_csv(rows))))
    assert errors == [["file", "error_kind", "exit_code", "error"],
                      ["bad.png", "UnsupportedFormatError", "65", "bad.png: not a PNG"]]
    assert errors_csv(rows[:2]) == "file,error_kind,exit_code,error\n"
