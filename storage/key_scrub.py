"""Scrub the key table: no destroyed (or re-wrapped) key stays in the database files.

PostgreSQL never overwrites a row in place. Destroying a key is an UPDATE: it
writes a new row version without the key and leaves the old one, wrapped key and
all, in the table file. Plain VACUUM marks that old version's slot unused, but
compacting the page does not zero the bytes it freed, so they stay readable in the
file (and in every copy of it). ``VACUUM (FULL)`` writes the live rows into a new
file and truncates the old one: only then are the bytes gone from the table.

Two things can keep an old row version alive even through ``VACUUM (FULL)``: a
transaction (or a standby's feedback, a replication slot, a prepared transaction)
whose snapshot is older than the change, because it might still read the old
version. So the scrub first waits, within a budget, until none is left, and it
takes its lock with a short ``lock_timeout`` so that readers queued behind it are
not held up for long. When either does not work out in time the scrub reports
"not done": the caller answers 503 with Retry-After (the erasure itself is
recorded) and a repeated request scrubs again.

The planner's statistics are a copy too: ANALYZE keeps sample values (histogram
bounds) of every column in ``pg_statistic``. The key table's ``wrapped_key`` column
is therefore created with ``STATISTICS 0`` (see ``storage.keys``); statistics
gathered before that are dropped by ``drop_key_statistics``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from eventsourcing.postgres import PostgresDatastore

from lotse.storage.duplicates import TOKENS_TABLE
from lotse.storage.keys import KEYS_TABLE

log = logging.getLogger(__name__)

#: What can keep a row version deleted before ``%(threshold)s`` (an xid8 taken after
#: the change committed) alive through VACUUM FULL:
#: - a running transaction with an older xid in *any* database of the server: every
#:   snapshot taken meanwhile, VACUUM FULL's own included, has an xmin no newer than
#:   the oldest running xid of the whole server (measured: a transaction open in
#:   another database kept the old version through VACUUM FULL);
#: - a snapshot older than that in this database, or a standby's feedback;
#: - a replication slot's xmin; a prepared transaction (of any database).
#: ``age()`` compares 32-bit xids across wraparound: older means a greater age.
OLDER_SNAPSHOTS = (
    "WITH t AS (SELECT (%(threshold)s::numeric %% 4294967296)::text::xid AS xid)"
    " SELECT"
    " (SELECT count(*) FROM pg_stat_activity, t"
    "   WHERE pid <> pg_backend_pid()"
    "   AND (age(backend_xid) > age(t.xid)"
    "        OR ((datname = current_database() OR backend_type = 'walsender')"
    "            AND age(backend_xmin) > age(t.xid))))"
    " + (SELECT count(*) FROM pg_replication_slots, t"
    "   WHERE (database IS NULL OR database = current_database())"
    "   AND age(xmin) > age(t.xid))"
    " + (SELECT count(*) FROM pg_prepared_xacts, t WHERE age(transaction) > age(t.xid))"
    # Whatever the views do not show (a backend not yet listed): the snapshot says.
    " + (pg_snapshot_xmin(pg_current_snapshot()) < %(threshold)s::text::xid8)::int AS n"
)


@dataclass(frozen=True)
class ScrubOutcome:
    done: bool
    """True when the key table was rewritten with no older snapshot left."""
    blocking: int = 0
    """Older transactions (or slots) still running when the budget ran out."""
    lock_timeouts: int = 0
    """Attempts that could not take the table lock in time."""

    @property
    def why_not(self) -> str:
        if self.done:
            return ""
        if self.blocking:
            return f"{self.blocking} older transaction(s) still running"
        return "the key table stayed locked by other sessions"


class KeyScrubber:
    """Rewrites the key table once every snapshot older than the change has ended."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        schema: str = "public",
        *,
        budget_seconds: float = 5.0,
        lock_timeout_ms: int = 500,
    ) -> None:
        self.datastore = datastore
        self.schema = schema or "public"
        self.table = f'"{self.schema}"."{KEYS_TABLE}"'
        self.tokens_table = f'"{self.schema}"."{TOKENS_TABLE}"'
        self.budget_seconds = budget_seconds
        self.lock_timeout_ms = lock_timeout_ms

    def scrub(self, budget_seconds: float | None = None) -> ScrubOutcome:
        """Call after the change committed; returns whether the old versions are gone."""
        budget = self.budget_seconds if budget_seconds is None else budget_seconds
        deadline = time.monotonic() + budget
        lock_timeouts = 0
        with self.datastore.get_connection() as conn:
            # The next transaction id to be assigned: the change's id is below it.
            row = conn.execute(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS threshold"
            ).fetchone()
            assert row is not None
            threshold = str(row["threshold"])
            while True:
                blocking = self._older_snapshots(conn, threshold)
                if blocking == 0:
                    try:
                        self._rewrite(conn)
                    except psycopg.errors.LockNotAvailable:
                        lock_timeouts += 1
                    else:
                        return ScrubOutcome(True, 0, lock_timeouts)
                if time.monotonic() >= deadline:
                    log.warning(
                        "key table scrub not done: %d older transaction(s), %d lock timeout(s)",
                        blocking,
                        lock_timeouts,
                    )
                    return ScrubOutcome(False, blocking, lock_timeouts)
                time.sleep(0.05 if blocking else 0.2)

    def _older_snapshots(self, conn: psycopg.Connection[dict[str, object]], threshold: str) -> int:
        row = conn.execute(OLDER_SNAPSHOTS, {"threshold": threshold}).fetchone()  # type: ignore[arg-type]
        return int(str(row["n"])) if row else 0

    def _rewrite(self, conn: psycopg.Connection[dict[str, object]]) -> None:
        # VACUUM cannot run in a transaction block; pooled connections are in
        # autocommit mode. The setting is the session's, so put it back.
        conn.execute(f"SET lock_timeout = '{int(self.lock_timeout_ms)}ms'")  # type: ignore[arg-type]
        try:
            conn.execute(f"VACUUM (FULL) {self.table}")  # type: ignore[arg-type]
            # The erased participant's duplicate pseudonyms, deleted with its key.
            conn.execute(f"VACUUM (FULL) {self.tokens_table}")  # type: ignore[arg-type]
        finally:
            conn.execute("RESET lock_timeout")

    def drop_key_statistics(self) -> bool:
        """Drop planner statistics of ``wrapped_key`` gathered before ``STATISTICS 0``.

        Changing the column to its own type makes PostgreSQL delete its
        ``pg_statistic`` row (without rewriting the table). True if there were any.
        The deleted row is a dead row of ``pg_statistic`` until a superuser runs
        ``VACUUM (FULL) pg_catalog.pg_statistic`` (see the README).
        """
        with self.datastore.get_connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM pg_stats"
                " WHERE schemaname = %s AND tablename = %s AND attname = 'wrapped_key'",
                (self.schema, KEYS_TABLE),
            ).fetchone()
            if not row or int(str(row["n"])) == 0:
                return False
            conn.execute(
                f"ALTER TABLE {self.table} ALTER COLUMN wrapped_key TYPE bytea"  # type: ignore[arg-type]
            )
            return True
