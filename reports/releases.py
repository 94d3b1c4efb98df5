"""Published releases: a report at the fixed cut-off of its period, stored immutably.

Roles without the right to personal data (funders) read only these. The cut-off
is not chosen by anyone: it is the period's reporting date (its last day) plus the
programme's ``release_delay_days``, and the release is computed by replaying the
log up to the *cut-off position*, the last event recorded (library timestamp,
UTC) before the end of the cut-off day. Publishing the same report, period and
scope again is refused: there is exactly one release of each, and it never changes.
Its counts are protected by ``reports.rounding`` (random rounding anchored to
earlier releases), not by suppression alone.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from lotse.domain.access import Principal
from lotse.domain.configuration import Configuration
from lotse.domain.errors import InvalidInputError, RuleViolationError
from lotse.projections.schema import EVENTS
from lotse.reports.cells import Figures, publish
from lotse.reports.definition import DEFINITION_VERSIONS, KINDS, ReportRequest
from lotse.reports.integrity import ChainCheck, verified_to
from lotse.reports.periods import Period, parse_period
from lotse.reports.rounding import BASE, Anchor, protect, release_key
from lotse.reports.service import TABLES, config_provenance, figures_from_rows
from lotse.reports.sources import replay
from lotse.storage.log_head import log_head

RELEASES = "lotse_report_releases"
DDL = f"""
CREATE TABLE IF NOT EXISTS {RELEASES} (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    programme text NOT NULL,
    period text NOT NULL,
    scope_municipality text,
    cutoff_date date NOT NULL,
    position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL,
    created_role text NOT NULL,
    anchors jsonb NOT NULL,
    chain_verified_to bigint,
    chain jsonb,
    document json NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS {RELEASES}_one
    ON {RELEASES} (kind, programme, period, coalesce(scope_municipality, '*'));
CREATE TABLE IF NOT EXISTS {RELEASES}_anchors (
    kind text NOT NULL,
    programme text NOT NULL,
    cell text NOT NULL,
    true_count bigint NOT NULL,
    published bigint NOT NULL,
    release_id uuid NOT NULL,
    PRIMARY KEY (kind, programme, cell)
)
"""
ANCHORS = f"{RELEASES}_anchors"
"""The newest published value of every cell key (each release also keeps its own)."""
#: Standard periods only: a date range would be an ad-hoc cut-off by another name.
_RELEASE_PERIOD = re.compile(r"^\d{4}(-Q[1-4]|-H[12])?$")
PROTECTION = f"Personenzahlen zufällig auf Vielfache von {BASE} gerundet (Zellschlüssel-Verfahren)"


@dataclass(frozen=True)
class Release:
    id: UUID
    kind: str
    programme: str
    period: str
    scope_municipality: str | None
    cutoff_date: date
    position: int
    created_at: datetime
    created_by: str
    created_role: str
    chain: dict[str, Any] | None
    document: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "report": self.kind,
            "programme": self.programme,
            "period": self.period,
            "municipality": self.scope_municipality,
            "cutoff_date": self.cutoff_date.isoformat(),
            "position": self.position,
            "created_at": self.created_at.isoformat(),
            "chain_verified_to": self.chain,
            "href": f"/reports/releases/{self.id}",
        }


def release_period(text: str) -> Period:
    period = parse_period(text)
    if not _RELEASE_PERIOD.match(period.text):
        msg = "period of a release must be a quarter, half-year or year (YYYY-Qn, YYYY-Hn, YYYY)"
        raise InvalidInputError(msg, field="period", rule="release-period")
    return period


def cutoff_date(period: Period, delay_days: int) -> date:
    """The fixed cut-off: the period's reporting date plus the configured delay."""
    return period.end + timedelta(days=delay_days)


def cutoff_instant(day: date) -> datetime:
    """Events recorded before this instant (the end of the cut-off day, UTC) count."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


_RECORDED_AT = (
    "SELECT convert_from(state, 'UTF8')::jsonb -> 'timestamp' ->> '_data_' "
    f"FROM {EVENTS} WHERE notification_id >= $1 ORDER BY notification_id LIMIT 1"
)


async def cutoff_position(conn: asyncpg.Connection, instant: datetime) -> int:
    """The last position recorded before ``instant``.

    Positions are assigned in recording order (the library takes a table lock per
    save), so a binary search over positions reads some 20 rows, not the log.
    """
    low, high = 0, await log_head(conn)  # invariant: recorded(low) < instant (0: none)
    while low < high:
        middle = (low + high + 1) // 2
        text = await conn.fetchval(_RECORDED_AT, middle)
        if text is not None and datetime.fromisoformat(text) < instant:
            low = middle
        else:
            high = middle - 1
    if low:
        position = await conn.fetchval(
            f"SELECT max(notification_id) FROM {EVENTS} WHERE notification_id <= $1", low
        )
        return int(position or 0)
    return 0


async def ensure_table(conn: asyncpg.Connection) -> None:
    if await conn.fetchval("SELECT to_regclass($1)", ANCHORS) is not None:
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lotse-report-releases'))")
        await conn.execute(DDL)


def _from_row(row: asyncpg.Record) -> Release:
    values = dict(row)
    values.pop("anchors", None)
    values.pop("chain_verified_to", None)
    values["document"] = orjson.loads(values["document"])
    values["chain"] = orjson.loads(values["chain"]) if values["chain"] is not None else None
    values["position"] = int(values["position"])
    return Release(**values)


_COLUMNS = (
    "id, kind, programme, period, scope_municipality, cutoff_date, position, created_at, "
    "created_by, created_role, chain, document"
)


async def load(conn: asyncpg.Connection, release_id: UUID) -> Release | None:
    await ensure_table(conn)
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {RELEASES} WHERE id = $1", release_id)
    return _from_row(row) if row else None


async def list_releases(
    conn: asyncpg.Connection, kind: str | None = None, period: str | None = None
) -> list[Release]:
    await ensure_table(conn)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM {RELEASES} WHERE ($1::text IS NULL OR kind = $1) "
        "AND ($2::text IS NULL OR period = $2) ORDER BY created_at, id",
        kind,
        period,
    )
    return [_from_row(r) for r in rows]


async def _anchors(conn: asyncpg.Connection, kind: str, programme: str) -> dict[str, Anchor]:
    """What the newest earlier release published per cell, with the true count then."""
    rows = await conn.fetch(
        f"SELECT cell, true_count, published FROM {ANCHORS} WHERE kind = $1 AND programme = $2",
        kind,
        programme,
    )
    return {r["cell"]: Anchor(int(r["true_count"]), int(r["published"])) for r in rows}


async def _store_anchors(
    conn: asyncpg.Connection,
    kind: str,
    programme: str,
    release_id: UUID,
    anchors: dict[str, list[int]],
) -> None:
    await conn.executemany(
        f"INSERT INTO {ANCHORS} (kind, programme, cell, true_count, published, release_id) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, programme, cell) DO UPDATE SET "
        "true_count = excluded.true_count, published = excluded.published, "
        "release_id = excluded.release_id",
        [(kind, programme, cell, t, p, release_id) for cell, (t, p) in anchors.items()],
    )


def _document(
    release_id: UUID,
    request: ReportRequest,
    figures: Figures,
    published: dict[Any, Any],
    config: Configuration,
    principal: Principal,
    position: int,
    cutoff: date,
    created_at: datetime,
    chain: dict[str, Any] | None,
) -> dict[str, Any]:
    version, digest = config_provenance(config, request.programme)
    shown = Figures(
        cells={**figures.cells, **published},
        relations=figures.relations,
        sensitive=figures.sensitive,
        tables=figures.tables,
    )
    provenance = {
        "id": str(release_id),
        "kind": request.kind,
        "parameters": request.parameters(),
        "scope": {"municipality": request.municipality, "provider": None},
        "position": position,
        "source": "replay",
        "definition_version": DEFINITION_VERSIONS[request.kind],
        "config_version": version,
        "config_sha256": digest,
        "created_at": created_at.isoformat(),
        "created_by": principal.user,
        "created_role": principal.role.value,
        "suppressed": True,
        "threshold": BASE,
        "evidence": False,
        "protection": PROTECTION,
        "chain_verified_to": chain,
    }
    return {
        "release": {
            "id": str(release_id),
            "cutoff_date": cutoff.isoformat(),
            "cutoff_position": position,
            "release_delay_days": config.programmes[request.programme].release_delay_days,
            "rounding_base": BASE,
        },
        "run": provenance,
        "suppressed_cells": [],
        "tables": publish(shown, set()),
    }


async def publish_release(
    conn: asyncpg.Connection,
    config: Configuration,
    principal: Principal,
    *,
    kind: str,
    programme: str,
    period_text: str,
    municipality: str | None,
    secret: bytes,
    chain_check: ChainCheck | None,
    now: datetime | None = None,
) -> Release:
    """Compute the release at its fixed cut-off, protect it, store it once."""
    if kind not in KINDS:
        msg = f"report must be one of: {', '.join(KINDS)}"
        raise InvalidInputError(msg, field="report")
    period = release_period(period_text)
    cutoff = cutoff_date(period, config.programmes[programme].release_delay_days)
    if (now or datetime.now(UTC)) < cutoff_instant(cutoff):
        msg = f"the release of this period is due after its cut-off date {cutoff.isoformat()}"
        raise RuleViolationError(msg, field="period", rule="release-not-due")
    await ensure_table(conn)
    request = ReportRequest(kind, programme, period, municipality, None)
    if await conn.fetchval(
        f"SELECT 1 FROM {RELEASES} WHERE kind = $1 AND programme = $2 AND period = $3 "
        "AND coalesce(scope_municipality, '*') = coalesce($4, '*')",
        kind,
        programme,
        period.text,
        municipality,
    ):
        msg = "this release is already published (a release never changes)"
        raise RuleViolationError(msg, rule="release-exists")
    position = await cutoff_position(conn, cutoff_instant(cutoff))
    rows = await replay(conn, position, TABLES[kind])
    figures = figures_from_rows(request, rows, config, evidence=False)
    chain = None if chain_check is None else await chain_check(position, True)
    release_id = uuid.uuid4()
    created_at = datetime.now(UTC)
    async with conn.transaction():
        # One publisher at a time: each release anchors on all earlier ones.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lotse-report-releases'))")
        anchors = await _anchors(conn, kind, programme)
        published = protect(figures, secret, anchors)
        mine = {release_key(k): [int(figures.value(k)), int(v)] for k, v in published.items()}
        document = _document(
            release_id,
            request,
            figures,
            published,
            config,
            principal,
            position,
            cutoff,
            created_at,
            chain,
        )
        try:
            await conn.execute(
                f"INSERT INTO {RELEASES} (id, kind, programme, period, scope_municipality, "
                "cutoff_date, position, created_at, created_by, created_role, anchors, "
                "chain_verified_to, chain, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10, $11::jsonb, $12, $13::jsonb, $14::json)",
                release_id,
                kind,
                programme,
                period.text,
                municipality,
                cutoff,
                position,
                created_at,
                principal.user,
                principal.role.value,
                orjson.dumps(mine).decode(),
                verified_to(chain),
                None if chain is None else orjson.dumps(chain).decode(),
                orjson.dumps(document).decode(),
            )
        except asyncpg.UniqueViolationError:
            msg = "this release is already published (a release never changes)"
            raise RuleViolationError(msg, rule="release-exists") from None
        await _store_anchors(conn, kind, programme, release_id, mine)
    return Release(
        release_id,
        kind,
        programme,
        period.text,
        municipality,
        cutoff,
        position,
        created_at,
        principal.user,
        principal.role.value,
        chain,
        document,
    )
