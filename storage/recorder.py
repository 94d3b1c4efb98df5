"""The event recorder, extended through the library's same-transaction hooks.

Everything that must be atomic with the events is written in the insert
transaction: the Idempotency-Key claim, a new participant's data key, and the
destruction of a key on erasure. Nothing half-written can remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow

from lotse.storage.chain import GENESIS, ChainStatements, link_batch
from lotse.storage.duplicates import create_statements as duplicate_tokens_statements
from lotse.storage.duplicates import delete_statement as delete_duplicate_tokens
from lotse.storage.group_commit import GroupCommitter
from lotse.storage.integrity import RecordIntegrity
from lotse.storage.keys import KeyRing
from lotse.storage.log_head import log_head_sync

REQUESTS_TABLE = "lotse_request_keys"
APPEND_BATCH_FUNCTION = "lotse_append_batch"
#: From this many events in one save, rows go in by COPY instead of INSERT.
COPY_THRESHOLD = 200


class LotseRecorder(PostgresApplicationRecorder):
    keys: KeyRing

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        schema = self.datastore.schema
        self.requests_table = f'"{schema}"."{REQUESTS_TABLE}"'
        self.events_table = f'"{schema}"."{self.events_table_name}"'
        self.chain = ChainStatements(schema)
        #: Only the write-path benchmark turns this off, to measure what chaining costs.
        self.chain_enabled = True
        #: Loaded events are checked against the chain (None: not checked).
        self.integrity: RecordIntegrity | None = RecordIntegrity(
            self.datastore, self.events_table, self.chain.table
        )
        self._chain_head: bytes | None = None
        #: Concurrent single-event saves of this process share a transaction.
        self.group_commit: GroupCommitter[tuple[StoredEvent, Any], int] = GroupCommitter(
            self.append_batch
        )

    def attach_keys(self, keys: KeyRing) -> None:
        self.keys = keys
        statements = [
            *keys.create_table_statements(),
            # Erasure deletes a participant's duplicate tokens with its key (below).
            *duplicate_tokens_statements(self.datastore.schema),
            f"CREATE TABLE IF NOT EXISTS {self.requests_table} ("
            " scope text NOT NULL,"
            " key text NOT NULL,"
            " fingerprint text NOT NULL,"
            " operation text NOT NULL,"
            " participant_id uuid NOT NULL,"
            " version bigint NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (scope, key))",
            *self.chain.create(),
            self._append_batch_function(),
            # Replaced by the batch function; dropped so no stale path remains.
            f'DROP FUNCTION IF EXISTS "{self.datastore.schema}"."lotse_append_one"('
            "uuid, bigint, text, bytea, boolean, text, text, text, text, uuid[], bytea[], text[])",
        ]
        from psycopg.sql import SQL

        self.sql_create_statements.extend(SQL(s).format() for s in statements)  # type: ignore[arg-type]

    @property
    def append_batch_function(self) -> str:
        return f'"{self.datastore.schema}"."{APPEND_BATCH_FUNCTION}"'

    def _append_batch_function(self) -> str:
        """A server-side function that records a batch of single-event saves.

        Called as one statement in autocommit mode, it takes the events table's
        EXCLUSIVE lock, and for each save in turn checks it, writes the event,
        its chain row and its Idempotency-Key claim, then notifies once and
        commits: the lock is held only for the server's own work, never across a
        client round trip, and one WAL flush commits the whole batch (see
        ``storage.group_commit``).

        Each save is checked on its own, so that a conflict refuses that save
        only: under the EXCLUSIVE lock no other writer can insert, so a version
        already taken (by the table, or by a save earlier in the batch) is found
        by looking, and an Idempotency-Key claimed by anyone (``ON CONFLICT DO
        NOTHING`` waits for a claim in flight) refuses the save. The result holds
        per save the new notification id, ``0`` for a version conflict, ``-1``
        for an Idempotency-Key already claimed. A refused save leaves nothing:
        its new participant's data key is deleted again.

        It is not the library's ``POSTGRES_ENABLE_DB_FUNCTIONS`` path (which
        skips the lock and the recorder hooks): it keeps both.
        """
        chained = self.chain.insert_one_event(
            self.events_table, "p_originator_ids[i], p_versions[i], p_topics[i], p_states[i]"
        )
        into_new_id = "SELECT notification_id INTO new_id FROM e"
        return (
            f"CREATE OR REPLACE FUNCTION {self.append_batch_function}("
            " p_originator_ids uuid[], p_versions bigint[], p_topics text[], p_states bytea[],"
            " p_chain boolean,"
            " p_scopes text[], p_keys text[], p_fingerprints text[], p_operations text[],"
            " p_key_ids uuid[], p_wrapped bytea[], p_master_ids text[])"
            " RETURNS bigint[] LANGUAGE plpgsql AS $body$"
            " #variable_conflict use_column\n"
            " DECLARE new_id bigint;"
            " results bigint[] := ARRAY[]::bigint[]; refused uuid[] := ARRAY[]::uuid[];"
            " BEGIN"
            # Data keys first: they need no lock, so they stay out of the locked part.
            f"  INSERT INTO {self.keys.table} (participant_id, wrapped_key, master_key_id)"
            "   SELECT k, w, m FROM unnest(p_key_ids, p_wrapped, p_master_ids) AS u(k, w, m)"
            "   WHERE k IS NOT NULL;"
            f"  SET LOCAL lock_timeout = '{self.datastore.lock_timeout}s';"
            f"  LOCK TABLE {self.events_table} IN EXCLUSIVE MODE;"
            "  FOR i IN 1 .. cardinality(p_originator_ids) LOOP"
            f"   IF EXISTS (SELECT 1 FROM {self.events_table}"
            "    WHERE originator_id = p_originator_ids[i]"
            "    AND originator_version = p_versions[i]) THEN"
            "    results := results || 0::bigint;"
            "    refused := refused || p_originator_ids[i];"
            "    CONTINUE;"
            "   END IF;"
            "   IF p_keys[i] IS NOT NULL THEN"
            f"    INSERT INTO {self.requests_table}"
            "     (scope, key, fingerprint, operation, participant_id, version)"
            "     VALUES (p_scopes[i], p_keys[i], p_fingerprints[i], p_operations[i],"
            "      p_originator_ids[i], p_versions[i])"
            "     ON CONFLICT DO NOTHING;"
            "    IF NOT FOUND THEN"
            "     results := results || (-1)::bigint;"
            "     refused := refused || p_originator_ids[i];"
            "     CONTINUE;"
            "    END IF;"
            "   END IF;"
            "   IF p_chain THEN"
            f"    {chained.replace('SELECT notification_id FROM e', into_new_id)};"
            "   ELSE"
            f"    INSERT INTO {self.events_table}"
            "     (originator_id, originator_version, topic, state)"
            "     VALUES (p_originator_ids[i], p_versions[i], p_topics[i], p_states[i])"
            "     RETURNING notification_id INTO new_id;"
            "   END IF;"
            "   results := results || new_id;"
            "  END LOOP;"
            "  IF cardinality(refused) > 0 THEN"
            f"   DELETE FROM {self.keys.table} WHERE participant_id = ANY(refused)"
            "    AND participant_id = ANY(p_key_ids);"
            "  END IF;"
            "  IF cardinality(refused) < cardinality(p_originator_ids) THEN"
            f'   NOTIFY "{self.channel_name}";'
            "  END IF;"
            "  RETURN results;"
            " END $body$"
        )

    def _create_table(self, curs: Cursor[DictRow]) -> None:
        # Processes starting together would race on CREATE OR REPLACE FUNCTION
        # ("tuple concurrently updated"): one at a time.
        curs.execute("SELECT pg_advisory_xact_lock(hashtext('lotse-event-store-schema'))")
        super()._create_table(curs)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's select; rows that no longer match the chain are refused."""
        events: Sequence[StoredEvent] = super().select_events(
            originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        if self.integrity is not None and self.chain_enabled:
            self.integrity.check(originator_id, events)
        return events

    def _written(self, ids: Sequence[int] | None, stored_events: Sequence[StoredEvent]) -> None:
        """Rows this process just wrote and chained need no check when loaded again."""
        if self.integrity is not None and self.chain_enabled and ids:
            self.integrity.remember(zip(ids, stored_events, strict=True))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert, in one transaction, without pipeline mode.

        psycopg's pipeline mode stalls when a large batch (hundreds of events)
        exceeds the socket buffers of a Unix-domain connection, as the embedded
        server uses; the extra round trips cost little on a local socket.
        One event without an erasure is group-committed instead (:meth:`append_batch`).
        """
        if len(stored_events) == 1 and not kwargs.get("shred"):
            appended = [self.group_commit.submit((stored_events[0], kwargs.get("request_key")))]
            self._written(appended, stored_events)
            self.keys.committed(
                {UUID(str(e.originator_id)) for e in stored_events if e.originator_version == 1}
            )
            return appended
        ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if stored_events:
                if len(stored_events) >= COPY_THRESHOLD:
                    ids = self._copy_stored_events(curs, stored_events)
                elif len(stored_events) == 1 and self.chain_enabled:
                    ids = self._insert_one_chained(curs, stored_events[0])
                else:
                    self._insert_stored_events(curs, stored_events, **kwargs)
                    ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
                if self.chain_enabled and ids and len(stored_events) > 1:
                    self._link_chain(curs, ids, stored_events)
                self._claim_request_key(curs, stored_events, kwargs.get("request_key"))
        # Only now, after the commit, may memory stop treating these keys as pending.
        self.keys.committed(
            {UUID(str(e.originator_id)) for e in stored_events if e.originator_version == 1}
        )
        shredded = set(kwargs.get("shred") or ())
        if shredded:
            self.keys.forget(shredded)
        self._written(ids, stored_events)
        return ids

    def _copy_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> list[int]:
        """Large batches (bulk loads, demo data) go in by binary COPY.

        The library's INSERT of an array of composite values is dumped row by row
        in Python; COPY is several times faster. Under the same EXCLUSIVE lock the
        new rows take the next notification ids in input order, so the ids are
        those above the maximum read right after taking the lock.
        """
        self._lock_table(curs)
        self._notify_channel(curs)
        head = log_head_sync(curs, self.events_table)
        statement = (
            f"COPY {self.events_table} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        )
        with curs.copy(statement) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for e in stored_events:
                copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
        curs.execute(
            f"SELECT notification_id FROM {self.events_table} "
            "WHERE notification_id > %s ORDER BY notification_id",
            (head,),
        )
        ids = [r["notification_id"] for r in curs.fetchall()]
        if len(ids) != len(stored_events):
            msg = (
                f"bulk insert assigned {len(ids)} notification ids for {len(stored_events)} events"
            )
            raise ProgrammingError(msg)
        return ids

    def append_batch(self, saves: Sequence[tuple[StoredEvent, Any]]) -> list[int | BaseException]:
        """Single-event saves in one autocommitted statement (:meth:`_append_batch_function`)."""
        events = [e for e, _ in saves]
        keys = [k for _, k in saves]
        new_ids = {UUID(str(e.originator_id)) for e in events if e.originator_version == 1}
        # Pending keys exist only for new participants: a row per first event.
        pending = {row[0]: row for row in self.keys.pending_rows(new_ids)}
        key_rows = [pending.get(UUID(str(e.originator_id))) for e in events]
        with self.datastore.get_connection() as conn:
            # The library's pooled connections are in autocommit mode: this one
            # statement is its own transaction, committed by the server.
            assert conn.autocommit
            cursor = conn.execute(
                f"SELECT {self.append_batch_function}("
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) AS ids",
                (
                    [e.originator_id for e in events],
                    [e.originator_version for e in events],
                    [e.topic for e in events],
                    [e.state for e in events],
                    self.chain_enabled,
                    [k.scope if k else None for k in keys],
                    [k.key if k else None for k in keys],
                    [k.fingerprint if k else None for k in keys],
                    [k.operation if k else None for k in keys],
                    [r[0] if r else None for r in key_rows],
                    [r[1] if r else None for r in key_rows],
                    [r[2] if r else None for r in key_rows],
                ),
                prepare=True,
            )
            row = cursor.fetchone()
        assert row is not None
        # The head moved without this process computing it: read it next time.
        self._chain_head = None
        return [_appended(e, int(i)) for e, i in zip(events, row["ids"], strict=True)]

    def _insert_one_chained(self, curs: Cursor[DictRow], stored_event: StoredEvent) -> list[int]:
        """One event and its chain row in one statement, so chaining adds no round trip.

        The interactive case (one milestone per save) is where a round trip under
        the table lock costs most. PostgreSQL computes the chain hash with the
        same definition (``ChainStatements.insert_one_event``); a test checks it against Python.
        """
        self._lock_table(curs)
        self._notify_channel(curs)
        e = stored_event
        curs.execute(
            self.chain.insert_one_event(self.events_table),
            (e.originator_id, e.originator_version, e.topic, e.state),
            prepare=True,
        )
        row = curs.fetchone()
        assert row is not None
        # The head moved without this process computing it: read it next time.
        self._chain_head = None
        return [int(row["notification_id"])]

    def _link_chain(
        self, curs: Cursor[DictRow], ids: Sequence[int], stored_events: Sequence[StoredEvent]
    ) -> None:
        """Extend the hash chain, still inside the insert transaction.

        The EXCLUSIVE lock on the events table is held until commit, so no other
        writer can read the same head and fork the chain, or commit in between.
        The head this process wrote last is remembered: the insert is made
        conditional on it still being the head, which saves a round trip under
        the lock; when another process wrote in between, nothing is inserted and
        the head is read from the table.
        """
        remembered = self._chain_head
        if remembered is not None:
            chain_ids, hashes = link_batch(remembered, ids, stored_events)
            curs.execute(self.chain.insert_after, (chain_ids, hashes, remembered), prepare=True)
            if curs.rowcount == len(chain_ids):
                self._chain_head = hashes[-1]
                return
        curs.execute(self.chain.head, prepare=True)
        head = curs.fetchone()
        previous = bytes(head["chain_hash"]) if head is not None else GENESIS
        chain_ids, hashes = link_batch(previous, ids, stored_events)
        curs.execute(self.chain.insert, (chain_ids, hashes), prepare=True)
        # Remembered before commit: if the transaction rolls back, the conditional
        # insert finds another head next time and falls back to reading it.
        self._chain_head = hashes[-1]

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        new_ids = {UUID(str(e.originator_id)) for e in stored_events if e.originator_version == 1}
        rows = self.keys.pending_rows(new_ids)
        if rows:
            # One statement for all new keys: many small statements in pipeline
            # mode can fill the socket buffers both ways and stall.
            ids, wrapped, master_ids = (list(column) for column in zip(*rows, strict=True))
            curs.execute(self.keys.insert_statement(), (ids, wrapped, master_ids))
        shred = list(kwargs.get("shred") or ())
        if shred:
            curs.execute(self.keys.destroy_statement(), (shred,))
            # The keyed pseudonyms of the name go with the key that opens it.
            curs.execute(delete_duplicate_tokens(self.datastore.schema), (shred,))
            # Idempotency fingerprints hash request bodies that held the identifiers;
            # the claims stay (a late retry is refused, not recorded again).
            curs.execute(
                f"UPDATE {self.requests_table} SET fingerprint = 'erased'"
                " WHERE participant_id = ANY(%s::uuid[])",
                (shred,),
            )

    def _claim_request_key(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], request_key: Any
    ) -> None:
        """The Idempotency-Key claim, made after the events, under the table lock.

        Claimed before the lock, a key could be held uncommitted by this
        transaction while it waits for the lock, and the batch that holds the
        lock wait in turn for that claim: a deadlock. After the lock, every claim
        is made in the order the lock is granted.
        """
        if request_key is None:
            return
        last = stored_events[-1]
        # A plain INSERT: a concurrent request with the same key violates the
        # primary key, which aborts this whole transaction (events included).
        curs.execute(
            f"INSERT INTO {self.requests_table} "
            "(scope, key, fingerprint, operation, participant_id, version) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (
                request_key.scope,
                request_key.key,
                request_key.fingerprint,
                request_key.operation,
                last.originator_id,
                last.originator_version,
            ),
        )


def _appended(e: StoredEvent, notification_id: int) -> int | BaseException:
    """The outcome of one save in a batch: its notification id, or its own conflict."""
    if notification_id > 0:
        return notification_id
    if notification_id == 0:
        return IntegrityError(
            f"version {e.originator_version} of {e.originator_id} was recorded concurrently"
        )
    return IntegrityError("this Idempotency-Key was claimed by a concurrent request")
