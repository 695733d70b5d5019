"""A batch run on the local engine: outputs, error rows, resume, --force, fsspec URLs."""

from __future__ import annotations

import json
import os
import sys
import uuid

import fsspec
import pyarrow.parquet as pq
import pytest

from cardioclarity.batch.core import BatchSpec
from cardioclarity.batch.runner import run_batch
from cardioclarity.cli import main

from .conftest import film_png


def _table(out):
    return {r["file"]: r for r in pq.read_table(out / "results.parquet").to_pylist()}


def test_a_folder_with_corrupt_files(films, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", "xray", str(films), "--out", str(out)]) == 1  # some failed
    res = _table(out)
    assert len(res) == 8 and sum(r["ok"] for r in res.values()) == 6
    assert res["text.png"]["error_kind"] == "UnsupportedFormatError"
    assert res["truncated.png"]["exit_code"] == 65 and res["truncated.png"]["result_json"] is None
    # The per-file JSON where `xray detect` puts it, equal to the row's result_json.
    doc = json.loads((out / "sub__f000.json").read_text())
    assert doc == json.loads(res["sub/f000.png"]["result_json"]) and doc["file"] == "sub/f000.png"
    assert (out / "errors.csv").read_text().count("\n") == 3
    assert "6/8 images with a result, 2 failed" in capsys.readouterr().out
    assert not [p for p in out.rglob("*.tmp")]


def test_a_rerun_skips_done_inputs_and_redoes_changed_ones(films, tmp_path):
    out = tmp_path / "out"
    first = run_batch(BatchSpec("xray"), str(films), out, show_progress=False, log=lambda m: None)
    assert (first.n_processed, first.n_skipped, first.n_failed) == (8, 0, 2)
    run1 = {r["file"]: r["run_id"] for r in _table(out).values()}
    again = run_batch(BatchSpec("xray"), str(films), out, show_progress=False, log=lambda m: None)
    assert (again.n_processed, again.n_skipped) == (0, 8)
    # A repaired file and a touched one are redone; the rest keep their first run's rows.
    (films / "text.png").write_bytes(film_png(42))
    st = os.stat(films / "f003.png")
    os.utime(films / "f003.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = run_batch(BatchSpec("xray"), str(films), out, show_progress=False, log=lambda m: None)
    assert (third.n_processed, third.n_skipped, third.n_failed) == (2, 6, 1)
    res = _table(out)
    assert res["text.png"]["ok"] and (out / "text.json").exists()
    changed = {f for f, r in res.items() if r["run_id"] != run1[f]}
    assert changed == {"text.png", "f003.png"} and len(res) == 8
    forced = run_batch(BatchSpec("xray"), str(films), out, force=True, show_progress=False,
                       log=lambda m: None)
    assert forced.n_processed == 8
    other = run_batch(BatchSpec("xray", ctr_threshold=0.6), str(films), out, show_progress=False,
                      log=lambda m: None)
    assert other.n_processed == 8  # other settings: nothing is reused


def test_a_file_that_turns_bad_loses_its_old_result(films, tmp_path):
    out = tmp_path / "out"
    run_batch(BatchSpec("xray"), str(films / "sub"), out, show_progress=False, log=lambda m: None)
    (films / "sub" / "f001.png").write_bytes(b"garbage now")
    run_batch(BatchSpec("xray"), str(films / "sub"), out, show_progress=False, log=lambda m: None)
    assert not (out / "f001.json").exists() and not _table(out)["f001.png"]["ok"]


def test_ecg_records_and_their_error(records, tmp_path):
    out = tmp_path / "out"
    rep = run_batch(BatchSpec("ecg", fs=360), str(records), out, show_progress=False,
                    log=lambda m: None)
    assert (rep.n_inputs, rep.n_ok, rep.n_failed) == (3, 2, 1)
    res = _table(out)
    assert res["mitdb219_5m.hea"]["record"] == "mitdb219_5m" and res["strip.csv"]["n_beats"] > 15
    assert (out / "mitdb219_5m" / "findings.json").exists() and (out / "strip" / "findings.json").exists()
    assert res["broken.hea"]["exit_code"] == 65 and not res["broken.hea"]["ok"]


def test_memory_url_input(tmp_path):
    root = f"memory://cc-run-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    for i in range(2):
        fs.pipe(f"{root}/f{i}.png", film_png(i))
    rep = run_batch(BatchSpec("xray"), root, tmp_path / "out", show_progress=False,
                    log=lambda m: None)
    assert rep.n_ok == 2 and (tmp_path / "out" / "f1.json").exists()
    fs.rm(root, recursive=True)


def test_usage_errors_exit_with_a_message(tmp_path, capsys):
    assert main(["batch", "xray", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 66
    assert "does not exist" in capsys.readouterr().err
    assert main(["batch", "xray", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--workers", "2"]) == 65
    assert "--engine dask" in capsys.readouterr().err
    assert main(["batch"]) == 2


def test_without_pyarrow_the_csvs_and_json_are_still_written(films, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now fails
    msgs = []
    rep = run_batch(BatchSpec("xray"), str(films / "sub"), tmp_path / "o", show_progress=False,
                    log=msgs.append)
    assert rep.results_parquet is None and rep.n_ok == 2
    assert (tmp_path / "o" / "summary.csv").exists() and any("cardioclarity[dask]" in m for m in msgs)


def test_a_model_that_does_not_exist_fails_once_before_any_item(films, tmp_path):
    from cardioclarity.errors import CardioClarityError

    with pytest.raises(CardioClarityError):
        run_batch(BatchSpec("xray", model="no-such-model"), str(films), tmp_path / "o",
                  show_progress=False, log=lambda m: None)


def test_ctrl_c_keeps_what_is_done_and_the_rerun_does_the_rest(films, tmp_path, monkeypatch):
    from cardioclarity.batch.engines import local

    real_map = local.LocalEngine.map

    def interrupted(self, spec, items):
        for i, row in enumerate(real_map(self, spec, items)):
            if i == 3:
                raise KeyboardInterrupt
            yield row

    monkeypatch.setattr(local.LocalEngine, "map", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_batch(BatchSpec("xray", model="box"), str(films), out, show_progress=False,
                  log=lambda m: None)
    assert len(_table(out)) == 3  # the tables hold what finished, nothing half-written
    monkeypatch.undo()
    rep = run_batch(BatchSpec("xray", model="box"), str(films), out, show_progress=False,
                    log=lambda m: None)
    assert (rep.n_skipped, rep.n_processed) == (3, 5) and len(_table(out)) == 8
