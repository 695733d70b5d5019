"""The in-process engine: one loop, the models loaded once, torch on ``spec.threads`` threads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from cardioclarity.batch.core import BatchSpec, pipeline_for
from cardioclarity.batch.engines import process_item
from cardioclarity.batch.sources import Item

__all__ = ["LocalEngine"]


class LocalEngine:
    """Run the items one after another in this process (the default: no extra to install)."""

    name = "local"

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def describe(self) -> str:
        return "local engine (in-process loop)"

    def map(self, spec: BatchSpec, items: Iterable[Item]) -> Iterator[dict[str, Any]]:
        """Rows in input order."""
        pipeline_for(spec)
        for item in items:
            yield process_item(spec, item)
