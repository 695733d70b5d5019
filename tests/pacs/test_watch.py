"""The watch checkpoint (atomic, restart-safe) and a watch loop that outlives a dead PACS."""

from __future__ import annotations

import dataclasses
import json
import socket

import pytest

from cardioclarity.errors import InvalidInputError
from cardioclarity.pacs.client import PacsClient, PacsConfig
from cardioclarity.pacs.watch import Checkpoint, watch


def test_checkpoint_survives_a_restart(tmp_path):
    path = tmp_path / "cp.json"
    cp = Checkpoint(path)
    assert cp.wants("1.2", 3)
    cp.mark_failed("1.2", "no chest film")
    cp.mark_done("1.3", stored=3, films=1)
    again = Checkpoint(path)  # a restarted watcher
    assert not again.wants("1.3", 3) and again.wants("1.2", 3)
    assert again.failed["1.2"]["attempts"] == 1 and again.done["1.3"]["stored"] == 3
    again.mark_failed("1.2", "x")
    again.mark_failed("1.2", "x")
    assert not Checkpoint(path).wants("1.2", 3)  # gave up after three attempts
    assert not list(tmp_path.glob(".*part"))  # no temporary file left behind
    json.loads(path.read_text())


def test_checkpoint_that_is_not_one_is_refused(tmp_path):
    path = tmp_path / "cp.json"
    path.write_text('{"some": "other file"}')
    with pytest.raises(InvalidInputError, match="not a pacs-watch checkpoint"):
        Checkpoint(path)


def test_watch_keeps_polling_when_the_pacs_is_down(tmp_path, monkeypatch):
    for k in ("CARDIOCLARITY_PACS_USER", "CARDIOCLARITY_PACS_PASSWORD", "CARDIOCLARITY_PACS_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PacsClient(dataclasses.replace(
        PacsConfig.from_env(f"http://127.0.0.1:{port}/dicom-web", timeout=5), attempts=1))
    logs, sleeps = [], []
    n = watch(client, None, Checkpoint(tmp_path / "cp.json"), interval=7, max_polls=3,
              log=logs.append, sleep=sleeps.append)
    assert n == 0 and len(logs) == 3 and all("poll failed" in m and "unreachable" in m for m in logs)
    assert sleeps == [7, 7]
