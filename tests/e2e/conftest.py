"""Fixtures of the web-page tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.pages import browser


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient]:
    """A client that keeps cookies and does not follow redirects, as a browser would."""
    with browser(runtime) as client:
        yield client
