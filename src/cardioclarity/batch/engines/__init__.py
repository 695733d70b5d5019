"""Engines: who runs :func:`~cardioclarity.batch.core.run_item` on the items.

An engine is a context manager with ``map(spec, items)``, an iterator of result rows in the order
they finish (each item exactly once: a row or an error row), and ``describe()``, one line for the
log. ``local`` loops in this process; ``dask`` runs on Dask distributed (a LocalCluster on
127.0.0.1, or an existing scheduler by ``address``). Another engine (Ray...) is one more adapter
around :func:`process_item`.
"""

from __future__ import annotations

from typing import Any

from cardioclarity.batch.core import BatchSpec, error_row, run_item, worker_id
from cardioclarity.batch.sources import Item, read_item
from cardioclarity.errors import CardioClarityError

__all__ = ["ENGINES", "EX_UNAVAILABLE", "EngineUnavailableError", "make_engine", "process_item"]

ENGINES = ("local", "dask")
#: sysexits.h EX_UNAVAILABLE: a support program (an optional dependency, a scheduler) is missing.
EX_UNAVAILABLE = 69


class EngineUnavailableError(CardioClarityError):
    """The engine cannot start: its optional dependency is not installed, or its scheduler
    cannot be reached."""

    exit_code = EX_UNAVAILABLE
    http_status = 503


def process_item(spec: BatchSpec, item: Item, files: dict[str, bytes] | None = None
                 ) -> dict[str, Any]:
    """Read an item (unless the client sent its bytes) and run it: the task every engine runs."""
    if files is None:
        try:
            files = read_item(item)
        except CardioClarityError as exc:
            row = error_row(item.name, str(exc), type(exc).__name__, exc.exit_code)
            row["worker"] = worker_id()
            return row
    return run_item(spec, item.name, files)


def make_engine(name: str, **options: Any):
    """The engine called ``name`` (see :data:`ENGINES`) with its options.

    ``dask`` options: ``address``, ``workers``, ``threads_per_worker``, ``memory_limit``,
    ``dashboard_address``, ``max_retries`` (see :class:`~cardioclarity.batch.engines.dask.DaskEngine`).

    Raises
    ------
    CardioClarityError
        Unknown engine name.
    EngineUnavailableError
        ``dask`` without Dask distributed installed.
    """
    if name == "local":
        from cardioclarity.batch.engines.local import LocalEngine

        if options:
            from cardioclarity.errors import InvalidInputError

            raise InvalidInputError(f"the local engine takes no options, got {sorted(options)}.",
                                    hint="these are options of engine='dask'.")

        return LocalEngine()
    if name == "dask":
        try:
            from cardioclarity.batch.engines.dask import DaskEngine
        except ImportError as exc:
            raise EngineUnavailableError(
                f"--engine dask needs Dask distributed, which is not installed ({exc}).",
                hint="pip install 'cardioclarity[dask]' (dask[distributed] + pyarrow); "
                "--engine local works without it.") from exc
        return DaskEngine(**options)
    from cardioclarity.errors import InvalidInputError

    raise InvalidInputError(f"unknown engine {name!r}; valid options: {', '.join(ENGINES)}.")
