"""Witnesses: another party countersigns Lotse's checkpoints and keeps them.

Lotse's own checkpoints live in Lotse's database. Someone who controls that
database (and Lotse's signing key, which an automatic signer must hold) can cut
the newest events off, or rewrite recent ones and sign again, and remove the
checkpoints that would tell. A witness (the funder's or auditor's office) keeps
copies outside that reach, as Certificate Transparency's witnesses cosign signed
tree heads (RFC 9162):

1. fetch Lotse's newest checkpoint and check Lotse's signature on it;
2. check that it **extends** the witness's previous head: the log at the old
   position still has the old chain hash, the chain from there links up to the
   new hash, and the read-access log still holds the old head's entry;
3. countersign it with the witness's own Ed25519 key and append it to the
   witness file (JSON lines, one witnessed checkpoint per line).

``lotse audit verify --witness FILE`` then checks the database against every
witnessed head, so events cut off after the newest stored checkpoint, or
rewritten since the newest witnessed one, are found.

Witness signature (version 1) over, UTF-8:

    "lotse-witness-v1\\n" + W + "\\n" + <Lotse's signed checkpoint message>

with W the witnessing time in UTC, ISO 8601 with microseconds.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lotse.storage.access_log import ACCESS_LOG_TABLE
from lotse.storage.chain import CHAIN_TABLE
from lotse.storage.checkpoints import (
    Checkpoint,
    key_id,
    load_public_key,
    normalise_time,
    public_key_text,
)
from lotse.storage.verification import Problem, link_range


class WitnessError(Exception):
    """The checkpoint cannot be witnessed; the message says why (no personal data)."""


@dataclass(frozen=True)
class Witnessed:
    """One line of a witness file: Lotse's checkpoint and the witness's countersignature."""

    checkpoint: Checkpoint
    witnessed_at: datetime
    witness_key: str
    """The witness's public key (ed25519:base64url)."""
    signature: bytes

    def message(self) -> bytes:
        return witness_message(self.checkpoint, self.witnessed_at)

    def signature_holds(self, pinned: Ed25519PublicKey | None = None) -> bool:
        key = pinned or load_public_key(self.witness_key)
        if pinned is not None and public_key_text(pinned) != self.witness_key:
            return False
        try:
            key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True

    def as_json(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint.as_json(),
            "witnessed_at": normalise_time(self.witnessed_at).isoformat(timespec="microseconds"),
            "witness_key": self.witness_key,
            "witness_key_id": key_id(load_public_key(self.witness_key)),
            "witness_signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Witnessed:
        return cls(
            checkpoint=Checkpoint.from_json(data["checkpoint"]),
            witnessed_at=datetime.fromisoformat(data["witnessed_at"]),
            witness_key=str(data["witness_key"]),
            signature=base64.b64decode(data["witness_signature"]),
        )


def witness_message(checkpoint: Checkpoint, witnessed_at: datetime) -> bytes:
    stamp = normalise_time(witnessed_at).isoformat(timespec="microseconds")
    return f"lotse-witness-v1\n{stamp}\n".encode() + checkpoint.message


def read_witness_file(path: Path, pinned: Ed25519PublicKey | None = None) -> list[Witnessed]:
    """Every witnessed checkpoint in the file; WitnessError if a line does not hold."""
    if not path.exists():
        return []
    witnessed: list[Witnessed] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = Witnessed.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            msg = f"line {number} of the witness file is malformed"
            raise WitnessError(msg) from None
        if not entry.signature_holds(pinned):
            msg = f"the witness signature on line {number} does not hold"
            raise WitnessError(msg)
        witnessed.append(entry)
    return witnessed


def newest(witnessed: list[Witnessed]) -> Witnessed | None:
    return max(witnessed, key=lambda w: (w.checkpoint.position, w.witnessed_at), default=None)


async def check_extends(
    conn: asyncpg.Connection,
    previous: Checkpoint,
    candidate: Checkpoint,
    *,
    events_table: str = "lotse_events",
    schema: str = "public",
) -> Problem | None:
    """Does ``candidate`` extend ``previous`` in this database? None if so, else the problem.

    Recomputes the chain from the previous head to the candidate's position
    (only the events in between), so a candidate signed over a log that was
    rewritten before the previous head, or cut below it, is refused.
    """
    events = f'"{schema}"."{events_table}"'
    chain = f'"{schema}"."{CHAIN_TABLE}"'
    access_log = f'"{schema}"."{ACCESS_LOG_TABLE}"'
    if candidate.position < previous.position:
        return Problem(
            candidate.position,
            "not-extending",
            f"the checkpoint is at position {candidate.position}, before the witnessed head "
            f"at {previous.position}: the log was cut",
            candidate.id,
        )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        if previous.position > 0:
            stored = await conn.fetchval(
                f"SELECT chain_hash FROM {chain} WHERE notification_id = $1", previous.position
            )
            if stored is None or bytes(stored) != previous.chain_hash:
                return Problem(
                    previous.position,
                    "not-extending",
                    "the log no longer has the witnessed chain hash at the witnessed head: "
                    "it was rewritten or cut",
                    previous.id,
                )
        if previous.covers is not None and candidate.covers is not None:
            old_id = previous.covers.access_log_id
            if candidate.covers.access_log_id < old_id:
                return Problem(
                    candidate.position, "not-extending", "the read-access log was cut", candidate.id
                )
            if old_id:
                stored = await conn.fetchval(
                    f"SELECT entry_hash FROM {access_log} WHERE id = $1", old_id
                )
                if stored is None or bytes(stored) != previous.covers.access_log_hash:
                    return Problem(
                        previous.position,
                        "not-extending",
                        "the read-access log no longer holds the witnessed entry",
                        previous.id,
                    )
        if candidate.position == previous.position:
            if candidate.chain_hash != previous.chain_hash:
                return Problem(
                    candidate.position,
                    "not-extending",
                    "another chain hash at the witnessed position",
                    candidate.id,
                )
            return None
        problem = await link_range(
            conn, events, chain, (previous.position, previous.chain_hash), candidate
        )
        if problem is not None:
            return Problem(
                problem.position,
                "not-extending",
                f"between the witnessed head and the checkpoint: {problem.detail}",
                candidate.id,
            )
    return None


def countersign(
    checkpoint: Checkpoint, key: Ed25519PrivateKey, *, now: datetime | None = None
) -> Witnessed:
    witnessed_at = normalise_time(now or datetime.now(UTC))
    return Witnessed(
        checkpoint=checkpoint,
        witnessed_at=witnessed_at,
        witness_key=public_key_text(key.public_key()),
        signature=key.sign(witness_message(checkpoint, witnessed_at)),
    )


def append(path: Path, entry: Witnessed) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(entry.as_json(), sort_keys=True) + "\n")
