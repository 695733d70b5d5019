"""``pacs watch``: poll the PACS and process each new study once, across restarts.

Each poll lists the studies matching the query (QIDO-RS) and runs
:func:`~cardioclarity.pacs.study.process_study` on those the checkpoint has not seen. The
checkpoint (a JSON file) records a study as ``done`` only after its results were stored, and is
rewritten atomically (temporary file, fsync, rename) after every study, so a watcher killed at
any moment restarts where it stopped: a study is processed again only if the kill came between
its STOW and the checkpoint write, and then the second STOW replaces the first (the results'
UIDs are derived from the source, :func:`cardioclarity.hospital.source.derived_uid`).

A study that fails (no chest film, STOW refused ...) is recorded under ``failed`` with the error
and retried on later polls until ``max_attempts``; an unreachable PACS or a refused login ends
the poll, not the loop. The watcher never stops on one study's error.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cardioclarity.errors import CardioClarityError, InvalidInputError
from cardioclarity.pacs.client import PacsAuthError, PacsClient, PacsError, PacsUnavailableError
from cardioclarity.pacs.study import process_study

__all__ = ["Checkpoint", "poll_once", "watch"]

CHECKPOINT_FORMAT = "cardioclarity-pacs-watch/1"


class Checkpoint:
    """The studies already handled, kept in a JSON file.

    Attributes
    ----------
    path : Path
    done : dict
        study UID → ``{"at": ISO time, "stored": n, "films": n}``.
    failed : dict
        study UID → ``{"attempts": n, "error": str, "at": ISO time}``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.done: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                doc = json.loads(self.path.read_text())
                if doc.get("format") != CHECKPOINT_FORMAT:
                    raise ValueError(f"format {doc.get('format')!r}")
                self.done, self.failed = dict(doc["done"]), dict(doc.get("failed", {}))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise InvalidInputError(
                    f"{self.path}: not a pacs-watch checkpoint ({exc}).",
                    hint="give a new file name, or the checkpoint an earlier watch wrote.") from exc

    def wants(self, study_uid: str, max_attempts: int) -> bool:
        """True for a study neither done nor failed ``max_attempts`` times."""
        return study_uid not in self.done and \
            self.failed.get(study_uid, {}).get("attempts", 0) < max_attempts

    def mark_done(self, study_uid: str, **info: Any) -> None:
        self.failed.pop(study_uid, None)
        self.done[study_uid] = {"at": _now(), **info}
        self.save()

    def mark_failed(self, study_uid: str, error: str) -> None:
        prev = self.failed.get(study_uid, {}).get("attempts", 0)
        self.failed[study_uid] = {"attempts": prev + 1, "error": error, "at": _now()}
        self.save()

    def save(self) -> None:
        """Atomic rewrite: a reader (or a restart) sees the old file or the new, never a half."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.part")
        with tmp.open("w") as fh:
            json.dump({"format": CHECKPOINT_FORMAT, "done": self.done, "failed": self.failed},
                      fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)


def poll_once(client: PacsClient, detector, checkpoint: Checkpoint, *,
              filters: dict[str, str] | None = None, max_attempts: int = 3,
              on_study: Callable | None = None, log: Callable[[str], None] = print) -> int:
    """One poll: process every matching study the checkpoint wants; returns how many succeeded.

    Raises
    ------
    PacsError
        The study search itself failed (PACS unreachable, login refused); per-study failures
        are recorded in the checkpoint instead.
    """
    studies = client.search_studies(filters)
    n = 0
    for row in studies:
        uid = str(row.get("StudyInstanceUID") or "")
        if not uid or not checkpoint.wants(uid, max_attempts):
            continue
        try:
            outcome = process_study(client, uid, detector, log=log)
        except (PacsUnavailableError, PacsAuthError):
            raise  # not this study's fault: end the poll, count no attempt against it
        except CardioClarityError as exc:
            checkpoint.mark_failed(uid, str(exc))
            log(f"cardioclarity: error: {exc}")
            continue
        checkpoint.mark_done(uid, stored=outcome.stored, films=len(outcome.films))
        log(outcome.summary())
        if on_study is not None:
            on_study(outcome)
        n += 1
    return n


def watch(client: PacsClient, detector, checkpoint: Checkpoint, *,
          filters: dict[str, str] | None = None, interval: float = 30.0,
          max_polls: int | None = None, max_attempts: int = 3, on_study: Callable | None = None,
          log: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep) -> int:
    """Poll every ``interval`` seconds (``max_polls`` times; None = until interrupted).

    Returns the number of studies processed. A poll that fails (PACS down, login refused) is
    logged and the loop goes on.
    """
    if interval < 0:
        raise InvalidInputError(f"interval must be >= 0 seconds, got {interval}.",
                                hint="e.g. --interval 30.")
    total, polls = 0, 0
    while max_polls is None or polls < max_polls:
        try:
            total += poll_once(client, detector, checkpoint, filters=filters,
                               max_attempts=max_attempts, on_study=on_study, log=log)
        except PacsError as exc:
            log(f"cardioclarity: error: poll failed, retrying in {interval:g} s: {exc}")
        polls += 1
        if max_polls is None or polls < max_polls:
            sleep(interval)
    return total


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
