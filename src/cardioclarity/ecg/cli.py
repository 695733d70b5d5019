"""``cardioclarity ecg ...``: the beat commands (train/evaluate/score) and record analysis."""

from __future__ import annotations

import argparse

from cardioclarity.ecg.beats import cli as beats_cli
from cardioclarity.ecg.records import cli as records_cli


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ecg`` command group."""
    p = sub.add_parser("ecg", help="ECG beat anomaly detection and record analysis",
                       description="ECG anomaly detection. Research use only, not a medical device.")
    p.set_defaults(_parser=p)
    ecg_sub = p.add_subparsers(dest="ecg_command", metavar="COMMAND",
                               help="train/evaluate/score work on tables of beats (one beat per "
                               "row); analyze works on recordings (WFDB, CSV/TXT with --fs, EDF)")
    beats_cli.register(ecg_sub)
    records_cli.register(ecg_sub)
