"""Erasure is final: no copy of a destroyed key stays readable in the database files.

PostgreSQL never overwrites a row in place: destroying a key (an UPDATE) leaves the
old row version, with the wrapped key, in the table file until it is reclaimed, and
even a reclaimed row's bytes may stay in the page. These tests read the database's
files from disk (after a CHECKPOINT) and search them for the wrapped key captured
before the erasure, so they see what a copy of the data directory would show.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.cli import main
from lotse.api.privacy_cli import rotate
from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.storage.keys import MasterKey
from tests.builders.api import Auth
from tests.builders.privacy import FAR_FUTURE, coordinator, erase, register, wrapped_key
from tests.raw_pages import database_directory, files_holding, relations_of

KEYS = "lotse_participant_keys"


def _analyze_keys(database_url: str) -> None:
    """What autovacuum does on its own: sample the table for the planner's statistics."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"ANALYZE {KEYS}")


def test_erasure_leaves_no_copy_of_the_key_in_the_database_files(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    others = [register(client, auth) for _ in range(5)]
    pid = register(client, auth)
    old_key = wrapped_key(database_url, pid)
    assert old_key is not None
    _analyze_keys(database_url)
    directory = database_directory(database_url)
    if directory is None:
        pytest.skip("the server's data directory is not readable from here")
    assert files_holding(directory, old_key), "the scan must find the key before the erasure"

    response = erase(client, coordinator(auth), pid)
    _analyze_keys(database_url)

    assert response.status_code == 200, response.text
    found = files_holding(directory, old_key)
    assert found == [], relations_of(database_url, found)
    # The others' keys are untouched and still open their data.
    assert all(wrapped_key(database_url, other) is not None for other in others)
    assert client.get(f"/participants/{others[0]}", headers=auth()).status_code == 200


def test_erasure_answers_503_while_an_older_transaction_may_see_the_key_and_a_repeat_finishes(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    pid = register(client, auth)
    old_key = wrapped_key(database_url, pid)
    assert old_key is not None
    directory = database_directory(database_url)
    if directory is None:
        pytest.skip("the server's data directory is not readable from here")
    # A report or backup job that began before the erasure: its snapshot still sees the key.
    older = psycopg.connect(database_url)
    older.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    older.execute("SELECT count(*) FROM lotse_events").fetchone()

    try:
        first = erase(client, coordinator(auth), pid)
        still_there = files_holding(directory, old_key)
    finally:
        older.rollback()
        older.close()
    second = erase(client, coordinator(auth), pid)

    assert first.status_code == 503
    assert first.headers["content-type"].startswith("application/problem+json")
    assert first.json()["rule"] == "erasure-not-final"
    assert int(first.headers["Retry-After"]) > 0
    assert wrapped_key(database_url, pid) is None  # the erasure itself is recorded
    assert still_there  # and the 503 was honest
    assert second.status_code == 200, second.text
    found = files_holding(directory, old_key)
    assert found == [], relations_of(database_url, found)


@pytest.fixture
def other_database(database_url: str) -> Iterator[str]:
    """Another database on the same server (another application's, say)."""
    name = f"lotse_other_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunparse(urlparse(database_url)._replace(path="/" + name))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_transaction_open_in_another_database_also_holds_the_erasure_back(
    client: TestClient, auth: Auth, database_url: str, other_database: str
) -> None:
    # Every snapshot, VACUUM FULL's own included, is bounded by the oldest running
    # transaction of the whole server: one in another database keeps the old version.
    pid = register(client, auth)
    old_key = wrapped_key(database_url, pid)
    assert old_key is not None
    directory = database_directory(database_url)
    if directory is None:
        pytest.skip("the server's data directory is not readable from here")
    elsewhere = psycopg.connect(other_database)
    elsewhere.execute("SELECT pg_current_xact_id()")  # a transaction with an id, left open

    try:
        first = erase(client, coordinator(auth), pid)
    finally:
        elsewhere.rollback()
        elsewhere.close()
    second = erase(client, coordinator(auth), pid)

    assert first.status_code == 503
    assert second.status_code == 200, second.text
    found = files_holding(directory, old_key)
    assert found == [], relations_of(database_url, found)


def test_restriction_needs_no_scrub_and_keeps_the_key(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    pid = register(client, auth)

    response = erase(client, coordinator(auth), pid, mode="restrict")

    assert response.status_code == 200, response.text
    assert wrapped_key(database_url, pid) is not None


def test_retention_shredding_leaves_no_copy_of_the_keys_in_the_database_files(
    client: TestClient, auth: Auth, cli_env: None, database_url: str
) -> None:
    pids = [register(client, auth) for _ in range(6)]
    old_keys = [wrapped_key(database_url, pid) for pid in pids]
    directory = database_directory(database_url)
    if directory is None:
        pytest.skip("the server's data directory is not readable from here")
    assert all(key is not None and files_holding(directory, key) for key in old_keys)

    code = main(["privacy", "retention", "--apply", "--today", FAR_FUTURE, "--allow-future-date"])

    assert code == 0
    assert all(wrapped_key(database_url, pid) is None for pid in pids)
    for key in old_keys:
        assert key is not None
        found = files_holding(directory, key)
        assert found == [], relations_of(database_url, found)


def test_rotation_leaves_no_wrapping_under_the_old_master_key_in_the_database_files(
    client: TestClient, auth: Auth, runtime: Runtime, settings: Settings, database_url: str
) -> None:
    pids = [register(client, auth) for _ in range(6)]
    old_wrappings = [wrapped_key(database_url, pid) for pid in pids]
    directory = database_directory(database_url)
    if directory is None:
        pytest.skip("the server's data directory is not readable from here")
    out = io.StringIO()

    summary = rotate(settings, runtime, MasterKey.generate(), out)

    assert (summary.rewrapped, summary.scrubbed) == (6, True), out.getvalue()
    for wrapping in old_wrappings:
        assert wrapping is not None
        found = files_holding(directory, wrapping)
        assert found == [], relations_of(database_url, found)
    new_wrappings = [wrapped_key(database_url, pid) for pid in pids]
    assert all(w is not None and files_holding(directory, w) for w in new_wrappings)


def test_scrub_command_scrubs_and_drops_key_statistics_gathered_earlier(
    client: TestClient,
    auth: Auth,
    cli_env: None,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(client, auth)
    with psycopg.connect(database_url, autocommit=True) as conn:
        # As an older version left it: statistics on, and gathered.
        conn.execute(f"ALTER TABLE {KEYS} ALTER COLUMN wrapped_key SET STATISTICS -1")
        conn.execute(f"ANALYZE {KEYS}")

    code = main(["privacy", "scrub", "--wait", "5"])

    out = capsys.readouterr().out
    assert code == 0
    assert "dropped planner statistics" in out
    assert "key table scrubbed" in out
    with psycopg.connect(database_url) as conn:
        stats = conn.execute(
            "SELECT count(*) FROM pg_stats WHERE tablename = %s AND attname = 'wrapped_key'",
            (KEYS,),
        ).fetchone()
    assert stats == (0,)


def test_scrub_command_can_also_end_the_wal_window(
    client: TestClient, auth: Auth, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = register(client, auth)
    assert erase(client, coordinator(auth), pid).status_code == 200

    code = main(["privacy", "scrub", "--wait", "5", "--wal"])

    out = capsys.readouterr().out
    assert code == 0
    assert "key table scrubbed" in out
    assert "WAL switched" in out


def test_erasure_leaves_no_copy_of_the_duplicate_pseudonyms_in_the_database_files(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    # A name of its own, so that no other participant shares its pseudonyms.
    pid = register(client, auth, given_name="Tesfamichael", family_name="Okbazghi")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE lotse_duplicate_tokens")
        rows = conn.execute(
            "SELECT token FROM lotse_duplicate_tokens WHERE participant_id = %s", (pid,)
        ).fetchall()
    tokens = [bytes(r[0]) for r in rows]
    assert tokens
    directory = database_directory(database_url)
    if directory is None:
        pytest.skip("the server's data directory is not readable from here")
    assert files_holding(directory, tokens[0]), "the scan must find a token before the erasure"

    response = erase(client, coordinator(auth), pid)

    assert response.status_code == 200, response.text
    for token in tokens:
        found = files_holding(directory, token)
        assert found == [], relations_of(database_url, found)
