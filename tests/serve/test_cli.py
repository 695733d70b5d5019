"""``cardioclarity serve``: help and configuration errors (the running server: test_serve_live.py)."""

from __future__ import annotations

import argparse

import pytest
from conftest import run_cli

from cardioclarity.errors import EX_DATAERR
from cardioclarity.serve.cli import _port


def test_help_lists_options_and_settings():
    r = run_cli("serve", "--help")
    assert r.returncode == 0
    for word in ("--host", "--port", "127.0.0.1", "CARDIOCLARITY_", "API_KEY", "MAX_UPLOAD_MB"):
        assert word in r.stdout


def test_bad_setting_is_one_line_and_exit_65(monkeypatch):
    monkeypatch.setenv("CARDIOCLARITY_MAX_UPLOAD_MB", "lots")
    r = run_cli("serve", "--port", "1")
    assert r.returncode == EX_DATAERR
    assert "CARDIOCLARITY_MAX_UPLOAD_MB='lots'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(("text", "message"), [("eighty", "invalid int"), ("70000", "1..65535"),
                                               ("0", "1..65535")])
def test_bad_port_is_a_usage_error(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        _port(text)
    assert _port("8080") == 8080
