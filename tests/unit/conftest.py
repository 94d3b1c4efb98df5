"""Fixtures the unit tests share (no database)."""

from __future__ import annotations

import pytest

from lotse.domain.configuration import Programme, load_configuration


@pytest.fixture(scope="module")
def programme() -> Programme:
    return load_configuration().programmes["durchstarten"]
