"""Placeholder: the `cardioclarity xray` command group, filled in by its pipeline."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `xray` command group."""
    p = sub.add_parser("xray", help="(not yet available)")
    p.set_defaults(_parser=p)
