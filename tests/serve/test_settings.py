"""Settings from CARDIOCLARITY_* environment variables."""

from __future__ import annotations

import os

import pytest

from cardioclarity.errors import InvalidInputError
from cardioclarity.serve.settings import Settings


def test_defaults_are_safe():
    s = Settings.from_env({})
    assert s.api_key is None
    assert s.cors_origins == ()  # CORS closed by default
    assert s.max_upload_bytes == 64 * 1024 * 1024
    assert s.max_concurrency >= 1 and s.request_timeout_s > 0
    assert 1 <= s.effective_torch_threads <= (os.cpu_count() or 1)


def test_every_variable_is_read():
    env = {"CARDIOCLARITY_API_KEY": "k", "CARDIOCLARITY_API_KEY_HEADER": "X-Token",
           "CARDIOCLARITY_CORS_ORIGINS": "https://a.example, https://b.example",
           "CARDIOCLARITY_MAX_UPLOAD_MB": "1.5", "CARDIOCLARITY_MAX_CONCURRENCY": "3",
           "CARDIOCLARITY_MAX_QUEUE": "7", "CARDIOCLARITY_REQUEST_TIMEOUT_S": "2.5",
           "CARDIOCLARITY_TORCH_THREADS": "1", "CARDIOCLARITY_MAX_ZIP_ENTRIES": "9",
           "CARDIOCLARITY_PRELOAD": "no", "CARDIOCLARITY_LOG_REQUESTS": "false"}
    s = Settings.from_env(env)
    assert s.api_key == "k" and s.api_key_header == "X-Token"
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.max_upload_bytes == int(1.5 * 1024 * 1024)
    assert (s.max_concurrency, s.max_queue, s.torch_threads, s.max_zip_entries) == (3, 7, 1, 9)
    assert s.request_timeout_s == 2.5
    assert s.preload is False and s.log_requests is False


def test_overrides_win_over_environment():
    s = Settings.from_env({"CARDIOCLARITY_MAX_QUEUE": "7"}, max_queue=0)
    assert s.max_queue == 0


def test_empty_api_key_means_no_auth():
    assert Settings.from_env({"CARDIOCLARITY_API_KEY": ""}).api_key is None


@pytest.mark.parametrize(("name", "value"), [
    ("CARDIOCLARITY_MAX_UPLOAD_MB", "lots"), ("CARDIOCLARITY_MAX_CONCURRENCY", "0"),
    ("CARDIOCLARITY_REQUEST_TIMEOUT_S", "-1"), ("CARDIOCLARITY_PRELOAD", "maybe"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(InvalidInputError, match=name):
        Settings.from_env({name: value})


def test_memory_debug_page_is_off_by_default_and_on_by_setting():
    from fastapi.testclient import TestClient

    from cardioclarity.serve.app import create_app

    assert Settings.from_env({}).debug_memory is False
    with TestClient(create_app(Settings(preload=False, log_requests=False))) as c:
        assert c.get("/debug/memory").status_code == 404
    on = Settings.from_env({"CARDIOCLARITY_DEBUG_MEMORY": "1"}, preload=False, log_requests=False)
    with TestClient(create_app(on)) as c:
        body = c.get("/debug/memory?top=5").json()
        assert body["tracing"] is True and len(body["top"]) <= 5
        assert "/debug" not in str(c.get("/openapi.json").json()["paths"])
        assert c.post("/debug/memory/trim").status_code == 200
