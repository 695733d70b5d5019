"""Lazy re-exports for package front doors (PEP 562).

A package lists where each public name lives; the module holding it is imported on first access,
so ``import cardioclarity.ecg`` costs nothing until a name is used (the CLI starts fast) while
``help()``, ``dir()`` and tab completion still show every public name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, resolving ``name`` from module ``where[name]``.

    Usage, at the end of a package's ``__init__.py``::

        __all__ = ["read_record", ...]
        __getattr__, __dir__ = lazy_exports(__name__, {"read_record": "cardioclarity.ecg.records.io", ...})
    """

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(where[name]), name)
            globals_of_package = importlib.import_module(package).__dict__
            globals_of_package[name] = value  # resolve once
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*importlib.import_module(package).__dict__, *where})

    return __getattr__, __dir__
