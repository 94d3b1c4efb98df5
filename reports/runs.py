"""Stored report runs: what was computed, at which position, with which definition.

A run keeps its raw figures (every cell, for the change list) and the published
document exactly as served, so ``GET /reports/runs/{id}`` returns the same content
years later, whatever the code does by then. The document is stored as ``json``,
not ``jsonb``: the text is kept as written, key and table order included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import orjson

RUNS = "lotse_report_runs"
DDL = f"""
CREATE TABLE IF NOT EXISTS {RUNS} (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    parameters jsonb NOT NULL,
    scope_municipality text,
    scope_provider text,
    suppressed boolean NOT NULL,
    threshold int NOT NULL,
    evidence boolean NOT NULL,
    position bigint NOT NULL,
    source text NOT NULL,
    definition_version text NOT NULL,
    config_version text NOT NULL,
    config_sha256 text NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    created_role text NOT NULL,
    cells jsonb NOT NULL,
    document json NOT NULL,
    chain_verified_to bigint,
    chain jsonb
)
"""
#: Tables made before runs recorded the chain's verification get the columns.
UPGRADE = (
    f"ALTER TABLE {RUNS} ADD COLUMN IF NOT EXISTS chain_verified_to bigint, "
    "ADD COLUMN IF NOT EXISTS chain jsonb"
)


@dataclass(frozen=True)
class Run:
    id: UUID
    kind: str
    parameters: dict[str, Any]
    scope_municipality: str | None
    scope_provider: str | None
    suppressed: bool
    threshold: int
    evidence: bool
    position: int
    source: str
    definition_version: str
    config_version: str
    config_sha256: str
    created_at: datetime
    created_by: str
    created_role: str
    cells: dict[str, Any]
    document: dict[str, Any]
    chain: dict[str, Any] | None = None
    """Whether the hash chain verified up to ``position`` when the run was made."""
    chain_verified_to: int | None = None


async def ensure_table(conn: asyncpg.Connection) -> None:
    if await conn.fetchval(
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'chain'", RUNS
    ):
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lotse-report-runs'))")
        await conn.execute(DDL)
        await conn.execute(UPGRADE)


async def store(conn: asyncpg.Connection, run: Run) -> None:
    await ensure_table(conn)
    await conn.execute(
        f"INSERT INTO {RUNS} (id, kind, parameters, scope_municipality, scope_provider, "
        "suppressed, threshold, evidence, position, source, definition_version, config_version, "
        "config_sha256, created_at, created_by, created_role, cells, document, "
        "chain_verified_to, chain) VALUES "
        "($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
        "$17::jsonb, $18::json, $19, $20::jsonb)",
        run.id,
        run.kind,
        orjson.dumps(run.parameters).decode(),
        run.scope_municipality,
        run.scope_provider,
        run.suppressed,
        run.threshold,
        run.evidence,
        run.position,
        run.source,
        run.definition_version,
        run.config_version,
        run.config_sha256,
        run.created_at,
        run.created_by,
        run.created_role,
        orjson.dumps(run.cells).decode(),
        orjson.dumps(run.document).decode(),
        run.chain_verified_to,
        None if run.chain is None else orjson.dumps(run.chain).decode(),
    )


async def load(conn: asyncpg.Connection, run_id: UUID) -> Run | None:
    await ensure_table(conn)
    row = await conn.fetchrow(f"SELECT * FROM {RUNS} WHERE id = $1", run_id)
    if row is None:
        return None
    values = dict(row)
    for name in ("parameters", "cells", "document", "chain"):
        if values[name] is not None:
            values[name] = orjson.loads(values[name])
    values["position"] = int(values["position"])
    return Run(**values)
