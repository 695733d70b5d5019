"""The Dask engine on loopback: a LocalCluster, a real scheduler + 2 worker processes joined with
--address, a worker killed mid-run, the client killed then rerun, Dask not installed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import fsspec
import psutil
import pyarrow.parquet as pq
import pytest
from conftest import REPO

from cardioclarity.batch.core import BatchSpec, run_item
from cardioclarity.batch.engines import EngineUnavailableError, make_engine
from cardioclarity.batch.ledger import Ledger
from cardioclarity.batch.runner import run_batch
from cardioclarity.batch.sources import list_items, read_item
from cardioclarity.cli import main

from ..conftest import film_png, write_films

pytest.importorskip("distributed")
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"), CARDIOCLARITY_PROGRESS="0")


def _listeners(pids):
    """(pid, ip) of every listening TCP socket of ``pids`` and their children."""
    procs = [psutil.Process(p) for p in pids]
    procs += [c for p in list(procs) for c in p.children(recursive=True)]
    return [(p.pid, c.laddr.ip) for p in procs for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN]


def _results(out):
    return pq.read_table(out / "results.parquet").to_pylist()


def _ledger_lines(out):
    p = out / ".batch" / "ledger.jsonl"
    return p.read_bytes().count(b"\n") if p.exists() else 0


def _wait_for(cond, timeout=120.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``dask scheduler`` + 2 ``dask worker`` processes on 127.0.0.1, stopped by their PIDs."""
    d = tmp_path_factory.mktemp("cluster")
    sched_file = d / "scheduler.json"
    py = [sys.executable, "-m"]
    procs = [subprocess.Popen([*py, "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(sched_file)],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(lambda: sched_file.exists() and sched_file.stat().st_size, 60)
        time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen(
                [*py, "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                 "--nthreads", "1", "--dashboard-address", "127.0.0.1:0", "--name", f"w{i}", "--death-timeout", "60"],
                env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=60) as c:
            c.wait_for_workers(2, timeout=90)
        yield {"address": address, "pids": [p.pid for p in procs]}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_local_cluster_binds_loopback_and_gives_the_local_rows(tmp_path):
    write_films(tmp_path / "in", 4, corrupt=("text.png",))
    root = f"memory://cc-dask-{uuid.uuid4().hex}"  # in the client only: its bytes are sent along
    fsspec.filesystem("memory").pipe(f"{root}/m.png", film_png(7))
    items = list_items(str(tmp_path / "in"), "xray") + list_items(root, "xray")
    spec = BatchSpec("xray", model="box")  # the small model: this test is about the engine
    with make_engine("dask", workers=1) as eng:
        assert "1 worker(s)" in eng.describe()
        listening = _listeners([os.getpid()])
        assert listening and {ip for _, ip in listening} == {"127.0.0.1"}, listening
        rows = {r["file"]: r for r in eng.map(spec, items)}
    assert sorted(rows) == sorted(i.name for i in items)
    local = {i.name: run_item(spec, i.name, read_item(i)) for i in items}
    for name, row in rows.items():
        assert row["document"] == local[name]["document"] and row["ok"] == local[name]["ok"]
        assert row["worker"].split(":")[1] != str(os.getpid())  # ran in a worker process
    assert rows["text.png"]["exit_code"] == 65 and rows["m.png"]["ok"]
    fsspec.filesystem("memory").rm(root, recursive=True)


def test_join_a_running_scheduler_with_address(cluster, tmp_path, capsys):
    write_films(tmp_path / "in", 6, corrupt=("text.png",))
    assert {ip for _, ip in _listeners(cluster["pids"])} == {"127.0.0.1"}
    out = tmp_path / "out"
    code = main(["batch", "xray", str(tmp_path / "in"), "--out", str(out), "--engine", "dask",
                 "--address", cluster["address"], "--model", "box"])
    assert code == 1 and f"scheduler {cluster['address']}: 2 worker(s)" in capsys.readouterr().out
    res = _results(out)
    assert len(res) == 7 and sum(r["ok"] for r in res) == 6
    ok = next(r for r in res if r["file"] == "f002.png")
    assert json.loads(ok["result_json"]) == json.loads((out / "f002.json").read_text())


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, tmp_path):
    from distributed import Client

    write_films(tmp_path / "in", 24)
    out = tmp_path / "out"
    killed = {}

    def kill_a_busy_worker():
        with Client(cluster["address"], timeout=30) as c:
            _wait_for(lambda: _ledger_lines(out) >= 3)
            pids = c.run(os.getpid)
            busy = next(w for w, keys in c.processing().items() if keys)
            killed["pid"], killed["tasks"] = pids[busy], c.processing()[busy]
            os.kill(pids[busy], signal.SIGKILL)

    t = threading.Thread(target=kill_a_busy_worker)
    t.start()
    rep = run_batch(BatchSpec("xray"), str(tmp_path / "in"), out, engine="dask",
                    address=cluster["address"], show_progress=False, log=lambda m: None)
    t.join(30)
    assert killed["tasks"], "the killed worker had no task in flight"
    res = _results(out)
    names = [r["file"] for r in res]
    assert len(names) == len(set(names)) == 24 and rep.n_failed == 0  # its tasks were retried
    assert all(r["ok"] for r in res)
    with Client(cluster["address"], timeout=30) as c:  # the nanny replaced it
        c.wait_for_workers(2, timeout=90)
        assert killed["pid"] not in c.run(os.getpid).values()


def test_a_killed_client_resumes_only_unfinished_items(cluster, tmp_path):
    write_films(tmp_path / "in", 30)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cardioclarity", "batch", "xray", str(tmp_path / "in"),
           "--out", str(out), "--engine", "dask", "--address", cluster["address"]]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _ledger_lines(out) >= 4)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert not (out / "results.parquet").exists()  # never a half-written table
    done = Ledger(out).load()
    assert 4 <= len(done) < 30, len(done)
    rep = run_batch(BatchSpec("xray"), str(tmp_path / "in"), out, engine="dask",
                    address=cluster["address"], show_progress=False, log=lambda m: None)
    assert (rep.n_skipped, rep.n_processed) == (len(done), 30 - len(done))
    res = {r["file"]: r for r in _results(out)}
    assert len(res) == 30 and all(r["ok"] for r in res.values())
    assert all(res[f]["run_id"] == e["run_id"] for f, e in done.items())  # kept, not redone
    assert len({r["run_id"] for r in res.values()}) == 2
    assert not list(Path(out).rglob("*.tmp"))


def test_a_bad_model_fails_once_with_its_own_error(cluster, tmp_path):
    from cardioclarity.errors import InputFileNotFoundError

    write_films(tmp_path / "in", 1)
    with pytest.raises(InputFileNotFoundError, match="no-such-model"):
        run_batch(BatchSpec("xray", model="no-such-model"), str(tmp_path / "in"), tmp_path / "o",
                  engine="dask", address=cluster["address"], show_progress=False)


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(EngineUnavailableError, match="cannot start the Dask engine"):
        with make_engine("dask", address="tcp://127.0.0.1:9", connect_timeout=1):
            pass


def test_without_dask_the_message_names_the_extra(monkeypatch, tmp_path, capsys):
    for mod in [m for m in sys.modules if m.startswith(("distributed", "cardioclarity.batch.engines.dask"))]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    with pytest.raises(EngineUnavailableError, match=r"cardioclarity\[dask\]"):
        make_engine("dask")
    write_films(tmp_path / "in", 1)
    code = main(["batch", "xray", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                 "--engine", "dask"])
    assert code == 69 and "pip install 'cardioclarity[dask]'" in capsys.readouterr().err
