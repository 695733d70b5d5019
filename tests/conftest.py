"""Shared fixtures: the location of the real data in ../shared/data (skip when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = Path(__file__).resolve().parent / "data"


def _shared_data_dir() -> Path:
    env = os.environ.get("CARDIOCLARITY_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$CARDIOCLARITY_DATA_DIR``); skips the test when it is absent."""
    d = _shared_data_dir()
    if not (d / "DATA.md").exists():
        pytest.skip(f"real data not found at {d}: set CARDIOCLARITY_DATA_DIR or place ../shared/data")
    return d


@pytest.fixture(scope="session")
def test_data() -> Path:
    """Small fixtures shipped with the tests (tests/data)."""
    return TEST_DATA


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300):
    """Run ``python -m cardioclarity ARGS`` on this checkout's sources, as a user would from a shell.

    Returns the ``subprocess.CompletedProcess`` (text mode; stdout and stderr captured).
    """
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), CARDIOCLARITY_PROGRESS="0")
    return subprocess.run([sys.executable, "-m", "cardioclarity", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
