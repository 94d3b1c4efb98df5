"""The test database between tests."""

from __future__ import annotations

import psycopg


def empty_tables(database_url: str) -> None:
    """Empty every Lotse table: each test (or browser test module) starts from nothing."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        existing = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
        tables = [t for t in existing if t.startswith("lotse_")]
        if tables:
            # The append-only guard refuses TRUNCATE; the suite runs as superuser
            # and skips triggers for this session, as only an admin could.
            conn.execute("SET session_replication_role = replica")
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY")
