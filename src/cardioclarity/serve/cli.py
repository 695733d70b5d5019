"""Placeholder: the `cardioclarity serve` command group, filled in by its pipeline."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `serve` command group."""
    p = sub.add_parser("serve", help="(not yet available)")
    p.set_defaults(_parser=p)
