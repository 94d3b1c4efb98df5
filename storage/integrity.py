"""Refuse to serve a stored event that no longer matches its chain entry.

Verification (``storage.verification``) finds a changed row when an auditor runs
it; until then the API would serve the changed row as if it were true. So every
event the application loads is checked on the way out of the store: its row
digest (``storage.chain``), linked to the chain hash of the row before it, must
give its own chain hash. A row changed behind Lotse's back, an event inserted
outside it (no chain row) or moved to another position fails, and the caller
gets :class:`RecordIntegrityError` (the API answers 500 ``record-integrity``).

What it cannot see: a rewrite that also recomputed every later chain hash. That
is what the signed checkpoints and the witnesses are for.

Cost: rows verified once are remembered per process (bounded, least recently
used) by their row digest, so a later load recomputes one SHA-256 per row and
asks the database nothing; only rows not seen before cost one query per load
(two index lookups per row).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn
from uuid import UUID

from eventsourcing.persistence import MapperDeserialisationError, StoredEvent

from lotse.storage.chain import GENESIS, encode_row, link, row_digest

log = logging.getLogger(__name__)

#: Verified rows remembered per process (about 450 bytes each: about 22 MB at most).
CACHE_SIZE = 50_000


class RecordIntegrityError(MapperDeserialisationError):
    """A stored event does not match its chain entry: it was changed or inserted outside Lotse."""


class RecordIntegrity:
    """Checks loaded events against the hash chain; see the module docstring."""

    def __init__(self, datastore: Any, events_table: str, chain_table: str) -> None:
        self.datastore = datastore
        self._cache: OrderedDict[tuple[UUID, int], tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        genesis = f"'\\x{GENESIS.hex()}'::bytea"
        self._statement = (
            "SELECT e.originator_version AS version, e.notification_id AS position,"
            " c.chain_hash,"
            f" coalesce((SELECT p.chain_hash FROM {chain_table} p"
            "  WHERE p.notification_id < e.notification_id"
            f"  ORDER BY p.notification_id DESC LIMIT 1), {genesis}) AS previous"
            f" FROM {events_table} e LEFT JOIN {chain_table} c"
            " ON c.notification_id = e.notification_id"
            " WHERE e.originator_id = %s AND e.originator_version = ANY(%s::bigint[])"
        )

    def check(self, originator_id: UUID | str, events: Sequence[StoredEvent]) -> None:
        """Raise :class:`RecordIntegrityError` unless every event matches its chain entry."""
        if not events:
            return
        oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        unseen: list[StoredEvent] = []
        with self._lock:
            for e in events:
                known = self._cache.get((oid, e.originator_version))
                if known is None:
                    unseen.append(e)
                    continue
                position, digest = known
                if row_digest(self._encode(position, oid, e)) != digest:
                    # Verified once, different now: changed since. Check it afresh.
                    del self._cache[(oid, e.originator_version)]
                    unseen.append(e)
                else:
                    self._cache.move_to_end((oid, e.originator_version))
        if unseen:
            self._check_against_chain(oid, unseen)

    def remember(self, written: Iterable[tuple[int, StoredEvent]]) -> None:
        """Rows this process wrote and chained itself, at these positions: known good."""
        with self._lock:
            for position, e in written:
                oid = UUID(str(e.originator_id))
                self._cache[(oid, e.originator_version)] = (
                    position,
                    row_digest(self._encode(position, oid, e)),
                )
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    @staticmethod
    def _encode(position: int, oid: UUID, e: StoredEvent) -> bytes:
        return encode_row(position, oid, e.originator_version, e.topic, e.state)

    def _check_against_chain(self, oid: UUID, events: Sequence[StoredEvent]) -> None:
        # One prepared statement on an autocommit connection: one round trip.
        with self.datastore.get_connection() as conn:
            cursor = conn.execute(
                self._statement,  # type: ignore[arg-type]
                (oid, [e.originator_version for e in events]),
                prepare=True,
            )
            rows = {int(r["version"]): r for r in cursor.fetchall()}
        verified: list[tuple[tuple[UUID, int], tuple[int, bytes]]] = []
        for e in events:
            row = rows.get(e.originator_version)
            if row is None:
                self._refuse(None, "is no longer stored")
            if row["chain_hash"] is None:
                self._refuse(int(row["position"]), "has no chain entry")
            position = int(row["position"])
            digest = row_digest(self._encode(position, oid, e))
            if link(bytes(row["previous"]), digest) != bytes(row["chain_hash"]):
                self._refuse(position, "does not match its chain entry")
            verified.append(((oid, e.originator_version), (position, digest)))
        with self._lock:
            for key, value in verified:
                self._cache[key] = value
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    @staticmethod
    def _refuse(position: int | None, what: str) -> NoReturn:
        # The position only: the row itself may hold personal data.
        log.error("record integrity: the stored event at position %s %s", position, what)
        msg = f"the stored event at position {position} {what}"
        raise RecordIntegrityError(msg)
