"""The projection runner: batches of events into every read model, exactly once.

One batch = one transaction: the rows of every projection and each projection's new
position are committed together, so a crash anywhere inside a batch leaves the
read models exactly as they were before it, and the next run repeats the batch.
Each projection stores its rows in its own savepoint. An error is either
transient (connection loss, shutdown, deadlock: the batch is rolled back and
tried again with backoff) or permanent (see ``projections.failures``). A permanent
one, whether raised while folding, building rows or storing them, makes the
runner apply that projection's part of the batch again participant by participant,
and then event by event, each in a savepoint, to find the event at fault: that
event is *parked* for that projection alone (``projections.parking``), which goes
on without it, while every other projection applies it as usual. Nothing is
skipped silently: /health and ``lotse projections status`` name the parked events
until an operator retries or skips them.

(The store ran in a savepoint before, but its error surfaced outside the code that
handled a projection's failure, so one value PostgreSQL refused rolled back the
whole batch, over and over, for every read model.)

Only one runner per projection may be active: each runner holds a session-level
advisory lock per projection for its lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg

from lotse.projections.corrections import Identifiers
from lotse.projections.crypto import BatchCrypto, fetch_keys
from lotse.projections.failures import describe, is_permanent
from lotse.projections.model import Projection
from lotse.projections.parking import EventRef, excluded_positions, park, replace_rows
from lotse.projections.records import EventRecord, decode
from lotse.projections.schema import EVENTS, TRACKING, ensure_projections
from lotse.storage.keys import MasterKey

log = logging.getLogger(__name__)

SELECT_BATCH = (
    f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
    "WHERE notification_id > $1 ORDER BY notification_id LIMIT $2"
)
SELECT_HISTORY = (
    f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} "
    "WHERE originator_id = ANY($1::uuid[]) AND notification_id <= $2 "
    "ORDER BY originator_id, originator_version"
)


#: Participants folded between two chances for a store in flight to go on.
YIELD_EVERY = 64
#: During a catch-up, batches between two full collections of cyclic garbage. Batches
#: make none that was measured (0 objects per 20 batches), while a full collection over
#: a full cache costs about 0.3 s: so rarely, as a bound, not as a routine.
GC_EVERY_BATCHES = 100
#: The shortest time between two live catch-ups (see ``Runner.run_forever``).
LIVE_MIN_INTERVAL_SECONDS = 0.05
#: Backoff after a transient error: the first wait, doubled up to the longest.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


def _lost(conn: asyncpg.Connection) -> bool:
    """Whether a pooled connection's session is gone (the pool detaches a lost one)."""
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:
        return True


class ProjectionBusyError(Exception):
    """Another runner holds this projection."""


@dataclass
class Target:
    """One projection generation the runner writes to."""

    projection: Projection[Any]
    generation: int
    position: int
    cache: OrderedDict[UUID, Any] = field(default_factory=OrderedDict)
    #: Events folded into each cached state, and their sum: what the cache's memory
    #: follows (a timeline state keeps a row per event), so what bounds it.
    weights: dict[UUID, int] = field(default_factory=dict)
    weight: int = 0
    #: For a model with ``appends_rows``: the rows last committed per cached
    #: participant, per table, so that a batch writes only the rows it adds.
    written: dict[UUID, dict[str, list[tuple[Any, ...]]]] = field(default_factory=dict)
    #: Positions this generation goes without: its parked events, and skipped ones.
    excluded: set[int] = field(default_factory=set)
    #: The tracking row's ``resets`` as last seen: a change drops the cached states.
    resets: int = 0

    def unseen(self, events: list[EventRecord]) -> list[EventRecord]:
        """The events this generation has still to apply (after its position, not excluded)."""
        if events[0].position > self.position and not self.excluded:
            return events  # the usual case: none of them seen yet
        return [e for e in events if e.position > self.position and e.position not in self.excluded]

    def without_excluded(
        self, history: list[tuple[EventRecord, Identifiers]]
    ) -> list[tuple[EventRecord, Identifiers]]:
        if not self.excluded:
            return history
        return [(e, i) for e, i in history if e.position not in self.excluded]


class Runner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        master: MasterKey,
        projections: Sequence[Projection[Any]],
        *,
        batch_size: int = 2000,
        cache_size: int = 20_000,
        cache_events: int = 50_000,
        generations: dict[str, int] | None = None,
        fault: Callable[[str], None] | None = None,
    ):
        """``generations`` pins a runner to building generations (rebuild); by default
        it follows each projection's active generation. ``fault`` is called at named
        points inside a batch; tests use it to crash the runner there.

        Each projection's cache of fold states holds at most ``cache_size`` participants
        and at most ``cache_events`` events folded into them (measured: about 2 KB of
        memory per cached event over all read models). A bound on participants alone
        let a rebuild's memory grow with the log up to 20,000 full histories (by that
        measure about 1 GB on the demo data); a miss only costs a refold from the
        event table."""
        self.pool = pool
        self.master = master
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self.cache_size = cache_size
        self.cache_events = cache_events
        self.pinned = generations
        self.fault = fault or (lambda _point: None)
        self.targets: dict[str, Target] = {}
        self._lock_conn: asyncpg.Connection | None = None
        self._locked = False
        self._wake = asyncio.Event()
        self._prefetch: tuple[int, asyncio.Task[list[EventRecord]]] | None = None
        self._prefetch_allowed = True
        self._pending: tuple[int, dict[str, dict[UUID, Any]]] = (0, {})
        self._pending_versions: dict[UUID, int] = {}
        self._pending_rows: dict[str, dict[UUID, dict[str, list[tuple[Any, ...]]]]] = {}

    # -------------------------------------------------------------- locking

    async def acquire(
        self,
        *,
        wait: bool = True,
        poll_seconds: float = 2.0,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Take each projection's advisory lock; wait for, or refuse, a running runner.

        While waiting, ``stop`` ends the wait at once (the locks not taken): a
        worker whose runner stands by for another's shuts down without lingering.
        """
        if self._lock_conn is not None and _lost(self._lock_conn):
            # The session that held the locks is gone (connection lost, backend
            # terminated), and with it the locks: take them again before going on.
            log.warning("projection runner: lost its lock connection; taking the locks again")
            await self._drop_lock_conn()
        if self._locked:
            return
        if self._lock_conn is None:
            self._lock_conn = await self.pool.acquire()
            await ensure_projections(self._lock_conn, list(self.projections.values()))
        suffix = ":rebuild" if self.pinned else ""
        for name in self.projections:
            while not await self._lock_conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", f"lotse-projection:{name}{suffix}"
            ):
                if not wait:
                    msg = f"another runner is already running projection {name!r}"
                    raise ProjectionBusyError(msg)
                log.info("projection %s is run by another runner: waiting", name)
                if stop is None:
                    await asyncio.sleep(poll_seconds)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
                if stop.is_set():
                    return
        self._locked = True

    async def release(self) -> None:
        await self._drop_lock_conn()

    async def _drop_lock_conn(self) -> None:
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            prefetch[1].cancel()
            with contextlib.suppress(BaseException):
                await prefetch[1]
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                if not _lost(self._lock_conn):
                    await self._lock_conn.execute("SELECT pg_advisory_unlock_all()")
            with contextlib.suppress(Exception):
                await self.pool.release(self._lock_conn)
            self._lock_conn = None
        self._locked = False

    # ---------------------------------------------------------------- batches

    async def _targets(self, conn: asyncpg.Connection) -> list[Target]:
        """Lock and read the tracking rows; follow generation changes (swaps)."""
        names = list(self.projections)
        if self.pinned:
            rows = await conn.fetch(
                f"SELECT name, generation, position, error, resets FROM {TRACKING} "
                "WHERE name = ANY($1) AND generation = ANY($2) "
                "ORDER BY name, generation FOR UPDATE",
                names,
                [self.pinned[n] for n in names],
            )
            rows = [r for r in rows if r["generation"] == self.pinned[r["name"]]]
        else:
            rows = await conn.fetch(
                f"SELECT name, generation, position, error, resets FROM {TRACKING} "
                "WHERE name = ANY($1) AND status = 'active' ORDER BY name FOR UPDATE",
                names,
            )
        targets = []
        for row in rows:
            # (``error`` is what earlier versions set to stop a projection for good;
            # this one parks the event instead, and clears it with the next batch.)
            target = self.targets.get(row["name"])
            if (
                target is None
                or target.generation != row["generation"]
                or target.position != row["position"]
                or target.resets != row["resets"]
            ):
                # New generation, someone else moved it, or an operator retried or
                # skipped a parked event: cached states may be stale.
                target = Target(self.projections[row["name"]], row["generation"], row["position"])
                target.resets = row["resets"]
                target.excluded = await excluded_positions(conn, row["name"], row["generation"])
                self.targets[row["name"]] = target
            targets.append(target)
        return targets

    async def run_batch(self, conn: asyncpg.Connection) -> int:
        """Apply the next batch inside the caller's transaction (the rebuild's swap).

        No read-ahead here: the caller holds locks that other pool users may be
        waiting for, so this must not wait for a pool connection of its own.
        """
        self._prefetch_allowed = False
        try:
            return await self._run_batch(conn)
        finally:
            self._prefetch_allowed = True

    async def _run_batch(self, conn: asyncpg.Connection) -> int:
        targets = await self._targets(conn)
        if not targets:
            return 0
        start = min(t.position for t in targets)
        records = await self._records_after(conn, start)
        if not records:
            return 0
        self.fault("after-read")
        reader = self._lock_conn
        if len(records) == self.batch_size and self._prefetch_allowed and reader is not None:
            # Read and decode the next batch while the database writes this one:
            # committed events never change, and the lock that orders the log
            # means nothing can appear later below what is visible now.
            self._prefetch = (
                records[-1].position,
                asyncio.create_task(self._read(reader, records[-1].position)),
            )
        by_participant: OrderedDict[UUID, list[EventRecord]] = OrderedDict()
        for record in records:
            by_participant.setdefault(record.participant_id, []).append(record)
        keys = await fetch_keys(conn, self.master, by_participant)
        crypto = BatchCrypto(self.master, keys)
        histories: dict[UUID, list[tuple[EventRecord, Identifiers]]] = {}

        async def history(pid: UUID, up_to: int) -> list[tuple[EventRecord, Identifiers]]:
            if pid not in histories:
                found = await conn.fetch(SELECT_HISTORY, [pid], records[-1].position)
                histories[pid] = [(e, e.opened(keys.get(pid))) for e in (decode(*r) for r in found)]
            return [(e, i) for e, i in histories[pid] if e.position <= up_to]

        # Plan each statement for its own arguments: a prepared DELETE first run on a
        # generation's empty tables otherwise keeps a generic sequential-scan plan
        # (seen in rebuilds: every batch scanned three whole tables).
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        # Read models are derived data, and their rows and position commit together:
        # a crash may lose the last batches, never half of one, and the runner then
        # applies them again. So they need not wait for the WAL flush, which would
        # otherwise queue behind (and slow) the event writers' commits.
        await conn.execute("SET LOCAL synchronous_commit = off")
        new_states: dict[str, dict[UUID, Any]] = {}
        new_rows: dict[str, dict[UUID, dict[str, list[tuple[Any, ...]]]]] = {}
        # Projections that failed permanently somewhere in this batch: their part of
        # it is applied again, slowly, once the fast path is done with the others.
        failed: list[Target] = []
        # The database stores one projection's rows while Python folds the next:
        # ``writing`` is the store in flight, with the target it belongs to. Folding
        # yields to the event loop now and then, so the COPY keeps streaming while
        # PostgreSQL inserts; one connection is only ever used by one of them at a
        # time (history reads wait for the store to finish).
        writing: tuple[Target, asyncio.Task[None]] | None = None

        async def finish_writing() -> None:
            nonlocal writing
            if writing is not None:
                (owner, task), writing = writing, None
                try:
                    await task
                except Exception as error:
                    if not is_permanent(error):
                        raise
                    # The store's savepoint is rolled back; the failure is the
                    # owner's alone, wherever in the batch it surfaced.
                    failed.append(owner)
                    new_states.pop(owner.projection.name, None)
                    new_rows.pop(owner.projection.name, None)

        try:
            for target in targets:
                if target.position >= records[-1].position:
                    # Ahead of this batch (a read model added later catches up from
                    # the log's start while the others are at its head): nothing to
                    # apply, and its position must not move back.
                    continue
                projection = target.projection
                states: dict[UUID, Any] = {}
                # Participants whose first event this generation sees now: no rows to replace.
                fresh: set[UUID] = set()
                try:
                    for n, (pid, events) in enumerate(by_participant.items()):
                        if n % YIELD_EVERY == YIELD_EVERY - 1:
                            await asyncio.sleep(0)
                        if events[0].aggregate != projection.aggregate:
                            continue  # another kind of stream (a course, a participant)
                        relevant = target.unseen(events)
                        if not relevant:
                            continue
                        state = target.cache.get(pid)
                        if state is None:
                            if relevant[0].version == 1:
                                state = projection.empty(pid)
                                fresh.add(pid)
                            else:
                                await finish_writing()
                                before = await history(pid, relevant[0].position - 1)
                                state = projection.fold_history(
                                    pid, target.without_excluded(before)
                                )
                        for event in relevant:
                            if projection.refolds_on(event):
                                await finish_writing()
                                upto = await history(pid, event.position)
                                state = projection.fold_history(pid, target.without_excluded(upto))
                            else:
                                identifiers = (
                                    event.opened(keys.get(pid))
                                    if projection.needs_identifiers
                                    else {}
                                )
                                state = projection.apply(state, event, identifiers)
                        states[pid] = state
                    rows = self._rows(target, states, crypto)
                except Exception as error:
                    if not is_permanent(error) or isinstance(error, asyncpg.PostgresError):
                        # A server error here came from a read outside any savepoint,
                        # which the batch as a whole must repeat.
                        raise
                    failed.append(target)
                    continue
                await finish_writing()
                writing = (
                    target,
                    asyncio.create_task(
                        self._store(conn, target, rows, fresh, records[-1].position)
                    ),
                )
                new_states[projection.name] = states
                if projection.appends_rows:
                    new_rows[projection.name] = rows
            await finish_writing()
            for target in failed:
                await self._apply_one_by_one(conn, target, by_participant, keys, crypto, history)
                await conn.execute(
                    f"UPDATE {TRACKING} SET position = $1, error = NULL, error_position = NULL, "
                    "updated_at = now() WHERE name = $2 AND generation = $3",
                    records[-1].position,
                    target.projection.name,
                    target.generation,
                )
        except BaseException:
            if writing is not None:
                writing[1].cancel()
                with contextlib.suppress(BaseException):
                    await writing[1]
            raise
        self.fault("before-commit")
        # Only after the caller commits do these states become the cache's truth.
        self._pending = (records[-1].position, new_states)
        self._pending_rows = new_rows
        self._pending_versions = {pid: events[-1].version for pid, events in by_participant.items()}
        return len(records)

    async def _apply_one_by_one(
        self,
        conn: asyncpg.Connection,
        target: Target,
        by_participant: OrderedDict[UUID, list[EventRecord]],
        keys: dict[UUID, bytes | None],
        crypto: BatchCrypto,
        history: Callable[[UUID, int], Awaitable[list[tuple[EventRecord, Identifiers]]]],
    ) -> None:
        """Apply one projection's part of the batch again, to park only the event at fault.

        Each participant's events go in a savepoint of their own; when they fail,
        they go again one more event at a time, and the first prefix that fails
        names the event, which is parked. States are folded from the stored
        history, never taken from the cache: the failed attempt may have changed
        cached states in place.
        """
        self._forget(target)
        for pid, events in by_participant.items():
            if events[0].aggregate != target.projection.aggregate:
                continue  # another kind of stream: not this read model's to apply, or to park
            relevant = target.unseen(events)
            if not relevant:
                continue
            try:
                async with conn.transaction():
                    await self._refold_and_store(conn, target, pid, relevant, keys, crypto, history)
                continue
            except Exception as error:
                if not is_permanent(error):
                    raise
            for i, event in enumerate(relevant):
                applied = [e for e in relevant[: i + 1] if e.position not in target.excluded]
                try:
                    async with conn.transaction():
                        await self._refold_and_store(
                            conn, target, pid, applied, keys, crypto, history
                        )
                except Exception as error:
                    if not is_permanent(error):
                        raise
                    await self._park(conn, target, event, error)

    async def _refold_and_store(
        self,
        conn: asyncpg.Connection,
        target: Target,
        pid: UUID,
        events: list[EventRecord],
        keys: dict[UUID, bytes | None],
        crypto: BatchCrypto,
        history: Callable[[UUID, int], Awaitable[list[tuple[EventRecord, Identifiers]]]],
    ) -> None:
        projection = target.projection
        before = await history(pid, events[0].position - 1) if events else []
        state = projection.fold_history(pid, target.without_excluded(before))
        for event in events:
            if projection.refolds_on(event):
                upto = await history(pid, event.position)
                state = projection.fold_history(pid, target.without_excluded(upto))
            else:
                identifiers = event.opened(keys.get(pid)) if projection.needs_identifiers else {}
                state = projection.apply(state, event, identifiers)
        rows = projection.rows(state, crypto)
        await replace_rows(conn, projection, target.generation, pid, rows)

    async def _park(
        self, conn: asyncpg.Connection, target: Target, event: EventRecord, error: BaseException
    ) -> None:
        error_type, sqlstate = describe(error)
        # The type, SQLSTATE and position, never the message: it may quote data.
        log.error(
            "projection %s parked the event at position %d: %s%s",
            target.projection.name,
            event.position,
            error_type,
            f" (SQLSTATE {sqlstate})" if sqlstate else "",
        )
        ref = EventRef(event.position, event.participant_id, event.version)
        await park(conn, target.projection.name, target.generation, ref, error)
        target.excluded.add(event.position)

    @staticmethod
    def _forget(target: Target) -> None:
        target.cache.clear()
        target.weights.clear()
        target.weight = 0
        target.written.clear()

    async def _read(self, reader: asyncpg.Connection, after: int) -> list[EventRecord]:
        # The read-ahead uses the connection that holds the advisory locks, which
        # is otherwise idle: taking a second pool connection while the batch holds
        # one can starve a small pool shared with a live runner (a deadlock seen in
        # the rebuild-while-writing test).
        rows = await reader.fetch(SELECT_BATCH, after, self.batch_size)
        return [decode(*r) for r in rows]

    async def _records_after(self, conn: asyncpg.Connection, start: int) -> list[EventRecord]:
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            after, task = prefetch
            if after == start:
                return await task
            task.cancel()
            # Wait for it to end: the next read-ahead shares its connection.
            with contextlib.suppress(BaseException):
                await task
        rows = await conn.fetch(SELECT_BATCH, start, self.batch_size)
        return [decode(*r) for r in rows]

    def _rows(
        self, target: Target, states: dict[UUID, Any], crypto: BatchCrypto
    ) -> dict[UUID, dict[str, list[tuple[Any, ...]]]]:
        rows = target.projection.rows
        return {pid: rows(state, crypto) for pid, state in states.items()}

    async def _store(
        self,
        conn: asyncpg.Connection,
        target: Target,
        rows: dict[UUID, dict[str, list[tuple[Any, ...]]]],
        fresh: set[UUID],
        position: int,
    ) -> None:
        """Replace the participants' rows and move the position, in one savepoint.

        The savepoint keeps a projection's failure its own; the batch's transaction
        commits every projection's rows with its position, or none.

        A participant's rows are deleted and written again, except where nothing
        needs deleting: a participant whose first event this generation sees now
        (``fresh``), and, for a model with ``appends_rows``, a participant whose
        rows as last committed are unchanged at the start of the new ones (only
        the rows after them are written). Without that, following the log live
        wrote a participant's whole timeline again for every event: the write
        grew with the length of the history.
        """
        projection = target.projection
        tables = [t.name for t in projection.tables]
        replaced: dict[str, list[UUID]] = {t: [] for t in tables}
        inserted: dict[str, list[tuple[Any, ...]]] = {t: [] for t in tables}
        for pid, per_table in rows.items():
            if pid in fresh:
                for t in tables:
                    inserted[t].extend(per_table[t])
                continue
            before = target.written.get(pid) if projection.appends_rows else None
            for t in tables:
                new = per_table[t]
                old = before.get(t) if before is not None else None
                if old is not None and len(new) >= len(old) and new[: len(old)] == old:
                    inserted[t].extend(new[len(old) :])
                else:
                    replaced[t].append(pid)
                    inserted[t].extend(new)
        async with conn.transaction():
            for table in projection.tables:
                physical = table.physical(target.generation)
                if replaced[table.name]:
                    await conn.execute(
                        f"DELETE FROM {physical} WHERE {table.key} = ANY($1::uuid[])",
                        replaced[table.name],
                    )
                if inserted[table.name]:
                    await conn.copy_records_to_table(
                        physical, records=inserted[table.name], columns=table.column_names
                    )
            self.fault(f"after-write:{projection.name}")
            await conn.execute(
                f"UPDATE {TRACKING} SET position = $1, error = NULL, error_position = NULL, "
                "updated_at = now() WHERE name = $2 AND generation = $3",
                position,
                projection.name,
                target.generation,
            )

    def _commit_caches(self) -> None:
        position, new_states = self._pending
        for name, states in new_states.items():
            target = self.targets[name]
            target.position = position
            for pid, state in states.items():
                target.cache[pid] = state
                target.cache.move_to_end(pid)
                # A state has folded the participant's events up to its last version.
                weight = self._pending_versions.get(pid, 1)
                target.weight += weight - target.weights.get(pid, 0)
                target.weights[pid] = weight
            # Rows are remembered only beside a committed state, and leave with it.
            target.written.update(self._pending_rows.get(name, {}))
            while target.cache and (
                len(target.cache) > self.cache_size or target.weight > self.cache_events
            ):
                evicted, _ = target.cache.popitem(last=False)
                target.weight -= target.weights.pop(evicted, 0)
                target.written.pop(evicted, None)

    async def step(self) -> int:
        """One batch in its own transaction; caches follow only a successful commit."""
        self._pending = (0, {})
        self._pending_rows = {}
        # A batch allocates many short-lived objects and frees them by reference
        # counting; the cyclic collector would scan them over and over (measured:
        # it halves decoding speed), so it pauses for the batch.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                count = await self._run_batch(conn)
        except BaseException:
            self.targets.clear()  # states of a rolled-back batch must not survive
            raise
        finally:
            if gc_was_enabled:
                gc.enable()
        if count:
            self._commit_caches()
        return count

    async def catch_up(self, on_batch: Callable[[int], None] | None = None) -> int:
        # What survives a batch are the fold states that go into the cache: re-enabling
        # the collector after every batch scanned each of them again (measured: 12% of
        # a rebuild's CPU). Across the batches of a catch-up it stays paused and makes
        # a full collection every GC_EVERY_BATCHES instead, which still bounds any
        # cyclic garbage.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        total = batches = 0
        try:
            while count := await self.step():
                total += count
                batches += 1
                if gc_was_enabled and batches % GC_EVERY_BATCHES == 0:
                    gc.collect()
                if on_batch:
                    on_batch(count)
        finally:
            if gc_was_enabled:
                gc.enable()
        return total

    # ------------------------------------------------------------------ live

    async def run_forever(
        self,
        stop: asyncio.Event,
        *,
        idle_poll_seconds: float = 1.0,
        min_interval_seconds: float = LIVE_MIN_INTERVAL_SECONDS,
    ) -> None:
        """Follow the log: wake on NOTIFY from the event recorder, poll as a fallback.

        Catch-ups start at most every ``min_interval_seconds``: a quiet log is
        followed at once, but under a stream of saves every NOTIFY would start a
        batch of one or two events, and each batch pays for a transaction and a
        write to every read model (measured at 470 saves/s: a third of a core).
        Waiting out the interval lets the events that arrive meanwhile go in the
        same batch; the lag it adds is bounded by the interval.
        """
        listener: asyncpg.Connection | None = None
        loop = asyncio.get_running_loop()
        delay = RETRY_FIRST_SECONDS

        def wake(*_: object) -> None:
            self._wake.set()

        try:
            while not stop.is_set():
                started = loop.time()
                try:
                    if listener is None or _lost(listener):
                        if listener is not None:
                            with contextlib.suppress(Exception):
                                await self.pool.release(listener)
                            listener = None
                        listener = await self.pool.acquire()
                        await listener.add_listener(EVENTS, wake)
                    # At the start, and again if the session holding them died.
                    await self.acquire(stop=stop)
                    if not self._locked:
                        break  # stopped while another runner held the locks
                    await self.catch_up()
                except Exception as error:
                    # Permanent errors never get here (the batch parks the event at
                    # fault); this is the database or the network: wait and repeat,
                    # longer each time, so an outage is not hammered.
                    log.warning(
                        "projection runner: %s; retrying in %.1f s", type(error).__name__, delay
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
                    continue
                delay = RETRY_FIRST_SECONDS
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=idle_poll_seconds)
                rest = started + min_interval_seconds - loop.time()
                if rest > 0 and not stop.is_set():
                    await asyncio.sleep(rest)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.remove_listener(EVENTS, wake)
                with contextlib.suppress(Exception):
                    await self.pool.release(listener)
            await self.release()
