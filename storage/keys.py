"""Per-participant data keys, wrapped by a master key (envelope encryption).

Every participant gets a random 256-bit data key. It is stored only wrapped
(AES-256-GCM under the master key, bound to the participant id), so a copy of the
database without the master key reveals nothing. Destroying a participant's key
makes every identifying field of every event of that person unreadable for good
(crypto-shredding), while the event log itself stays intact and verifiable.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from lotse.storage.sealing import generate_key, seal, unseal

KEY_BYTES = 32
CACHE_SIZE = 10_000

KEYS_TABLE = "lotse_participant_keys"


class KeyDestroyedError(Exception):
    """The participant's data key was destroyed: its identifiers are erased."""


class MasterKeyError(Exception):
    """The master key is missing, malformed or does not open a stored data key."""


@dataclass(frozen=True)
class MasterKey:
    """The key that wraps all data keys; its id is a fingerprint, never the key."""

    secret: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"lotse-master-key-id" + self.secret).hexdigest()[:16]

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        try:
            secret = base64.urlsafe_b64decode(text.strip().encode())
        except ValueError:
            secret = b""
        if len(secret) != KEY_BYTES:
            msg = (
                "the master key must be 32 random bytes, base64url-encoded (lotse privacy new-key)"
            )
            raise MasterKeyError(msg)
        return cls(secret)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(generate_key())

    def to_text(self) -> str:
        return base64.urlsafe_b64encode(self.secret).decode()

    def wrap(self, participant_id: UUID, data_key: bytes) -> bytes:
        return seal(self.secret, data_key, participant_id.bytes)

    def unwrap(self, participant_id: UUID, wrapped: bytes) -> bytes:
        try:
            return unseal(self.secret, wrapped, participant_id.bytes)
        except Exception as e:
            msg = "the master key does not open this participant's data key"
            raise MasterKeyError(msg) from e


class KeyRing:
    """Creates, finds, caches and destroys participants' data keys.

    New keys are held as *pending* until the recorder writes them in the same
    transaction as the participant's first events, so a failed save leaves no
    orphaned key behind.
    """

    def __init__(self, datastore: PostgresDatastore, master: MasterKey, schema: str = "public"):
        self.datastore = datastore
        self.master = master
        self.table = f'"{schema}"."{KEYS_TABLE}"'
        self._lock = threading.Lock()
        self._pending: dict[UUID, bytes] = {}
        self._cache: OrderedDict[UUID, bytes | None] = OrderedDict()

    def create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " participant_id uuid PRIMARY KEY,"
            " wrapped_key bytea,"
            " master_key_id text,"
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " destroyed_at timestamptz,"
            " CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL)))",
            # ANALYZE would copy sample keys into pg_statistic (histogram bounds),
            # where erasure cannot reach them: no statistics for this column.
            "DO $$ BEGIN"
            " IF (SELECT attstattarget FROM pg_attribute"
            f"  WHERE attrelid = '{self.table}'::regclass AND attname = 'wrapped_key')"
            "  IS DISTINCT FROM 0 THEN"
            f"  ALTER TABLE {self.table} ALTER COLUMN wrapped_key SET STATISTICS 0;"
            " END IF; END $$",
        ]

    def _remember(self, participant_id: UUID, key: bytes | None) -> None:
        with self._lock:
            self._cache[participant_id] = key
            self._cache.move_to_end(participant_id)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def key_for_writing(self, participant_id: UUID, *, first_event: bool = False) -> bytes:
        """The participant's key, created (pending) if the participant has none yet.

        For a participant's first event there is nothing to look up: a stored key
        for a brand-new id would make the insert fail on its primary key anyway.
        """
        with self._lock:
            pending = self._pending.get(participant_id)
        if pending is not None:
            return pending
        if not first_event:
            key = self._fetch(participant_id, missing_ok=True)
            if key is not None:
                return key
        new_key = generate_key()
        with self._lock:
            self._pending[participant_id] = new_key
        return new_key

    def key_for_reading(self, participant_id: UUID) -> bytes:
        """The participant's key; KeyDestroyedError once erased."""
        with self._lock:
            pending = self._pending.get(participant_id)
        if pending is not None:
            return pending
        key = self._fetch(participant_id, missing_ok=False)
        assert key is not None
        return key

    def _fetch(self, participant_id: UUID, *, missing_ok: bool) -> bytes | None:
        with self._lock:
            if participant_id in self._cache:
                cached = self._cache[participant_id]
                self._cache.move_to_end(participant_id)
                if cached is None:
                    raise KeyDestroyedError(str(participant_id))
                return cached
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT wrapped_key, destroyed_at FROM {self.table} WHERE participant_id = %s",
                (participant_id,),
            )
            row = curs.fetchone()
        if row is None:
            if missing_ok:
                return None
            raise KeyDestroyedError(str(participant_id))
        if row["wrapped_key"] is None:
            self._remember(participant_id, None)
            raise KeyDestroyedError(str(participant_id))
        key = self.master.unwrap(participant_id, bytes(row["wrapped_key"]))
        self._remember(participant_id, key)
        return key

    def pending_rows(self, participant_ids: set[UUID]) -> list[tuple[UUID, bytes, str]]:
        """Wrapped pending keys of these participants, for the recorder to insert."""
        with self._lock:
            found = {pid: self._pending[pid] for pid in participant_ids if pid in self._pending}
        return [(pid, self.master.wrap(pid, key), self.master.key_id) for pid, key in found.items()]

    def committed(self, participant_ids: set[UUID]) -> None:
        """The recorder committed these participants' pending keys."""
        with self._lock:
            for pid in participant_ids:
                key = self._pending.pop(pid, None)
                if key is not None:
                    self._cache[pid] = key

    def forget_if_held(self, participant_id: UUID) -> bool:
        """Forget a key destroyed by another process; True if this one still held it.

        Keys are cached per process: an erasure recorded by another API worker,
        or by ``lotse privacy retention --apply``, destroys the key in the
        database while this process may still hold it in memory.
        """
        with self._lock:
            held = self._cache.get(participant_id) is not None
        self._remember(participant_id, None)
        return held

    def forget(self, participant_ids: set[UUID]) -> None:
        """The recorder destroyed these keys: never serve them from memory again."""
        for pid in participant_ids:
            self._remember(pid, None)

    def insert_statement(self) -> str:
        return (
            f"INSERT INTO {self.table} (participant_id, wrapped_key, master_key_id) "
            "SELECT * FROM unnest(%s::uuid[], %s::bytea[], %s::text[])"
        )

    def destroy_statement(self) -> str:
        return (
            f"UPDATE {self.table} SET wrapped_key = NULL, master_key_id = NULL, "
            "destroyed_at = now() WHERE participant_id = ANY(%s::uuid[]) AND destroyed_at IS NULL"
        )
