"""The log head: the position (notification id) of the newest stored event.

Read models, reports, verification and the bulk recorder all ask it; one query
so that they agree on what an empty log is (head 0, the genesis position).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from psycopg import Cursor

EVENTS_TABLE = "lotse_events"


def head_query(events_table: str = EVENTS_TABLE) -> str:
    """The query for the head, one column named ``head``; 0 on an empty log."""
    return f"SELECT coalesce(max(notification_id), 0) AS head FROM {events_table}"


async def log_head(
    conn: asyncpg.Connection | asyncpg.Pool, events_table: str = EVENTS_TABLE
) -> int:
    """The head, read through asyncpg (a connection or a pool)."""
    return int(await conn.fetchval(head_query(events_table)))


def log_head_sync(curs: Cursor[Any], events_table: str = EVENTS_TABLE) -> int:
    """The head, read through a psycopg cursor of any row factory."""
    curs.execute(head_query(events_table))
    row = curs.fetchone()
    if row is None:
        return 0
    return int(row["head"] if isinstance(row, dict) else row[0])
