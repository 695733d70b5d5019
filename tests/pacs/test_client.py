"""PacsConfig from the environment, and the errors of an unreachable PACS (a closed local port)."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from cardioclarity.errors import InvalidInputError
from cardioclarity.pacs.client import PacsClient, PacsConfig, PacsUnavailableError, _flat


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_config_reads_auth_from_the_environment(monkeypatch):
    monkeypatch.setenv("CARDIOCLARITY_PACS_TOKEN", "tok")
    cfg = PacsConfig.from_env("https://pacs.example/dicom-web/")
    assert cfg.url == "https://pacs.example/dicom-web" and cfg.token == "tok" and cfg.ca_bundle is None
    client = PacsClient(cfg)
    session = client._web._session
    assert session.headers["Authorization"] == "Bearer tok" and session.verify is True
    monkeypatch.delenv("CARDIOCLARITY_PACS_TOKEN")
    monkeypatch.setenv("CARDIOCLARITY_PACS_USER", "u")
    monkeypatch.setenv("CARDIOCLARITY_PACS_PASSWORD", "p")
    assert PacsClient(PacsConfig.from_env("http://h/dw"))._web._session.auth == ("u", "p")


def test_config_errors(monkeypatch):
    monkeypatch.delenv("CARDIOCLARITY_PACS_URL", raising=False)
    with pytest.raises(InvalidInputError, match="no PACS URL"):
        PacsConfig.from_env(None)
    with pytest.raises(InvalidInputError, match="http:// or https://"):
        PacsConfig.from_env("pacs:8042")
    monkeypatch.setenv("CARDIOCLARITY_PACS_USER", "u")
    monkeypatch.delenv("CARDIOCLARITY_PACS_PASSWORD", raising=False)
    with pytest.raises(InvalidInputError, match="set together"):
        PacsConfig.from_env("http://h/dw")


def test_unreachable_pacs_is_a_clear_error(monkeypatch):
    for k in ("CARDIOCLARITY_PACS_USER", "CARDIOCLARITY_PACS_PASSWORD", "CARDIOCLARITY_PACS_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    url = f"http://127.0.0.1:{_closed_port()}/dicom-web"
    client = PacsClient(dataclasses.replace(PacsConfig.from_env(url, timeout=5), attempts=1))
    with pytest.raises(PacsUnavailableError) as err:
        client.search_studies({"ModalitiesInStudy": "CR"})
    assert url in str(err.value) and "unreachable" in str(err.value) and err.value.exit_code == 69


def test_dicom_json_rows_are_flattened_to_keywords():
    row = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00080061": {"vr": "CS", "Value": ["CR", "SR"]},
           "00080020": {"vr": "DA"}}
    assert _flat(row) == {"StudyInstanceUID": "1.2.3", "ModalitiesInStudy": ["CR", "SR"], "StudyDate": None}
