"""The read-access log cannot lose an entry: a read is answered only once it is logged.

Each personal-data read commits its log entries before the response leaves; if they
cannot be stored, the read is refused with 503 and nothing of the data is sent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.builders.api import Auth, registration

ROOT = Path(__file__).resolve().parents[2]
GIVEN = "Zyxlogged"


def register(client: TestClient, auth: Auth) -> str:
    response = client.post("/participants", json=registration(given_name=GIVEN), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def register_projected(client: TestClient, auth: Auth) -> tuple[str, int]:
    """A participant, and the position its registration has in the log."""
    response = client.post("/participants", json=registration(given_name=GIVEN), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), int(response.json()["position"])


def logged(database_url: str, request_id: str) -> int:
    """Entries of this request, read from another connection: only what is committed."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM lotse_access_log WHERE request_id = %s AND outcome = 200",
            (request_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def unwritable_log(database_url: str) -> Iterator[None]:
    """The access log refuses every insert, as a full disk or a lost grant would."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION test_refuse_insert() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'access log unwritable (test)'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_refuse_insert BEFORE INSERT ON lotse_access_log"
            " FOR EACH ROW EXECUTE FUNCTION test_refuse_insert()"
        )
    try:
        yield
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER test_refuse_insert ON lotse_access_log")
            conn.execute("DROP FUNCTION test_refuse_insert()")


@pytest.mark.parametrize(
    "path",
    [
        "/participants/{pid}",
        "/participants/{pid}/history",
        "/participants/{pid}/state",
        "/participants/{pid}/timeline",
        "/participants?q=" + GIVEN,
    ],
)
def test_a_read_that_cannot_be_logged_answers_503_and_discloses_nothing(
    client: TestClient, auth: Auth, unwritable_log: None, path: str
) -> None:
    pid, position = register_projected(client, auth)
    url = path.format(pid=pid)
    if "pid}/timeline" in path or "?q=" in path:
        # Read models answer once they have projected the registration.
        url += ("&" if "?" in url else "?") + f"min_position={position}"

    response = client.get(url, headers=auth())

    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["rule"] == "access-log-unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert GIVEN not in response.text
    assert "Haidari" not in response.text


def test_every_answered_read_is_committed_to_the_log_when_the_response_arrives(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    pid, position = register_projected(client, auth)
    paths = [
        f"/participants/{pid}",
        f"/participants/{pid}/history",
        f"/participants?q={GIVEN}&min_position={position}",
        f"/participants/{pid}/timeline?min_position={position}",
    ]

    missing = []
    for i in range(30):
        response = client.get(paths[i % len(paths)], headers=auth())
        assert response.status_code == 200, response.text
        # Checked at once, from another connection: no background flush to wait for.
        if logged(database_url, response.headers["X-Request-ID"]) != 1:
            missing.append(i)

    assert missing == []


# ------------------------------------------------------ a served process killed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(settings: Any, database_url: str) -> dict[str, str]:
    import importlib

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        LOTSE_SECRET_KEY=settings.secret_key,
        LOTSE_MASTER_KEY=settings.master_key,
        LOTSE_DATA_DIR=str(settings.data_dir),
        LOTSE_PROJECTOR="external",
    )
    env.pop("LOTSE_CONFIG", None)
    checkpoints = importlib.import_module("lotse.storage.checkpoints")
    if hasattr(checkpoints, "new_signing_key_text"):
        env.setdefault("LOTSE_AUDIT_SIGNING_KEY", checkpoints.new_signing_key_text())
    return env


def test_no_answered_read_is_missing_from_the_log_after_kill_9(
    client: TestClient, auth: Auth, settings: Any, database_url: str
) -> None:
    pid = register(client, auth)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lotse.api.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=_environment(settings, database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    answered: list[str] = []
    stop = threading.Event()

    def read_until_killed() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while not stop.is_set():
                try:
                    response = http.get(f"/participants/{pid}", headers=auth())
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    answered.append(response.headers["X-Request-ID"])

    try:
        deadline = time.monotonic() + 60
        while not answered and time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/participants/{pid}", headers=auth())
                if response.status_code == 200:
                    answered.append(response.headers["X-Request-ID"])
            except httpx.HTTPError:
                time.sleep(0.2)
        assert answered, "lotse serve did not come up"
        readers = [threading.Thread(target=read_until_killed) for _ in range(8)]
        for reader in readers:
            reader.start()
        time.sleep(3)

        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait()

    with psycopg.connect(database_url) as conn:
        stored = {
            row[0]
            for row in conn.execute(
                "SELECT request_id FROM lotse_access_log WHERE outcome = 200"
            ).fetchall()
        }
    assert len(answered) > 50
    assert [r for r in answered if r not in stored] == []


def test_two_processes_appending_in_turn_keep_one_unbroken_chain(runtime: Any) -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from lotse.storage.access_log import AccessEntry, AccessLog

    first = runtime.access_log
    second = AccessLog(first.datastore, first.schema)  # another process's writer
    entry = AccessEntry(
        "u", "caseworker", "caritas-ahlen", uuid4(), "GET /x", None, 200, "r", at=datetime.now(UTC)
    )

    for log in (first, second, second, first, second, first, first):
        log.record_many([entry, entry])
    second.close()

    assert first.verify() == (14, None)
