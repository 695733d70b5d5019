"""Resume state: an append-only journal of finished items, ``OUT/.batch/ledger.jsonl``.

One JSON line per finished item (its row without the per-file JSON document, which is already in
its own file), appended and flushed by the client as each result arrives. The journal is the
truth a rerun starts from; ``results.parquet`` and the CSVs are rebuilt from it. Why a journal:
a ``kill -9`` of the client can at worst tear the line being written, which :meth:`Ledger.load`
skips, so at most the in-flight items are lost and nothing is corrupt; no database to install.

An item is *done* (skipped by a rerun) when the journal's last line for its name has the same
fingerprint and the same result-changing settings, and either it succeeded and its JSON file is
still there, or it failed on its data (exit 65/66: the same bytes fail the same way). Internal
errors and lost workers are retried by the next run. A lock (``flock``) keeps two clients from
writing one OUT at once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cardioclarity.errors import EX_DATAERR, EX_NOINPUT, InvalidInputError

__all__ = ["FINAL_ERRORS", "Ledger"]

#: Exit codes of errors that a rerun on the same bytes would repeat: not retried.
FINAL_ERRORS = frozenset({EX_DATAERR, EX_NOINPUT})
STATE_DIR = ".batch"


class Ledger:
    """The journal of one output folder.

    Parameters
    ----------
    out : path
        The batch's output folder (created if needed).
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.path = self.out / STATE_DIR / "ledger.jsonl"
        self._fh = None
        self._lock = None

    # -------------------------------------------------------------------------------- reading
    def load(self) -> dict[str, dict[str, Any]]:
        """The last journal entry of every item name (a torn or garbled line is skipped)."""
        entries: dict[str, dict[str, Any]] = {}
        if not self.path.exists():
            return entries
        with open(self.path, "rb") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:  # the line a killed client was writing
                    continue
                if isinstance(row, dict) and isinstance(row.get("file"), str):
                    entries[row["file"]] = row
        return entries

    def is_done(self, entry: Mapping[str, Any] | None, fingerprint: str, key: str) -> bool:
        """Whether ``entry`` (from :meth:`load`) is a complete result for an input that now has
        ``fingerprint`` under settings ``key`` (see the module docstring)."""
        if not entry or entry.get("fingerprint") != fingerprint or entry.get("spec") != key:
            return False
        if entry.get("ok"):
            return bool(entry.get("json_path")) and (self.out / entry["json_path"]).is_file()
        return entry.get("exit_code") in FINAL_ERRORS

    # -------------------------------------------------------------------------------- writing
    def __enter__(self) -> Ledger:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.parent / "lock", "w")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock.close()
            self._lock = None
            raise InvalidInputError(
                f"another batch is writing to {self.out} (its lock {self.path.parent / 'lock'} "
                "is held).", hint="wait for it to finish, or give another --out.") from exc
        self._repair_tail()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        return self

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Journal finished rows: one line each, written in one call and flushed to the OS (so a
        killed client keeps them; no fsync: a power cut may lose the last seconds, not corrupt)."""
        if self._fh is None:
            raise RuntimeError("Ledger.append outside `with Ledger(out):`")
        text = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in rows)
        if text:
            self._fh.write(text)
            self._fh.flush()

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def _repair_tail(self) -> None:
        """End a torn last line (from a killed client) so the next line starts clean."""
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
