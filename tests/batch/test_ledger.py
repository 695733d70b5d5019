"""The resume journal: torn lines, what counts as done, one writer at a time."""

from __future__ import annotations

import pytest

from cardioclarity.batch.ledger import Ledger
from cardioclarity.errors import InvalidInputError


def _row(name, ok=True, code=0, fp="fp1", spec="s1", json_path=None):
    return {"file": name, "ok": ok, "exit_code": code, "fingerprint": fp, "spec": spec,
            "json_path": json_path if json_path is not None else (f"{name}.json" if ok else None)}


def test_a_torn_last_line_is_skipped_and_repaired(tmp_path):
    with Ledger(tmp_path) as led:
        led.append([_row("a"), _row("b")])
    with open(tmp_path / ".batch" / "ledger.jsonl", "a") as fh:
        fh.write('{"file": "c", "ok": tr')  # what a kill -9 mid-write leaves
    assert sorted(Ledger(tmp_path).load()) == ["a", "b"]
    with Ledger(tmp_path) as led:  # the next run starts on a fresh line
        led.append([_row("d")])
    assert sorted(Ledger(tmp_path).load()) == ["a", "b", "d"]


def test_the_last_entry_of_a_name_wins(tmp_path):
    with Ledger(tmp_path) as led:
        led.append([_row("a", ok=False, code=70), _row("a")])
    assert Ledger(tmp_path).load()["a"]["ok"] is True


def test_what_counts_as_done(tmp_path):
    led = Ledger(tmp_path)
    (tmp_path / "a.json").write_text("{}")
    assert led.is_done(_row("a"), "fp1", "s1")
    assert not led.is_done(_row("a"), "fp2", "s1")  # the file changed
    assert not led.is_done(_row("a"), "fp1", "s2")  # other settings (model, threshold)
    assert not led.is_done(_row("b"), "fp1", "s1")  # its JSON file is gone
    assert led.is_done(_row("c", ok=False, code=65), "fp1", "s1")  # bad data fails again
    assert led.is_done(_row("c", ok=False, code=66), "fp1", "s1")
    assert not led.is_done(_row("c", ok=False, code=70), "fp1", "s1")  # a bug / a lost worker
    assert not led.is_done(None, "fp1", "s1")


def test_one_writer_at_a_time(tmp_path):
    with Ledger(tmp_path):
        with pytest.raises(InvalidInputError, match="another batch"):
            Ledger(tmp_path).__enter__()
    with Ledger(tmp_path) as led:  # released on exit
        led.append([_row("a")])
