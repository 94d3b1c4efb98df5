"""Sealing: AES-256-GCM with a random nonce, bound to its row by associated data.

The one place that encrypts and decrypts participants' data: identifying event
fields under the participant's data key (``storage.mapper`` writes and reads
them, ``projections.records`` reads them for the read models), names in read
models under the same key (``projections.crypto``), and data keys under the
master key (``storage.keys``). A sealed blob is the nonce followed by the
ciphertext; the associated data says which row it belongs to, so a blob copied
onto another row does not open instead of showing someone else's data.
"""

from __future__ import annotations

import base64
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12

#: Keys of a stored event's state: the sealed identifying fields (base64), the
#: names of the sealed fields, and of the sealed keys of a correction's changes.
SEALED = "_sealed"
SEALED_FIELDS = "_sealed_fields"
SEALED_CHANGES = "_sealed_changes"


class SealBrokenError(ValueError):
    """The blob does not open under this key for this row (altered or moved)."""


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def unseal(key: bytes, blob: bytes, associated: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)
    except InvalidTag:
        msg = "the sealed value does not belong to this row or key"
        raise SealBrokenError(msg) from None


def associated_data(originator_id: UUID | str, version: int) -> bytes:
    """An event's identifying fields belong to one event of one participant."""
    return f"lotse:{originator_id}:{version}".encode()


def seal_event(key: bytes, originator_id: UUID | str, version: int, plaintext: bytes) -> str:
    """The identifying fields of one event, as stored in its JSON state (base64)."""
    return base64.b64encode(seal(key, plaintext, associated_data(originator_id, version))).decode()


def open_event(key: bytes, originator_id: UUID | str, version: int, sealed: str) -> bytes:
    return unseal(key, base64.b64decode(sealed), associated_data(originator_id, version))


def _names_aad(participant_id: UUID) -> bytes:
    return b"lotse-rm-names:" + participant_id.bytes


def seal_names(key: bytes, participant_id: UUID, plaintext: bytes) -> bytes:
    """A participant's names as a read model holds them."""
    return seal(key, plaintext, _names_aad(participant_id))


def open_names(key: bytes, participant_id: UUID, blob: bytes) -> bytes:
    return unseal(key, blob, _names_aad(participant_id))
