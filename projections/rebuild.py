"""Rebuild read models into fresh tables and swap them in, without downtime.

The live generation keeps serving (and the live runner keeps updating it) while
the new generation catches up from position 0. The swap takes the live tracking
rows' lock, applies the last events, points the views at the new tables and drops
the old ones, all in one transaction: readers see the old or the new tables,
never a mixture.

An event a read model cannot apply is parked for the new generation as the live
runner parks it (``projections.parking``): the rebuild completes without it, and the
parked entry replaces the old generation's at the swap. Skipped events stay out.

The catch-up is bound by one Python core (decoding, folding, building rows). With
``processes`` > 1 the read models are split into groups, each caught up by a
runner in a process of its own (each reads the whole log; the folds are what is
shared out), and this process then applies what arrived since, builds the
indexes and swaps, as with one process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from lotse.projections.model import Projection
from lotse.projections.parking import carry_over
from lotse.projections.runner import ProjectionBusyError, Runner
from lotse.projections.schema import (
    TRACKING,
    create_generation,
    create_indexes,
    ensure_projections,
    point_views,
)
from lotse.storage.keys import MasterKey


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
    processes: int = 1,
    database_url: str | None = None,
    server_settings: dict[str, str] | None = None,
) -> dict[str, int]:
    """Build new generations of ``projections`` and swap them in; returns them.

    ``processes`` > 1 needs ``database_url`` (the processes open their own
    connections, with ``server_settings``).
    """
    if processes <= 1 or database_url is None:
        # This process's runner takes the read models' rebuild locks at the start.
        return await _rebuild(
            pool, master, projections, batch_size, on_batch, 1, None, server_settings
        )
    # One rebuild at a time: with the catch-up in other processes, the read models'
    # own locks are not held by this process all along. The lock is held on a
    # connection of its own: one taken from the pool would be missing there (a
    # small pool shared with a live runner could starve).
    guard = await asyncpg.connect(database_url, server_settings=server_settings)
    try:
        if not await guard.fetchval("SELECT pg_try_advisory_lock(hashtext('lotse-rebuild'))"):
            msg = "another rebuild is running"
            raise ProjectionBusyError(msg)
        return await _rebuild(
            pool,
            master,
            projections,
            batch_size,
            on_batch,
            processes,
            database_url,
            server_settings,
        )
    finally:
        await guard.close()  # ends the session, and its lock


async def _rebuild(
    pool: asyncpg.Pool,
    master: MasterKey,
    projections: Sequence[Projection[Any]],
    batch_size: int,
    on_batch: Callable[[int], None] | None,
    processes: int,
    database_url: str | None,
    server_settings: dict[str, str] | None,
) -> dict[str, int]:
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
    groups = split(projections, processes)
    if len(groups) > 1:
        assert database_url is not None
        await catch_up_in_processes(
            database_url, master, groups, generations, batch_size, on_batch, server_settings
        )
        on_batch = None  # the first group reported the log's progress
    runner = Runner(pool, master, projections, batch_size=batch_size, generations=generations)
    await runner.acquire(wait=False)
    try:
        # All of the log, or (after the processes) what was written meanwhile.
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
                # An event the new generation could not apply either stays parked
                # (there); the rebuild does not fail on it, as the live runner does not.
                await carry_over(conn, row["name"], row["generation"], generations[row["name"]])
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


#: Rough relative cost of each read model in a rebuild, to split them into groups of
#: about equal work: the participants seal and index names, the timeline writes a row
#: per event, units a row per course month; the others a few rows per participant.
COSTS = {
    "participants": 3,
    "timeline": 3,
    "units": 2,
    "module_stays": 1,
    "outcomes": 1,
    "transitions": 1,
    "referrals": 1,
    "person_facts": 1,
    "person_links": 1,
}


def default_processes() -> int:
    """Processes for a rebuild: one per core, at most two (three groups would each
    read and decode the whole log again for less and less fold work)."""
    return max(1, min(2, os.cpu_count() or 1))


def split(projections: Sequence[Projection[Any]], processes: int) -> list[list[Projection[Any]]]:
    """At most ``processes`` groups of about equal cost, heaviest first."""
    count = max(1, min(processes, len(projections)))
    groups: list[list[Projection[Any]]] = [[] for _ in range(count)]
    load = [0] * count
    for projection in sorted(projections, key=lambda p: -COSTS.get(p.name, 1)):
        lightest = load.index(min(load))
        groups[lightest].append(projection)
        load[lightest] += COSTS.get(projection.name, 1)
    return [g for g in groups if g]


async def catch_up_in_processes(
    database_url: str,
    master: MasterKey,
    groups: list[list[Projection[Any]]],
    generations: dict[str, int],
    batch_size: int,
    on_batch: Callable[[int], None] | None,
    server_settings: dict[str, str] | None,
) -> None:
    """Catch each group's generations up in a process of its own; wait for all."""
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    children = [
        context.Process(
            target=_catch_up_child,
            args=(
                reports,
                database_url,
                master.to_text(),
                group,
                {p.name: generations[p.name] for p in group},
                batch_size,
                reports if i == 0 else None,
                server_settings,
            ),
        )
        for i, group in enumerate(groups)
    ]
    for child in children:
        child.start()
    failure: tuple[str, str] | None = None
    try:
        while any(child.is_alive() for child in children) or not reports.empty():
            try:
                kind, value = reports.get_nowait()
            except queue.Empty:
                await asyncio.sleep(0.05)
                continue
            if kind == "batch" and on_batch is not None:
                on_batch(value)
            elif kind == "error" and failure is None:
                failure = value
                for child in children:
                    child.terminate()
    finally:
        for child in children:
            child.join()
    if failure is None and any(child.exitcode != 0 for child in children):
        failure = ("RuntimeError", "a rebuild process ended without finishing")
    if failure is not None:
        kind, message = failure
        if kind == "ProjectionBusyError":
            raise ProjectionBusyError(message)
        msg = f"rebuild failed in a rebuild process: {kind}: {message}"
        raise RuntimeError(msg)


def _catch_up_child(reports: Any, *catch_up_args: Any) -> None:
    """A rebuild process: :func:`_catch_up`, its failure reported to the parent."""
    try:
        asyncio.run(_catch_up(*catch_up_args))
    except BaseException as error:
        # The type and our own message: runner errors never quote event data.
        reports.put(("error", (type(error).__name__, str(error))))
        raise SystemExit(1) from None


async def _catch_up(
    database_url: str,
    master_text: str,
    projections: list[Projection[Any]],
    generations: dict[str, int],
    batch_size: int,
    progress: Any,
    server_settings: dict[str, str] | None,
) -> None:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=4, server_settings=server_settings
    )
    try:
        runner = Runner(
            pool,
            MasterKey.from_text(master_text),
            projections,
            batch_size=batch_size,
            generations=generations,
        )
        await runner.acquire(wait=False)
        try:
            await runner.catch_up(
                (lambda n: progress.put(("batch", n))) if progress is not None else None
            )
        finally:
            await runner.release()
    finally:
        await pool.close()
