"""Signed checkpoints: the chain's head, signed with Ed25519 and kept for auditors.

A checkpoint says "at log position P the chain hash was H, signed at T". An auditor
who holds the public key can later prove that nobody rewrote the log up to P, even
someone who recomputed every chain hash after changing a row: the signature covers
H, and only the holder of the private key can sign another one.

Signed message (version 1), UTF-8:

    "lotse-checkpoint-v1\\n" + str(P) + "\\n" + hex(H) + "\\n" + T + "\\n"

with T the signing time in UTC as ISO 8601 with microseconds
(``2026-11-22T08:15:00.123456+00:00``). Keys are 32 raw bytes, written as
base64url text; the public key carries the prefix ``ed25519:`` because base64url
text may begin with "-", which a command line reads as an option (an auditor
pasting ``--public-key -Xy...`` would get a parser error, not a check). A key id
is the first 16 hex digits of SHA-256 over the raw public key.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eventsourcing.postgres import PostgresDatastore

from storage.chain import GENESIS, ChainStatements

CHECKPOINTS_TABLE = "lotse_checkpoints"
SIGNING_KEY_ENV = "LOTSE_AUDIT_SIGNING_KEY"


class SigningKeyError(Exception):
    """The signing or public key is missing or malformed."""


def _decode_key(text: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode() + b"==")
    except ValueError:
        raw = b""
    if len(raw) != 32:
        msg = f"the {what} must be 32 bytes, base64url-encoded (lotse audit new-signing-key)"
        raise SigningKeyError(msg)
    return raw


def _encode_key(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


PUBLIC_KEY_PREFIX = "ed25519:"


def public_key_text(key: Ed25519PublicKey) -> str:
    return PUBLIC_KEY_PREFIX + _encode_key(raw_public_key(key))


def load_public_key(text_or_path: str) -> Ed25519PublicKey:
    """A public key given as base64url text, or as a file that holds it."""
    text = text_or_path
    candidate = Path(text_or_path)
    if len(text_or_path) < 4096 and candidate.is_file():
        text = candidate.read_text()
    text = text.strip().removeprefix(PUBLIC_KEY_PREFIX)  # bare base64url is accepted too
    return Ed25519PublicKey.from_public_bytes(_decode_key(text, "public key"))


def new_signing_key_text() -> str:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    return _encode_key(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def signing_key_from_text(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_decode_key(text, SIGNING_KEY_ENV))


def normalise_time(when: datetime) -> datetime:
    return when.astimezone(UTC)


def checkpoint_message(position: int, chain_hash: bytes, signed_at: datetime) -> bytes:
    stamp = normalise_time(signed_at).isoformat(timespec="microseconds")
    return f"lotse-checkpoint-v1\n{position}\n{chain_hash.hex()}\n{stamp}\n".encode()


@dataclass(frozen=True)
class Checkpoint:
    id: int
    position: int
    chain_hash: bytes
    signed_at: datetime
    signature: bytes
    public_key_id: str

    def signature_holds(self, public_key: Ed25519PublicKey) -> bool:
        if self.public_key_id != key_id(public_key):
            return False
        try:
            public_key.verify(
                self.signature, checkpoint_message(self.position, self.chain_hash, self.signed_at)
            )
        except InvalidSignature:
            return False
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "position": self.position,
            "chain_hash": self.chain_hash.hex(),
            "signed_at": normalise_time(self.signed_at).isoformat(timespec="microseconds"),
            "signature": base64.b64encode(self.signature).decode(),
            "public_key_id": self.public_key_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            id=int(data["id"]),
            position=int(data["position"]),
            chain_hash=bytes.fromhex(data["chain_hash"]),
            signed_at=datetime.fromisoformat(data["signed_at"]),
            signature=base64.b64decode(data["signature"]),
            public_key_id=str(data["public_key_id"]),
        )

    @classmethod
    def from_row(cls, row: Any) -> Checkpoint:
        return cls(
            id=int(row["id"]),
            position=int(row["position"]),
            chain_hash=bytes(row["chain_hash"]),
            signed_at=row["signed_at"],
            signature=bytes(row["signature"]),
            public_key_id=str(row["public_key_id"]),
        )


class Checkpoints:
    """Creates and lists signed checkpoints in ``lotse_checkpoints``."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        signing_key: Ed25519PrivateKey | None,
        schema: str = "public",
    ) -> None:
        self.datastore = datastore
        self.signing_key = signing_key
        self.table = f'"{schema}"."{CHECKPOINTS_TABLE}"'
        self.chain = ChainStatements(schema)

    @property
    def public_key(self) -> Ed25519PublicKey:
        if self.signing_key is None:
            msg = f"{SIGNING_KEY_ENV} is not set: checkpoints cannot be signed or checked"
            raise SigningKeyError(msg)
        return self.signing_key.public_key()

    def create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            " id bigserial PRIMARY KEY,"
            " position bigint NOT NULL,"
            " chain_hash bytea NOT NULL,"
            " signed_at timestamptz NOT NULL,"
            " signature bytea NOT NULL,"
            " public_key_id text NOT NULL)"
        ]

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for statement in self.create_table_statements():
                curs.execute(statement)

    def create(self, *, now: datetime | None = None) -> Checkpoint:
        """Sign the chain's current head and store the checkpoint."""
        key = self.signing_key
        if key is None:
            raise SigningKeyError(self.public_key_error())
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.chain.head)
            head = curs.fetchone()
            position = int(head["notification_id"]) if head else 0
            chain_hash = bytes(head["chain_hash"]) if head else GENESIS
            # PostgreSQL keeps microseconds: sign exactly what will be stored.
            signed_at = normalise_time(now or datetime.now(UTC))
            signature = key.sign(checkpoint_message(position, chain_hash, signed_at))
            curs.execute(
                f"INSERT INTO {self.table} "
                "(position, chain_hash, signed_at, signature, public_key_id) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (position, chain_hash, signed_at, signature, key_id(key.public_key())),
            )
            row = curs.fetchone()
        assert row is not None
        return Checkpoint(
            int(row["id"]), position, chain_hash, signed_at, signature, key_id(key.public_key())
        )

    @staticmethod
    def public_key_error() -> str:
        return f"{SIGNING_KEY_ENV} is not set: checkpoints cannot be signed"

    def get(self, checkpoint_id: int) -> Checkpoint | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT * FROM {self.table} WHERE id = %s", (checkpoint_id,))
            row = curs.fetchone()
        return Checkpoint.from_row(row) if row else None

    def exist(self) -> bool:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT EXISTS (SELECT 1 FROM {self.table}) AS found")
            row = curs.fetchone()
        return bool(row and row["found"])

    def all(self) -> list[Checkpoint]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT * FROM {self.table} ORDER BY id")
            return [Checkpoint.from_row(r) for r in curs.fetchall()]

    def covering(self, position: int) -> Checkpoint | None:
        """The earliest checkpoint at or after ``position`` (what an export links to)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT * FROM {self.table} WHERE position >= %s ORDER BY position, id LIMIT 1",
                (position,),
            )
            row = curs.fetchone()
        return Checkpoint.from_row(row) if row else None
