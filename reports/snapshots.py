"""A report's queries side by side, on several connections that read one snapshot.

A report's figures must all come from one state of the read models, which is why
it reads them in one repeatable-read transaction. Its queries are independent of
each other, though: the statewide monitoring report groups the stays, the persons
and the characteristics (about 0.1, 0.4 and 0.5 s at 100,000 participants), and one
connection runs them one after the other on one core. PostgreSQL lets a
transaction export its snapshot (``pg_export_snapshot``) and other transactions
take it over (``SET TRANSACTION SNAPSHOT``), as ``pg_dump --jobs`` does: the helper
connections then see exactly what the first one sees, and the queries run in
parallel. Without a pool, or when the pool has no connection to spare at once, the
queries run on the one connection, as before: the same figures, later.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

#: Memory for one sort or hash of a report query (per report being computed).
REPORT_WORK_MEM = "64MB"

#: How long a report waits for a spare connection before it does without.
SPARE_CONNECTION_SECONDS = 0.2

#: What ``pg_export_snapshot`` returns (e.g. ``00000003-0000001B-1``); checked before
#: it is written into ``SET TRANSACTION SNAPSHOT``, which takes no parameters.
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")

Query = tuple[str, Sequence[Any]]


async def report_settings(conn: asyncpg.Connection) -> None:
    """Settings of a report's transaction, on every connection it reads with."""
    # Plans for the parameters at hand: from its sixth run on a connection,
    # PostgreSQL may reuse a generic plan of a prepared report query, blind to
    # "municipality IS NULL" and the period (measured: 1.5 s became 5-7 s for
    # the statewide financial report, bench/reports.py).
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    # A report aggregates hundreds of thousands of read-model rows once per
    # request: PostgreSQL's JIT compiled each query anew (tens of ms a query, and
    # no gain at this size), and the default work_mem (4 MB) sorted the
    # monitoring characteristics on disk. Measured on the statewide year (100,000
    # participants, alternating in one run under load): monitoring p50 3.1 s ->
    # 1.6 s; on a quiet host within noise (README, Reports benchmark).
    await conn.execute("SET LOCAL jit = off")
    await conn.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")


@contextlib.asynccontextmanager
async def same_snapshot(
    conn: asyncpg.Connection, pool: asyncpg.Pool | None, helpers: int
) -> AsyncIterator[list[asyncpg.Connection]]:
    """``conn`` and up to ``helpers`` spare connections of ``pool``, all in its snapshot.

    Call inside ``conn``'s repeatable-read transaction; the helpers' transactions
    end (read only, nothing to keep) when the block ends.
    """
    connections = [conn]
    if pool is None or helpers < 1:
        yield connections
        return
    snapshot = str(await conn.fetchval("SELECT pg_export_snapshot()"))
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        msg = "unexpected snapshot id from pg_export_snapshot()"
        raise RuntimeError(msg)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(helpers):
            try:
                helper = await stack.enter_async_context(
                    pool.acquire(timeout=SPARE_CONNECTION_SECONDS)
                )
            except TimeoutError:
                break  # a busy pool: the queries share the connections there are
            await stack.enter_async_context(
                helper.transaction(isolation="repeatable_read", readonly=True)
            )
            # The first statement of the transaction, as PostgreSQL requires.
            await helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            await report_settings(helper)
            connections.append(helper)
        yield connections


async def fetch_all(
    connections: Sequence[asyncpg.Connection], queries: Sequence[Query]
) -> list[list[asyncpg.Record]]:
    """Each query's rows, in order.

    The first queries run each on a connection of its own (so put the longest
    first), the rest one after another on the last connection. Every query runs to
    its end before an error is raised, so that no connection is handed back (or its
    transaction ended) while a statement still runs on it.
    """
    last = len(connections) - 1
    lanes: list[list[int]] = [[] for _ in connections]
    for i in range(len(queries)):
        lanes[min(i, last)].append(i)
    results: list[list[asyncpg.Record]] = [[] for _ in queries]

    async def run(conn: asyncpg.Connection, indexes: list[int]) -> None:
        for i in indexes:
            sql, args = queries[i]
            results[i] = await conn.fetch(sql, *args)

    outcomes = await asyncio.gather(
        *(run(c, lane) for c, lane in zip(connections, lanes, strict=True) if lane),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return results
