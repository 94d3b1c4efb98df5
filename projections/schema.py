"""Read-model tables, generations and the tracking table.

Each projection has numbered *generations* of physical tables
(``rm_participants_g2``) and one stable view per table (``rm_participants``) that
the API queries. A rebuild fills a new generation while the live one keeps
serving, then swaps the views in one transaction. The tracking table records each
generation's position in the notification log, updated in the same transaction as
the rows, which is what makes every event count exactly once.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from lotse.projections.model import Projection
from lotse.projections.parking import ensure_parking, parked_events
from lotse.storage.log_head import EVENTS_TABLE, log_head

TRACKING = "lotse_projections"
EVENTS = EVENTS_TABLE

TRACKING_DDL = f"""
CREATE TABLE IF NOT EXISTS {TRACKING} (
    name text NOT NULL,
    generation int NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'building', 'retired')),
    position bigint NOT NULL DEFAULT 0,
    error text,
    error_position bigint,
    resets bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
)
"""


async def ensure_tracking(conn: asyncpg.Connection) -> None:
    # Serialise schema creation between processes starting at the same time.
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lotse-projection-schema'))")
        await conn.execute(TRACKING_DDL)
        # ``resets`` tells a runner to drop its cached states (an operator retried
        # or skipped a parked event); tables made before it get it here.
        await conn.execute(
            f"ALTER TABLE {TRACKING} ADD COLUMN IF NOT EXISTS resets bigint NOT NULL DEFAULT 0"
        )
        await ensure_parking(conn)


async def create_generation(
    conn: asyncpg.Connection, projection: Projection[Any], generation: int, *, indexes: bool = True
) -> None:
    """The generation's tables; ``indexes=False`` leaves out all but the primary keys
    (a rebuild fills the tables first and builds them with ``create_indexes``)."""
    for table in projection.tables:
        # CASCADE: a stale view may still point at a leftover table of this number.
        await conn.execute(f"DROP TABLE IF EXISTS {table.physical(generation)} CASCADE")
        statements = table.ddl(generation)
        for statement in statements if indexes else statements[:1]:
            await conn.execute(statement)


async def create_indexes(
    conn: asyncpg.Connection, projection: Projection[Any], generation: int
) -> None:
    """The secondary indexes of a generation's tables (idempotent)."""
    for table in projection.tables:
        for statement in table.ddl(generation)[1:]:
            await conn.execute(statement)


async def point_views(
    conn: asyncpg.Connection, projection: Projection[Any], generation: int
) -> None:
    for table in projection.tables:
        await conn.execute(f"DROP VIEW IF EXISTS {table.name}")
        await conn.execute(
            f"CREATE VIEW {table.name} AS SELECT * FROM {table.physical(generation)}"
        )


async def ensure_projections(conn: asyncpg.Connection, projections: list[Projection[Any]]) -> None:
    """Give every projection an active generation (the first start creates generation 1)."""
    await ensure_tracking(conn)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lotse-projection-schema'))")
        for projection in projections:
            active = await conn.fetchval(
                f"SELECT generation FROM {TRACKING} WHERE name = $1 AND status = 'active'",
                projection.name,
            )
            if active is None:
                generation = await conn.fetchval(
                    f"SELECT coalesce(max(generation), 0) + 1 FROM {TRACKING} WHERE name = $1",
                    projection.name,
                )
                await create_generation(conn, projection, generation)
                await point_views(conn, projection, generation)
                await conn.execute(
                    f"INSERT INTO {TRACKING} (name, generation, status) VALUES ($1, $2, 'active')",
                    projection.name,
                    generation,
                )


async def status(conn: asyncpg.Connection) -> tuple[int, list[dict[str, Any]]]:
    """The log head and every live or building generation with its lag and the
    positions of its parked events (``parked``)."""
    head = await log_head(conn)
    rows = await conn.fetch(
        f"SELECT name, generation, status, position, error, error_position, updated_at "
        f"FROM {TRACKING} WHERE status <> 'retired' ORDER BY name, generation"
    )
    parked: dict[tuple[str, int], list[int]] = {}
    for p in await parked_events(conn):
        parked.setdefault((p["name"], p["generation"]), []).append(p["position"])
    return head, [
        {
            **dict(r),
            "lag": head - r["position"],
            "parked": parked.get((r["name"], r["generation"]), []),
        }
        for r in rows
    ]
