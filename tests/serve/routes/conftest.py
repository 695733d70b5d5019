"""The client of the route tests: the app on the real pipelines and bundled models."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cardioclarity.serve.app import create_app
from cardioclarity.serve.settings import Settings


@pytest.fixture(scope="package")
def client():
    with TestClient(create_app(Settings(preload=False, log_requests=False))) as c:
        yield c
