"""Rebuild read models into fresh tables and swap them in, without downtime.

The live generation keeps serving (and the live runner keeps updating it) while
the new generation catches up from position 0. The swap takes the live tracking
rows' lock, applies the last events, points the views at the new tables and drops
the old ones, all in one transaction: readers see the old or the new tables,
never a mixture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from projections.model import Projection
from projections.runner import Runner
from projections.schema import (
    TRACKING,
    create_generation,
    create_indexes,
    ensure_projections,
    point_views,
)
from storage.keys import MasterKey


async def rebuild(
    pool: asyncpg.Pool,
    master: MasterKey,
    projections: Sequence[Projection[Any]],
    *,
    # Larger batches than the live runner's: a rebuild has the whole log to read, and
    # each batch's fixed work (keys, tracking rows, a store per read model) then
    # counts less (measured: 15,000 rebuilt about 15 % faster than 5,000).
    batch_size: int = 15_000,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Build new generations of ``projections`` and swap them in; returns them."""
    async with pool.acquire() as conn:
        await ensure_projections(conn, list(projections))
        generations: dict[str, int] = {}
        async with conn.transaction():
            for projection in projections:
                generation = await conn.fetchval(
                    f"SELECT max(generation) + 1 FROM {TRACKING} WHERE name = $1",
                    projection.name,
                )
                # Secondary indexes come after the catch-up: one sorted build per index
                # costs the database far less than maintaining it row by row (GIN most).
                await create_generation(conn, projection, generation, indexes=False)
                await conn.execute(
                    f"INSERT INTO {TRACKING} (name, generation, status) "
                    "VALUES ($1, $2, 'building')",
                    projection.name,
                    generation,
                )
                generations[projection.name] = generation
    runner = Runner(pool, master, projections, batch_size=batch_size, generations=generations)
    await runner.acquire(wait=False)
    try:
        await runner.catch_up(on_batch)
        async with pool.acquire() as conn:
            for projection in projections:
                await create_indexes(conn, projection, generations[projection.name])
        async with pool.acquire() as conn, conn.transaction():
            old = await conn.fetch(
                f"SELECT name, generation FROM {TRACKING} "
                "WHERE name = ANY($1) AND status = 'active' FOR UPDATE",
                list(generations),
            )
            # The live runner now waits for us: apply what was written meanwhile.
            while count := await runner.run_batch(conn):
                runner._commit_caches()
                if on_batch:
                    on_batch(count)
            errors = await conn.fetch(
                f"SELECT name, error FROM {TRACKING} WHERE name = ANY($1) "
                "AND generation = ANY($2) AND error IS NOT NULL",
                list(generations),
                list(generations.values()),
            )
            if errors:
                msg = "rebuild stopped: " + "; ".join(f"{r['name']}: {r['error']}" for r in errors)
                raise RuntimeError(msg)
            by_name = {p.name: p for p in projections}
            for row in old:
                await conn.execute(
                    f"UPDATE {TRACKING} SET status = 'retired' WHERE name = $1 AND generation = $2",
                    row["name"],
                    row["generation"],
                )
            for name, generation in generations.items():
                await conn.execute(
                    f"UPDATE {TRACKING} SET status = 'active' WHERE name = $1 AND generation = $2",
                    name,
                    generation,
                )
                await point_views(conn, by_name[name], generation)
            for row in old:
                for table in by_name[row["name"]].tables:
                    await conn.execute(f"DROP TABLE IF EXISTS {table.physical(row['generation'])}")
    finally:
        await runner.release()
    return generations
