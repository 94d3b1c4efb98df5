"""Fixtures the integration tests share: the CLI environment, the master key, a second runtime."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.storage.keys import MasterKey
from tests.builders.api import SECRET


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, database_url: str) -> None:
    """The environment ``lotse`` reads, pointing at the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOTSE_SECRET_KEY", SECRET)
    monkeypatch.setenv("LOTSE_MASTER_KEY", settings.master_key)
    monkeypatch.setenv("LOTSE_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("LOTSE_CONFIG", raising=False)
    # The audit work adds a required checkpoint signing key; give one when it exists.
    signing_key = getattr(settings, "audit_signing_key", "")
    if not signing_key and importlib.util.find_spec("lotse.storage.checkpoints") is not None:
        signing_key = importlib.import_module("lotse.storage.checkpoints").new_signing_key_text()
    if signing_key:
        monkeypatch.setenv("LOTSE_AUDIT_SIGNING_KEY", signing_key)


@pytest.fixture
def fresh_runtime(settings: Settings) -> Iterator[Any]:
    """Opens a second runtime on the same database: like another process, with empty caches."""
    opened: list[Runtime] = []

    def open_runtime(**changes: Any) -> Runtime:
        runtime = build_runtime(dataclasses.replace(settings, **changes))
        opened.append(runtime)
        return runtime

    yield open_runtime
    for runtime in opened:
        runtime.close()


@pytest.fixture
def master(runtime: Runtime) -> MasterKey:
    return MasterKey.from_text(runtime.settings.master_key)
