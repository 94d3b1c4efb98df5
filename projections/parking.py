"""Parked events: what one read model could not apply, and what an operator did about it.

An event that fails permanently for a read model (see ``projections.failures``)
is *parked* for that read model's generation: the model goes on without it, every
other model applies it as usual, and ``/health`` and ``lotse projections status``
turn red naming the model and the event's position until an operator either
retries it (after a fix) or skips it with a reason. Both are recorded in a table
of resolutions with who, when and why; a skip holds for every later generation
(a rebuild leaves the event out again, and does not park it anew).

Neither table holds event data or error messages, which may quote personal data:
only positions, the participant's pseudonymous id, the event's type, and the
error's type and SQLSTATE.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from lotse.projections.crypto import BatchCrypto, fetch_keys
from lotse.projections.failures import describe, is_permanent
from lotse.projections.model import Projection
from lotse.projections.records import decode
from lotse.storage.keys import MasterKey
from lotse.storage.log_head import EVENTS_TABLE

PARKED = "lotse_projection_parked"
RESOLUTIONS = "lotse_projection_resolutions"
_TRACKING = "lotse_projections"
_EVENTS = EVENTS_TABLE

PARKING_DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {PARKED} (
        name text NOT NULL,
        generation int NOT NULL,
        position bigint NOT NULL,
        originator_id uuid NOT NULL,
        originator_version int NOT NULL,
        topic text NOT NULL,
        error_type text NOT NULL,
        sqlstate text,
        parked_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, generation, position)
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {RESOLUTIONS} (
        id bigserial PRIMARY KEY,
        name text NOT NULL,
        position bigint NOT NULL,
        originator_id uuid NOT NULL,
        originator_version int NOT NULL,
        topic text NOT NULL,
        error_type text NOT NULL,
        sqlstate text,
        parked_at timestamptz NOT NULL,
        resolution text NOT NULL CHECK (resolution IN ('retried', 'skipped', 'rebuilt')),
        resolved_by text NOT NULL,
        resolved_at timestamptz NOT NULL DEFAULT now(),
        reason text
    )
    """,
    f"CREATE INDEX IF NOT EXISTS {RESOLUTIONS}_skips ON {RESOLUTIONS} (name, position) "
    "WHERE resolution = 'skipped'",
)

#: The longest reason a skip may carry.
REASON_MAX = 500

SELECT_HISTORY = (
    f"SELECT notification_id, originator_id, originator_version, topic, state FROM {_EVENTS} "
    "WHERE originator_id = $1 AND notification_id <= $2 ORDER BY originator_version"
)


class ParkingError(Exception):
    """An operator's request about parked events that cannot be carried out."""


@dataclass(frozen=True)
class EventRef:
    """The event a read model could not apply, identified without its data."""

    position: int
    originator_id: UUID
    originator_version: int


async def ensure_parking(conn: asyncpg.Connection) -> None:
    for statement in PARKING_DDL:
        await conn.execute(statement)


async def park(
    conn: asyncpg.Connection, name: str, generation: int, event: EventRef, error: BaseException
) -> None:
    """Record ``event`` as parked for the read model's generation (in the caller's batch)."""
    error_type, sqlstate = describe(error)
    await conn.execute(
        f"INSERT INTO {PARKED} (name, generation, position, originator_id, originator_version, "
        "topic, error_type, sqlstate) VALUES ($1, $2, $3, $4, $5, "
        f"(SELECT topic FROM {_EVENTS} WHERE notification_id = $3), $6, $7) "
        "ON CONFLICT (name, generation, position) DO UPDATE "
        "SET error_type = EXCLUDED.error_type, sqlstate = EXCLUDED.sqlstate",
        name,
        generation,
        event.position,
        event.originator_id,
        event.originator_version,
        error_type,
        sqlstate,
    )


async def excluded_positions(conn: asyncpg.Connection, name: str, generation: int) -> set[int]:
    """Positions the read model's generation goes without: parked, or skipped for good."""
    rows = await conn.fetch(
        f"SELECT position FROM {PARKED} WHERE name = $1 AND generation = $2 "
        f"UNION SELECT position FROM {RESOLUTIONS} WHERE name = $1 AND resolution = 'skipped'",
        name,
        generation,
    )
    return {r["position"] for r in rows}


async def parked_events(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Parked events of every live or building generation, oldest position first."""
    rows = await conn.fetch(
        f"SELECT p.name, p.generation, t.status, p.position, p.originator_id, "
        f"p.originator_version, p.topic, p.error_type, p.sqlstate, p.parked_at "
        f"FROM {PARKED} p JOIN {_TRACKING} t USING (name, generation) "
        "WHERE t.status <> 'retired' ORDER BY p.name, p.position, p.generation"
    )
    return [dict(r) for r in rows]


async def resolutions(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT name, position, originator_id, originator_version, topic, error_type, sqlstate, "
        f"parked_at, resolution, resolved_by, resolved_at, reason FROM {RESOLUTIONS} ORDER BY id"
    )
    return [dict(r) for r in rows]


async def _resolve(
    conn: asyncpg.Connection,
    row: Mapping[str, Any],
    resolution: str,
    by: str,
    reason: str | None,
) -> None:
    await conn.execute(
        f"INSERT INTO {RESOLUTIONS} (name, position, originator_id, originator_version, topic, "
        "error_type, sqlstate, parked_at, resolution, resolved_by, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        row["name"],
        row["position"],
        row["originator_id"],
        row["originator_version"],
        row["topic"],
        row["error_type"],
        row["sqlstate"],
        row["parked_at"],
        resolution,
        by,
        reason,
    )


def check_text(what: str, value: str, *, limit: int = REASON_MAX) -> str:
    """Refuse an empty or overlong value, or one with control or format characters
    (they forge log lines and terminal output); the value itself is never quoted."""
    value = value.strip()
    if not value:
        msg = f"{what} must not be empty"
        raise ParkingError(msg)
    if len(value) > limit:
        msg = f"{what} must be at most {limit} characters"
        raise ParkingError(msg)
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        msg = f"{what} must not contain control characters"
        raise ParkingError(msg)
    return value


async def skip(conn: asyncpg.Connection, name: str, position: int, *, reason: str, by: str) -> int:
    """Resolve a parked event by leaving it out of the read model for good; recorded."""
    reason = check_text("the reason", reason)
    by = check_text("the operator's name", by, limit=100)
    async with conn.transaction():
        rows = await conn.fetch(
            f"DELETE FROM {PARKED} p USING {_TRACKING} t WHERE p.name = $1 AND p.position = $2 "
            "AND t.name = p.name AND t.generation = p.generation AND t.status <> 'retired' "
            "RETURNING p.*",
            name,
            position,
        )
        if not rows:
            msg = f"no event is parked for read model {name!r} at position {position}"
            raise ParkingError(msg)
        await _resolve(conn, rows[0], "skipped", by, reason)
        await _reset(conn, name, {r["generation"] for r in rows})
    return len(rows)


async def _reset(conn: asyncpg.Connection, name: str, generations: Iterable[int]) -> None:
    """Make a runner drop its cached states of the model (they may now be wrong)."""
    await conn.execute(
        f"UPDATE {_TRACKING} SET resets = resets + 1 WHERE name = $1 AND generation = ANY($2)",
        name,
        list(generations),
    )


@dataclass(frozen=True)
class RetryOutcome:
    name: str
    generation: int
    position: int
    #: ``None`` when the event now applies; else the error type (it stays parked).
    error: str | None


async def retry(
    conn: asyncpg.Connection,
    master: MasterKey,
    projections: Mapping[str, Projection[Any]],
    *,
    name: str | None = None,
    position: int | None = None,
    by: str,
) -> list[RetryOutcome]:
    """Apply parked events again, in position order; those that apply leave the list.

    Each one's participant is folded again from the stored history with the event
    included (and what is still parked or skipped left out), and its rows replaced,
    in a savepoint: an event that still fails stays parked, the others go on.
    The tracking rows are locked meanwhile, so a running runner waits.
    """
    by = check_text("the operator's name", by, limit=100)
    outcomes: list[RetryOutcome] = []
    async with conn.transaction():
        tracks = await conn.fetch(
            f"SELECT name, generation, position FROM {_TRACKING} WHERE status <> 'retired' "
            "AND ($1::text IS NULL OR name = $1) ORDER BY name, generation FOR UPDATE",
            name,
        )
        for track in tracks:
            projection = projections.get(track["name"])
            if projection is None:
                continue
            rows = await conn.fetch(
                f"SELECT * FROM {PARKED} WHERE name = $1 AND generation = $2 "
                "AND ($3::bigint IS NULL OR position = $3) ORDER BY position",
                track["name"],
                track["generation"],
                position,
            )
            for row in rows:
                try:
                    async with conn.transaction():
                        await conn.execute(
                            f"DELETE FROM {PARKED} WHERE name = $1 AND generation = $2 "
                            "AND position = $3",
                            row["name"],
                            row["generation"],
                            row["position"],
                        )
                        excluded = await excluded_positions(conn, row["name"], row["generation"])
                        await refold(
                            conn,
                            master,
                            projection,
                            row["generation"],
                            row["originator_id"],
                            track["position"],
                            excluded,
                        )
                        await _resolve(conn, row, "retried", by, None)
                except Exception as error:
                    if not is_permanent(error):
                        raise
                    outcomes.append(
                        RetryOutcome(
                            row["name"], row["generation"], row["position"], describe(error)[0]
                        )
                    )
                else:
                    outcomes.append(
                        RetryOutcome(row["name"], row["generation"], row["position"], None)
                    )
            if rows:
                await _reset(conn, track["name"], [track["generation"]])
    return outcomes


async def refold(
    conn: asyncpg.Connection,
    master: MasterKey,
    projection: Projection[Any],
    generation: int,
    participant_id: UUID,
    up_to: int,
    excluded: set[int],
) -> None:
    """Fold one participant's stored history again and replace its rows."""
    keys = await fetch_keys(conn, master, [participant_id])
    key = keys.get(participant_id)
    found = await conn.fetch(SELECT_HISTORY, participant_id, up_to)
    history = [
        (e, e.opened(key)) for e in (decode(*r) for r in found) if e.position not in excluded
    ]
    state = projection.fold_history(participant_id, history)
    rows = projection.rows(state, BatchCrypto(master, keys))
    await replace_rows(conn, projection, generation, participant_id, rows)


async def replace_rows(
    conn: asyncpg.Connection,
    projection: Projection[Any],
    generation: int,
    participant_id: UUID,
    rows: Mapping[str, list[tuple[Any, ...]]],
) -> None:
    for table in projection.tables:
        physical = table.physical(generation)
        await conn.execute(f"DELETE FROM {physical} WHERE {table.key} = $1", participant_id)
        if rows.get(table.name):
            await conn.copy_records_to_table(
                physical, records=rows[table.name], columns=table.column_names
            )


async def carry_over(conn: asyncpg.Connection, name: str, old: int, new: int) -> None:
    """At a rebuild's swap: the retired generation's parked events leave the list.

    One the new generation parked again stays parked there; one the new generation
    applied (the code was fixed meanwhile) is recorded as resolved by the rebuild.
    """
    rows = await conn.fetch(
        f"DELETE FROM {PARKED} WHERE name = $1 AND generation = $2 RETURNING *", name, old
    )
    again = {
        r["position"]
        for r in await conn.fetch(
            f"SELECT position FROM {PARKED} WHERE name = $1 AND generation = $2", name, new
        )
    }
    for row in rows:
        if row["position"] not in again:
            await _resolve(conn, row, "rebuilt", "rebuild", None)
