"""Master key rotation: re-wrap every data key under a new master key, all or nothing.

Only the wrapping changes. The data keys themselves, and so every ciphertext in the
event table, stay exactly as they are: rotation touches no event, and every history
decrypts afterwards exactly as before. It runs in one transaction with the key table
locked against writers, so there is never a moment in which some keys open only with
the old master key and others only with the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from lotse.storage.keys import KeyRing, MasterKey, MasterKeyError


@dataclass(frozen=True)
class RotationSummary:
    rewrapped: int
    """Data keys now wrapped by the new master key."""
    already_rotated: int
    """Keys that were already wrapped by the new key (an earlier, completed rotation)."""
    destroyed: int
    """Erased participants: there is no key left to re-wrap."""
    new_master_key_id: str
    stragglers: int = 0
    """Keys found under another master key after the commit (see ``keys_not_under``)."""
    scrubbed: bool = True
    """The old wrappings were scrubbed from the key table's files afterwards."""


def rotate_master_key(keys: KeyRing, new: MasterKey) -> RotationSummary:
    """Re-wrap every non-destroyed data key of ``keys`` from its master key to ``new``.

    Raises ``MasterKeyError`` and changes nothing when a stored key opens with
    neither the current nor the new master key (it was wrapped by some third key).
    """
    old = keys.master
    if new.key_id == old.key_id:
        msg = "the new master key is the current one: nothing would change"
        raise MasterKeyError(msg)
    rewrapped: list[tuple[UUID, bytes]] = []
    already = 0
    with keys.datastore.transaction(commit=True) as curs:
        # EXCLUSIVE still lets readers unwrap keys, but no writer can insert a key
        # wrapped by the old master key while we re-wrap the others.
        curs.execute(f"LOCK TABLE {keys.table} IN EXCLUSIVE MODE")  # type: ignore[arg-type]
        curs.execute(
            f"SELECT participant_id, wrapped_key, master_key_id FROM {keys.table}"  # type: ignore[arg-type]
            " WHERE wrapped_key IS NOT NULL"
        )
        rows = curs.fetchall()
        for row in rows:
            participant_id = UUID(str(row["participant_id"]))
            wrapped = bytes(row["wrapped_key"])
            if row["master_key_id"] == new.key_id:
                new.unwrap(participant_id, wrapped)  # proves it; raises otherwise
                already += 1
                continue
            try:
                data_key = old.unwrap(participant_id, wrapped)
            except MasterKeyError:
                msg = (
                    f"the data key of participant {participant_id} opens with neither the "
                    "current nor the new master key: nothing was changed"
                )
                raise MasterKeyError(msg) from None
            again = new.wrap(participant_id, data_key)
            # Never commit a wrapping that does not open: check it before writing.
            if new.unwrap(participant_id, again) != data_key:
                msg = "re-wrapping a data key failed its check"
                raise MasterKeyError(msg)
            rewrapped.append((participant_id, again))
        if rewrapped:
            ids, wrapped_keys = (list(column) for column in zip(*rewrapped, strict=True))
            curs.execute(
                f"UPDATE {keys.table} AS k SET wrapped_key = u.wrapped_key,"  # type: ignore[arg-type]
                " master_key_id = %s"
                " FROM unnest(%s::uuid[], %s::bytea[]) AS u(participant_id, wrapped_key)"
                " WHERE k.participant_id = u.participant_id",
                (new.key_id, ids, wrapped_keys),
            )
        curs.execute(f"SELECT count(*) AS n FROM {keys.table} WHERE wrapped_key IS NULL")  # type: ignore[arg-type]
        destroyed_row = curs.fetchone()
    destroyed = int(destroyed_row["n"]) if destroyed_row else 0
    # This process keeps running with the new key: keys created from now on are
    # wrapped by it. Unwrapped data keys in the cache stay valid (they did not change).
    keys.master = new
    return RotationSummary(len(rewrapped), already, destroyed, new.key_id)


def keys_not_under(keys: KeyRing, master: MasterKey) -> int:
    """How many live data keys are wrapped by another master key than ``master``.

    Non-zero right after a rotation means a process still running with the old
    master key created keys meanwhile; running the rotation again (with the old
    key still configured) re-wraps exactly those and checks the rest.
    """
    with keys.datastore.transaction(commit=False) as curs:
        curs.execute(
            f"SELECT count(*) AS n FROM {keys.table}"  # type: ignore[arg-type]
            " WHERE wrapped_key IS NOT NULL AND master_key_id IS DISTINCT FROM %s",
            (master.key_id,),
        )
        row = curs.fetchone()
    return int(row["n"]) if row else 0
