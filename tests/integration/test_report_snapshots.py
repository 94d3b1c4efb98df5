"""A report read side by side on several connections sees one snapshot (reports.snapshots)."""

from __future__ import annotations

from typing import Any

import asyncpg

from lotse.api.runtime import Runtime
from lotse.reports.definition import ReportRequest
from lotse.reports.periods import parse_period
from lotse.reports.service import compute
from lotse.reports.snapshots import fetch_all, report_settings, same_snapshot
from lotse.storage.keys import MasterKey
from tests.builders.projections import catch_up, run
from tests.integration.test_reports import build_dataset

PROBE = "snapshot_probe"


async def counts_after_a_write_inside_the_snapshot(url: str, pool_size: int) -> list[int]:
    """Every connection's count of a table to which a row is added once the block began."""
    setup = await asyncpg.connect(url)
    await setup.execute(f"CREATE TABLE IF NOT EXISTS {PROBE} (n int)")
    await setup.execute(f"DELETE FROM {PROBE}")
    await setup.execute(f"INSERT INTO {PROBE} VALUES (1), (2)")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=pool_size)
    try:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            await report_settings(conn)
            async with same_snapshot(conn, pool, helpers=2) as connections:
                await setup.execute(f"INSERT INTO {PROBE} VALUES (3)")  # committed now
                query = (f"SELECT count(*) FROM {PROBE}", ())
                results = await fetch_all(connections, [query] * 3)
                return [len(connections), *(int(rows[0][0]) for rows in results)]
    finally:
        await pool.close()
        await setup.close()


def test_helper_connections_see_the_first_connections_snapshot_not_a_later_write(
    runtime: Runtime,
) -> None:
    assert run(counts_after_a_write_inside_the_snapshot(runtime.database.url, 4)) == [3, 2, 2, 2]


def test_a_pool_with_no_spare_connection_reads_everything_on_the_one(runtime: Runtime) -> None:
    assert run(counts_after_a_write_inside_the_snapshot(runtime.database.url, 1)) == [1, 2, 2, 2]


def test_monitoring_read_side_by_side_equals_monitoring_read_on_one_connection(
    runtime: Runtime, master: MasterKey
) -> None:
    build_dataset(runtime)
    run(catch_up(runtime, master))

    async def both() -> tuple[Any, Any]:
        pool = await asyncpg.create_pool(runtime.database.url, min_size=1, max_size=4)
        try:
            async with pool.acquire() as conn:
                request = ReportRequest("monitoring", "durchstarten", parse_period("2021"))
                alone = await compute(conn, request, runtime.configuration)
                side_by_side = await compute(conn, request, runtime.configuration, pool=pool)
        finally:
            await pool.close()
        return alone, side_by_side

    alone, side_by_side = run(both())
    assert alone.source == side_by_side.source == "read_models"
    assert alone.position == side_by_side.position
    assert side_by_side.figures.cells == alone.figures.cells
    assert any(alone.figures.cells.values())
