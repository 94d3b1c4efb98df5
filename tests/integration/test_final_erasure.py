"""Erasure is final: no copy of a destroyed key stays readable in the database files.

PostgreSQL never overwrites a row in place: destroying a key (an UPDATE) leaves the
old row version, with the wrapped key, in the table file until it is reclaimed, and
even a reclaimed row's bytes may stay in the page. These tests read the database's
files from disk (after a CHECKPOINT) and search them for the wrapped key captured
before the erasure, so they see what a copy of the data directory would show.
"""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import Auth
from tests.integration.test_privacy import coordinator, erase, register, wrapped_key
from tests.raw_pages import database_directory, files_holding

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
    assert files_holding(directory, old_key) == []
    # The others' keys are untouched and still open their data.
    assert all(wrapped_key(database_url, other) is not None for other in others)
    assert client.get(f"/participants/{others[0]}", headers=auth()).status_code == 200
