"""Names in read models: sealed under the participant's key, searchable by blind index.

The blind index is a keyed hash (HMAC-SHA256, truncated) of each normalised word of
a name and of its prefixes, so ``q=ami`` finds "Amina" without the database ever
holding the name. The index key is derived from the master key: rotating the master
key requires rebuilding the ``participants`` read model (``lotse projections rebuild
participants``).
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from lotse.projections.model import Crypto
from lotse.storage import sealing
from lotse.storage.keys import KEYS_TABLE, MasterKey, MasterKeyError

INDEX_BYTES = 12
MIN_PREFIX = 3


def normalised_words(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = "".join(c if c.isalnum() else " " for c in plain).split()
    return [w for w in words if len(w) >= 2]


def index_key(master: MasterKey) -> bytes:
    return hmac.new(master.secret, b"lotse-name-index-v1", hashlib.sha256).digest()


def search_terms(key: bytes, text: str) -> list[bytes]:
    """The index entries a query must all match (its words as prefixes)."""
    return [
        hmac.new(key, w.encode(), hashlib.sha256).digest()[:INDEX_BYTES]
        for w in normalised_words(text)
    ]


def open_names(
    data_key: bytes | None, participant_id: UUID, sealed: bytes | None
) -> dict[str, Any]:
    if data_key is None or sealed is None:
        return {}
    try:
        plain = sealing.open_names(data_key, participant_id, sealed)
    except sealing.SealBrokenError:
        return {}
    value: dict[str, Any] = orjson.loads(plain)
    return value


class BatchCrypto(Crypto):
    """Crypto for one batch: holds the data keys of the participants it touches."""

    def __init__(self, master: MasterKey, keys: dict[UUID, bytes | None]):
        self.keys = keys
        self._index_key = index_key(master)

    def seal(self, participant_id: UUID, values: dict[str, Any]) -> bytes | None:
        key = self.keys.get(participant_id)
        if key is None:
            return None
        return sealing.seal_names(key, participant_id, orjson.dumps(values))

    def index(self, text: str) -> list[bytes]:
        entries: set[bytes] = set()
        for word in normalised_words(text):
            for end in range(min(MIN_PREFIX, len(word)), len(word) + 1):
                entries.add(
                    hmac.new(self._index_key, word[:end].encode(), hashlib.sha256).digest()[
                        :INDEX_BYTES
                    ]
                )
        return sorted(entries)


async def fetch_keys(
    conn: asyncpg.Connection,
    master: MasterKey,
    participant_ids: Iterable[UUID],
    schema: str = "public",
) -> dict[UUID, bytes | None]:
    """Unwrapped data keys; ``None`` for destroyed (erased) ones."""
    rows = await conn.fetch(
        f'SELECT participant_id, wrapped_key FROM "{schema}"."{KEYS_TABLE}" '
        "WHERE participant_id = ANY($1::uuid[])",
        list(participant_ids),
    )
    keys: dict[UUID, bytes | None] = {}
    for row in rows:
        wrapped = row["wrapped_key"]
        try:
            keys[row["participant_id"]] = (
                master.unwrap(row["participant_id"], bytes(wrapped)) if wrapped else None
            )
        except MasterKeyError:
            keys[row["participant_id"]] = None
    return keys
