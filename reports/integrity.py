"""Whether the hash chain verified up to a report's position, recorded with the report.

A report is only as trustworthy as the log it was computed from. Every stored run
and release records the result of ``storage.verification.verify_log`` at the time
it was made: the position up to which the chain verified, and the first problem
at or before the report's position, if any.

``full`` verifies from the first event (releases and replay jobs: published, or
audit work that takes seconds anyway). Otherwise verification starts at the newest
signed checkpoint at or before the position, so an ad-hoc report costs only the
tail; the record then names that checkpoint (``from_checkpoint``): rows before it
are covered by its signature over the chain, not recomputed. A tail longer than
``AD_HOC_LIMIT`` events is not verified in a request at all (``verified`` null, with
the reason): automatic checkpoints keep the tail short.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lotse.storage.checkpoints import CHECKPOINTS_TABLE
from lotse.storage.log_head import log_head
from lotse.storage.verification import verify_log

AD_HOC_LIMIT = 200_000
"""Events an ad-hoc run verifies at most (about a second); beyond, it records none."""
ChainCheck = Callable[[int, bool], Awaitable[dict[str, Any]]]
"""``(position, full) -> record``: what the service calls to record the chain's state."""


@dataclass(frozen=True)
class ChainVerifier:
    database_url: str
    public_key: Ed25519PublicKey | None

    async def __call__(self, position: int, full: bool) -> dict[str, Any]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await chain_record(
                conn,
                self.public_key,
                position,
                full=full,
                # Extra connections pay off for a whole log, not for a short tail.
                connect=(lambda: asyncpg.connect(self.database_url)) if full else None,
            )
        finally:
            await conn.close()


async def _start_checkpoint(conn: asyncpg.Connection, position: int) -> tuple[int | None, int]:
    """The newest checkpoint at or before ``position`` (id and position), or none (0)."""
    exists = await conn.fetchval("SELECT to_regclass($1)", CHECKPOINTS_TABLE)
    if exists is None:
        return None, 0
    row = await conn.fetchrow(
        f'SELECT id, position FROM "{CHECKPOINTS_TABLE}" WHERE position <= $1 AND position > 0 '
        "ORDER BY position DESC, id DESC LIMIT 1",
        position,
    )
    return (int(row["id"]), int(row["position"])) if row else (None, 0)


async def chain_record(
    conn: asyncpg.Connection,
    public_key: Ed25519PublicKey | None,
    position: int,
    *,
    full: bool,
    connect: Callable[[], Awaitable[asyncpg.Connection]] | None = None,
) -> dict[str, Any]:
    """Verify and describe the result as stored with a run (``chain_verified_to``).

    Not ``full``, a tail longer than ``AD_HOC_LIMIT`` events is not verified inside
    the request: the record says so (``verified`` null) instead of costing seconds.
    """
    start, start_position = (
        (None, 0) if full or public_key is None else await _start_checkpoint(conn, position)
    )
    if not full:
        last = await log_head(conn)
        if last - start_position > AD_HOC_LIMIT:
            return {
                "position": position,
                "verified": None,
                "verified_to": None,
                "from_checkpoint": start,
                "problem": None,
                "skipped": f"more than {AD_HOC_LIMIT} events since the last signed checkpoint",
                "signing_key": public_key is not None,
                "checked_at": datetime.now(UTC).isoformat(),
            }
    report = await verify_log(conn, public_key, from_checkpoint=start, connect=connect)
    problems = [p for p in report.problems if p.position <= position]
    first = min(problems, key=lambda p: p.position) if problems else None
    verified_to = position if first is None else max(first.position - 1, 0)
    return {
        "position": position,
        "verified": first is None,
        "verified_to": verified_to,
        "from_checkpoint": start,
        "problem": None if first is None else {"kind": first.kind, "position": first.position},
        "signing_key": public_key is not None,
        "checked_at": datetime.now(UTC).isoformat(),
    }


def verified_to(record: dict[str, Any] | None) -> int | None:
    """The position stored in ``chain_verified_to`` (none when not checked)."""
    if record is None or record.get("verified_to") is None:
        return None
    return int(record["verified_to"])
