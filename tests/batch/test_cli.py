"""``cardioclarity batch``: help, options, and a real run from a shell."""

from __future__ import annotations

import pyarrow.parquet as pq
from conftest import run_cli

from cardioclarity.cli import build_parser

from .conftest import write_films


def test_the_command_is_registered_with_its_options():
    args = build_parser().parse_args(["batch", "ecg", "recs/", "--out", "o", "--engine", "dask",
                                      "--workers", "2", "--fs", "250", "--no-beats"])
    assert (args.kind, args.engine, args.workers, args.fs, args.no_beats) == ("ecg", "dask", 2,
                                                                               250.0, True)
    assert args.threads == 1 and args.fingerprint == "stat" and args.dashboard_address is None


def test_a_run_from_the_shell(tmp_path):
    write_films(tmp_path / "in", 2, corrupt=("text.png",))
    r = run_cli("batch", "xray", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                "--model", "box")
    assert r.returncode == 1, r.stderr  # one input failed
    assert "2/3 images with a result, 1 failed" in r.stdout and "Research use only" in r.stdout
    assert "text.png" in r.stderr and "Traceback" not in r.stderr
    assert pq.read_table(tmp_path / "o" / "results.parquet").num_rows == 3
