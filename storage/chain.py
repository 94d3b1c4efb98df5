"""The hash chain over the event log: tamper evidence for every stored event.

Every row of the events table gets one row in ``lotse_event_chain``, written in the
same transaction as the event and while the EXCLUSIVE lock on the events table is
held, so the chain can neither fork nor skip: the lock orders the log, and the
chain follows that order.

Definition (reimplement it from this text alone; it is version 1):

    chain_hash(0)  = 32 zero bytes                                   (genesis)
    row_digest(n)  = SHA-256( encode(row n) )
    chain_hash(n)  = SHA-256( chain_hash(p) || row_digest(n) )

where ``p`` is the notification id of the previous stored row (ids may have gaps,
left by rolled-back transactions; the chain links rows, not numbers), and

    encode(row) = field(int64_be(notification_id))
               || field(originator_id as its 16 UUID bytes)
               || field(int64_be(originator_version))
               || field(topic as UTF-8)
               || field(state)                 (the stored bytes, ciphertext included)

    field(b)    = uint32_be(len(b)) || b

The state is hashed exactly as stored, so destroying a participant's data key
(crypto-shredding) changes nothing that the chain covers: erased histories still
verify.

Why the extra row digest: an export of one participant must prove that its rows
are in the signed chain without carrying every other participant's rows. With the
digest in between, the bundle carries the 32-byte digests of the rows in between,
which reveal nothing, and the verifier re-links them up to a signed checkpoint.
It also lets PostgreSQL compute the digests while the verifier only links them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

CHAIN_TABLE = "lotse_event_chain"
GENESIS = bytes(32)

_INT64_FIELD = struct.Struct(">Iq")
_LENGTH = struct.Struct(">I")
# notification id, originator id and version have fixed sizes: pack them at once.
_HEAD = struct.Struct(">Iq I16s Iq")


def encode_row(
    notification_id: int, originator_id: UUID, originator_version: int, topic: str, state: bytes
) -> bytes:
    """The canonical encoding of one stored row (see the module docstring)."""
    topic_bytes = topic.encode()
    return b"".join(
        (
            _HEAD.pack(8, notification_id, 16, originator_id.bytes, 8, originator_version),
            _LENGTH.pack(len(topic_bytes)),
            topic_bytes,
            _LENGTH.pack(len(state)),
            state,
        )
    )


def row_digest(encoded_row: bytes) -> bytes:
    return hashlib.sha256(encoded_row).digest()


def link(previous: bytes, digest: bytes) -> bytes:
    """The chain hash after a row whose digest is ``digest``."""
    return hashlib.sha256(previous + digest).digest()


def next_hash(previous: bytes, encoded_row: bytes) -> bytes:
    return link(previous, row_digest(encoded_row))


def chain_rows(
    previous: bytes, rows: Iterable[tuple[int, UUID, int, str, bytes]]
) -> list[tuple[int, bytes]]:
    """(notification id, chain hash) for rows given in notification id order."""
    out: list[tuple[int, bytes]] = []
    for notification_id, originator_id, version, topic, state in rows:
        previous = next_hash(
            previous, encode_row(notification_id, originator_id, version, topic, state)
        )
        out.append((notification_id, previous))
    return out


def row_digest_sql(alias: str = "e") -> str:
    """The row digest, computed by PostgreSQL (used by the verifier and exports)."""
    return f"sha256({encode_row_sql(alias)})"


def encode_row_sql(alias: str = "e") -> str:
    """The same encoding, computed by PostgreSQL.

    Letting the server build and digest the bytes leaves the verifier one SHA-256
    over 64 bytes per row; a test proves it equals :func:`encode_row`.
    """
    a = alias
    return (
        f"'\\x00000008'::bytea || int8send({a}.notification_id)"
        f" || '\\x00000010'::bytea || uuid_send({a}.originator_id)"
        f" || '\\x00000008'::bytea || int8send({a}.originator_version)"
        f" || int4send(octet_length(convert_to({a}.topic, 'UTF8')))"
        f" || convert_to({a}.topic, 'UTF8')"
        f" || int4send(octet_length({a}.state)) || {a}.state"
    )


class ChainStatements:
    """SQL for the chain table of one schema."""

    def __init__(self, schema: str = "public") -> None:
        self.table = f'"{schema}"."{CHAIN_TABLE}"'

    def create(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " notification_id bigint PRIMARY KEY,"
            " chain_hash bytea NOT NULL CHECK (octet_length(chain_hash) = 32))"
        ]

    @property
    def head(self) -> str:
        return (
            f"SELECT notification_id, chain_hash FROM {self.table} "
            "ORDER BY notification_id DESC LIMIT 1"
        )

    @property
    def insert(self) -> str:
        # One statement for the whole batch, however many events it holds.
        return (
            f"INSERT INTO {self.table} (notification_id, chain_hash) "
            "SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        )

    def insert_one_event(self, events_table: str, values: str = "%s, %s, %s, %s") -> str:
        """Insert one event and its chain row in one statement (hash computed in SQL).

        The head is read from the statement's snapshot, so it is the chain row
        before this one; the caller holds the events table's EXCLUSIVE lock.
        ``values`` are the four placeholders (or, in a function, the parameter
        names) for originator id, version, topic and state.
        """
        genesis = f"'\\x{GENESIS.hex()}'::bytea"
        return (
            f"WITH e AS (INSERT INTO {events_table}"
            f" (originator_id, originator_version, topic, state) VALUES ({values})"
            " RETURNING notification_id, originator_id, originator_version, topic, state),"
            f" c AS (INSERT INTO {self.table} (notification_id, chain_hash)"
            f" SELECT e.notification_id, sha256(coalesce(({self.head_hash}), {genesis})"
            f" || {row_digest_sql('e')}) FROM e)"
            " SELECT notification_id FROM e"
        )

    @property
    def head_hash(self) -> str:
        return f"SELECT chain_hash FROM {self.table} ORDER BY notification_id DESC LIMIT 1"

    @property
    def insert_after(self) -> str:
        """Insert only if the chain's head hash is still the given one (third parameter)."""
        return (
            f"INSERT INTO {self.table} (notification_id, chain_hash) "
            "SELECT * FROM unnest(%s::bigint[], %s::bytea[]) "
            f"WHERE (SELECT chain_hash FROM {self.table} "
            "ORDER BY notification_id DESC LIMIT 1) = %s"
        )


def link_batch(
    previous: bytes,
    notification_ids: Sequence[int],
    stored_events: Sequence[Any],
) -> tuple[list[int], list[bytes]]:
    """Chain a freshly inserted batch: ids and hashes ready for :attr:`ChainStatements.insert`.

    ``stored_events`` are the library's ``StoredEvent`` objects in the order the
    INSERT returned ``notification_ids``; they are sorted by id here, because the
    chain follows the log order.
    """
    pairs = sorted(zip(notification_ids, stored_events, strict=True), key=lambda p: p[0])
    ids: list[int] = []
    hashes: list[bytes] = []
    for notification_id, e in pairs:
        originator_id = (
            e.originator_id if isinstance(e.originator_id, UUID) else UUID(str(e.originator_id))
        )
        previous = next_hash(
            previous,
            encode_row(notification_id, originator_id, e.originator_version, e.topic, e.state),
        )
        ids.append(notification_id)
        hashes.append(previous)
    return ids, hashes


def backfill(datastore: Any, events_table: str, schema: str = "public") -> int:
    """Chain the events of a log that has none yet (a database from before the chain).

    Runs under the events table's EXCLUSIVE lock, so no writer can slip in. The
    chain is a pure function of the rows, so chaining untouched rows again yields
    the same hashes: this cannot hide a change that a signed checkpoint covers.
    Returns the number of events chained.
    """
    statements = ChainStatements(schema)
    events = f'"{schema}"."{events_table}"'
    with datastore.transaction(commit=False) as curs:
        curs.execute(f"SELECT EXISTS (SELECT 1 FROM {statements.table}) AS chained")
        row = curs.fetchone()
        if row is None or row["chained"]:
            return 0
    chained = 0
    with datastore.transaction(commit=True) as curs:
        curs.execute(f"LOCK TABLE {events} IN EXCLUSIVE MODE")
        curs.execute(f"SELECT EXISTS (SELECT 1 FROM {statements.table}) AS chained")
        row = curs.fetchone()
        if row is None or row["chained"]:
            return 0
        conn = curs.connection
        with conn.cursor(name="lotse_chain_backfill") as rows:
            rows.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {events} ORDER BY notification_id"
            )
            previous = GENESIS
            while batch := rows.fetchmany(10_000):
                linked = chain_rows(
                    previous,
                    (
                        (
                            r["notification_id"],
                            r["originator_id"],
                            r["originator_version"],
                            r["topic"],
                            bytes(r["state"]),
                        )
                        for r in batch
                    ),
                )
                previous = linked[-1][1]
                chained += len(linked)
                curs.execute(statements.insert, ([i for i, _ in linked], [h for _, h in linked]))
    return chained


APPEND_ONLY_FUNCTION = "lotse_append_only"


def append_only_statements(
    schema: str, tables: Sequence[str], truncate_only: Sequence[str] = ()
) -> list[str]:
    """Triggers that refuse UPDATE, DELETE and TRUNCATE on the append-only tables.

    They stop mistakes and anyone who reaches the database through Lotse's own
    role without owning the tables. They do not stop a superuser or the tables'
    owner, who can drop or disable a trigger (``session_replication_role =
    replica`` skips it): that is what the signed checkpoints and the witnesses
    outside the database are for. Nothing in Lotse updates or deletes these rows;
    maintenance that must (the test suite emptying tables) runs as superuser
    with the triggers skipped.

    ``truncate_only`` tables have a row guard of their own (the read-access log).
    """
    function = f'"{schema}"."{APPEND_ONLY_FUNCTION}"'
    statements = [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP"
        " USING ERRCODE = 'insufficient_privilege'; END $$"
    ]
    for table in (*tables, *truncate_only):
        qualified = f'"{schema}"."{table}"'
        if table in tables:
            statements.append(
                f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE"
                f" ON {qualified} FOR EACH ROW EXECUTE FUNCTION {function}()"
            )
        statements.append(
            f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {qualified}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements
