"""Where report rows come from: the read models now, or a replay of the log at a position.

The read models answer at their own position (all projections a report needs must
be at the same one, read in one snapshot). A report at an older position, and the
check that the read models are right, replay the events up to that position
through the same pure folds, exactly as the runner applies them: event by event,
refolding from the history on a correction where the projection does
(``Projection.refolds_on``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.model import Crypto, Projection
from lotse.projections.records import EventRecord, decode
from lotse.projections.schema import EVENTS, TRACKING

Rows = dict[str, list[dict[str, Any]]]

_HISTORIES = (
    f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
    "WHERE notification_id <= $1 ORDER BY originator_id, originator_version"
)
_LATE_PARTICIPANTS = (
    f"SELECT DISTINCT originator_id FROM {EVENTS} "
    "WHERE notification_id > $1 AND notification_id <= $2"
)
_HISTORY_OF = (
    f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
    "WHERE originator_id = ANY($1::uuid[]) AND notification_id <= $2 "
    "ORDER BY originator_id, originator_version"
)


class NoCrypto(Crypto):
    """Report read models hold no names: nothing to seal."""

    def seal(self, participant_id: UUID, values: dict[str, Any]) -> bytes | None:
        return None

    def index(self, text: str) -> list[bytes]:
        return []


@dataclass
class Fold:
    """One projection's fold of one participant, stepped event by event like the runner."""

    projection: Projection[Any]
    participant_id: UUID
    state: Any = None
    history: list[tuple[EventRecord, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = self.projection.empty(self.participant_id)

    def step(self, event: EventRecord) -> None:
        self.history.append((event, {}))
        if self.projection.refolds_on(event):
            self.state = self.projection.fold_history(self.participant_id, self.history)
        else:
            self.state = self.projection.apply(self.state, event, {})

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = {}
        tables = {t.name: t for t in self.projection.tables}
        for table_name, tuples in self.projection.rows(self.state, NoCrypto()).items():
            columns = tables[table_name].column_names
            result[table_name] = [dict(zip(columns, t, strict=True)) for t in tuples]
        return result


def _projections(names: Sequence[str]) -> list[Projection[Any]]:
    return [PROJECTIONS[n] for n in names]


def _collect(rows: Rows, fold: Fold) -> None:
    """A fold's rows under its model's name; a model of several tables by table."""
    projection = fold.projection
    for table_name, table_rows in fold.rows().items():
        key = projection.name if len(projection.tables) == 1 else table_name
        rows.setdefault(key, []).extend(table_rows)


def _folds(projections: Sequence[Projection[Any]], events: list[EventRecord]) -> list[Fold]:
    """A fold per model that follows this kind of stream (participant, course)."""
    kind = events[0].aggregate
    return [Fold(p, events[0].participant_id) for p in projections if p.aggregate == kind]


def _rows_of(folds: Iterable[Fold], names: Sequence[str]) -> Rows:
    rows: Rows = {n: [] for n in names}
    for fold in folds:
        _collect(rows, fold)
    return rows


async def _participants(
    conn: asyncpg.Connection, query: str, *args: Any
) -> AsyncIterator[list[EventRecord]]:
    """Each participant's events in version order, streamed (bounded memory)."""
    current: list[EventRecord] = []
    async for record in conn.cursor(query, *args, prefetch=5000):
        event = decode(*record)
        if current and current[0].participant_id != event.participant_id:
            yield current
            current = []
        current.append(event)
    if current:
        yield current


async def replay(conn: asyncpg.Connection, position: int, names: Sequence[str]) -> Rows:
    """The named read models' rows as they were at ``position``, from the events alone."""
    rows: Rows = {n: [] for n in names}
    projections = _projections(names)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for events in _participants(conn, _HISTORIES, position):
            for fold in _folds(projections, events):
                for event in events:
                    fold.step(event)
                _collect(rows, fold)
    return rows


@dataclass
class LateEvent:
    """An event recorded after a run, with the rows before and after it was applied."""

    event: EventRecord
    before: Rows
    after: Rows


async def late_events(
    conn: asyncpg.Connection, position: int, head: int, names: Sequence[str]
) -> list[LateEvent]:
    """Every event in (position, head], each with its participant's rows around it."""
    projections = _projections(names)
    found: list[LateEvent] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        ids = [r[0] for r in await conn.fetch(_LATE_PARTICIPANTS, position, head)]
        if not ids:
            return []
        histories = [decode(*r) for r in await conn.fetch(_HISTORY_OF, ids, head)]
    by_participant: dict[UUID, list[EventRecord]] = {}
    for event in histories:
        by_participant.setdefault(event.participant_id, []).append(event)
    for events in by_participant.values():
        folds = _folds(projections, events)
        for event in events:
            if event.position <= position:
                for fold in folds:
                    fold.step(event)
                continue
            before = _rows_of(folds, names)
            for fold in folds:
                fold.step(event)
            found.append(LateEvent(event, before, _rows_of(folds, names)))
    found.sort(key=lambda late: late.event.position)
    return found


async def read_model_position(conn: asyncpg.Connection, names: Sequence[str]) -> int | None:
    """The common position of the named read models, or None if they differ or one stopped.

    Call inside the snapshot (repeatable read) that also reads the rows.
    """
    rows = await conn.fetch(
        f"SELECT name, position, error FROM {TRACKING} WHERE name = ANY($1) AND status = 'active'",
        list(names),
    )
    if len(rows) != len(set(names)) or any(r["error"] is not None for r in rows):
        return None
    positions = {int(r["position"]) for r in rows}
    return positions.pop() if len(positions) == 1 else None
