"""Unforeseen exceptions: a reader's becomes a 4xx problem, a model's a one-line 500 problem.

The reader guard (:func:`cardioclarity.serve.services.guarded_read`) blames the client's data for
whatever a parser raises; a failure after reading is a bug, answered as a 500 problem+json that
names the exception type and carries no traceback, no source line and no message of the bug.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cardioclarity import DISCLAIMER
from cardioclarity.serve.app import create_app
from cardioclarity.serve.settings import Settings

SAMPLES = Path(str(resources.files("cardioclarity") / "samples"))
SIGNAL = ("\n".join(str(v % 7) for v in range(3600)) + "\n").encode()  # 10 s at 360 Hz
SECRET = "internal-state-0xDEADBEEF"  # in the exception message: must not reach the client
ERRORS = [KeyError, ZeroDivisionError, RuntimeError, AttributeError, IndexError, TypeError,
          OSError, UnicodeDecodeError]


def _raise(exc_type: type[BaseException]):
    def boom(*args, **kwargs):
        if exc_type is UnicodeDecodeError:
            raise UnicodeDecodeError("utf-8", SECRET.encode(), 0, 1, SECRET)
        raise exc_type(SECRET)

    return boom


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(preload=False, log_requests=False)),
                    raise_server_exceptions=False) as c:
        yield c


def _problem(r, status_range: range) -> dict:
    assert r.status_code in status_range, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == r.status_code and body["disclaimer"] == DISCLAIMER
    for leak in ("Traceback", 'File "', ".py", "line "):
        assert leak not in r.text, r.text
    return body


@pytest.mark.parametrize("exc_type", ERRORS, ids=lambda e: e.__name__)
def test_a_reader_raising_anything_is_a_4xx_problem(client, monkeypatch, exc_type):
    import cardioclarity.ecg.records.io as records_io

    monkeypatch.setattr(records_io, "read_record", _raise(exc_type))
    r = client.post("/v1/ecg/records?fs=360", content=SIGNAL)
    body = _problem(r, range(400, 500))
    assert r.status_code == 422 and body["type"].endswith("/unreadable-input")
    assert exc_type.__name__ in body["detail"]


@pytest.mark.parametrize("exc_type", ERRORS, ids=lambda e: e.__name__)
def test_a_model_raising_anything_is_a_one_line_500(client, monkeypatch, exc_type):
    import cardioclarity.ecg.records.analyze as analyze

    if not client.app.state.services["ecg-records"].load():
        pytest.skip("record models not in this build")
    monkeypatch.setattr(analyze, "analyze_record", _raise(exc_type))
    r = client.post("/v1/ecg/records?fs=360", content=SIGNAL)
    body = _problem(r, range(500, 501))
    assert body["detail"] == f"Internal error ({exc_type.__name__}) while handling the request."
    assert "\n" not in body["detail"] and SECRET not in r.text
    assert client.get("/healthz").status_code == 200  # still serving


def test_a_beat_model_raising_is_a_500_problem(client, monkeypatch):
    import cardioclarity.ecg.beats.detector as detector

    if not client.app.state.services["ecg-beats"].load():
        pytest.skip("beat model not in this build")
    monkeypatch.setattr(detector, "score_table", _raise(ValueError))
    r = client.post("/v1/ecg/beats", content=(SAMPLES / "ecg5000_test_sample.csv").read_bytes())
    body = _problem(r, range(500, 501))
    assert "ValueError" in body["detail"] and SECRET not in r.text
