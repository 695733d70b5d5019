"""Checks shared by the route tests.

Each answer is compared with a direct call of the same pipeline functions (what the CLI writes):
the routes must return the same objects. A test skips, with the reason, when its pipeline's model
cannot be loaded (the route's 503 is tested in ../test_app.py).
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from cardioclarity.validation import to_jsonable


def require(client: TestClient, pipeline: str):
    """The loaded model of ``pipeline``, or skip with the reason it is unavailable."""
    service = client.app.state.services[pipeline]
    if not service.load():
        pytest.skip(f"{pipeline} could not be loaded: {service.error}")
    return service.model()


def same(route_json: dict, direct: dict) -> None:
    """The route's JSON equals the pipeline's ``to_dict()`` once both are plain JSON."""
    expected = json.loads(json.dumps(to_jsonable(direct)))
    assert route_json == expected


def problem(r, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    for w in words:
        assert w.lower() in (body["detail"] + " " + body.get("hint", "")).lower(), body
    return body
