"""Placeholder: filled in by the pipeline that owns these sub-commands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's sub-commands to the ``ecg`` group."""
