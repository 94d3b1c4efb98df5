"""Report replays as jobs: queued, run one at a time per process, results stored as runs.

Recomputing a report by replaying the whole log costs seconds of database and CPU
time, so it is audit work (auditors and admins) and never runs inside a request:
``POST /reports/replays`` stores a job and answers 202, the job runs in the API
process's event loop, and ``GET /reports/replays/{id}`` polls it. Jobs are rows
(``lotse_report_jobs``), so any API worker answers the poll, and a user may have
at most ``PER_USER`` jobs queued or running at once. A job that an API crash left
behind stops counting after ``STALE_AFTER``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from lotse.domain.access import Principal
from lotse.domain.errors import DomainError

log = logging.getLogger(__name__)

JOBS = "lotse_report_jobs"
PER_USER = 2
"""Jobs one user may have queued or running at once."""
STALE_AFTER = timedelta(hours=1)
RETRY_AFTER_SECONDS = 30
DDL = f"""
CREATE TABLE IF NOT EXISTS {JOBS} (
    id uuid PRIMARY KEY,
    created_by text NOT NULL,
    created_role text NOT NULL,
    created_at timestamptz NOT NULL,
    parameters jsonb NOT NULL,
    status text NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    run_id uuid,
    error text
)
"""
#: Replays are CPU-bound in this process: one at a time (per event loop) keeps the
#: API answering.
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
_TASKS: set[asyncio.Task[None]] = set()


class TooManyJobsError(DomainError):
    """The user already has ``PER_USER`` jobs queued or running (HTTP 429)."""

    rule = "too-many-jobs"
    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Job:
    id: UUID
    created_by: str
    created_role: str
    created_at: datetime
    parameters: dict[str, Any]
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    run_id: UUID | None
    error: str | None

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "status": self.status,
            "parameters": self.parameters,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "run": f"/reports/runs/{self.run_id}" if self.run_id else None,
            "error": self.error,
        }


async def ensure_table(conn: asyncpg.Connection) -> None:
    if await conn.fetchval("SELECT to_regclass($1)", JOBS) is not None:
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lotse-report-jobs'))")
        await conn.execute(DDL)


async def create(conn: asyncpg.Connection, principal: Principal, parameters: dict[str, Any]) -> Job:
    """Store a queued job, unless the user has too many already."""
    await ensure_table(conn)
    now = datetime.now(UTC)
    job_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"job:{principal.user}")
        pending = await conn.fetchval(
            f"SELECT count(*) FROM {JOBS} WHERE created_by = $1 "
            "AND status IN ('queued', 'running') AND created_at > $2",
            principal.user,
            now - STALE_AFTER,
        )
        if pending >= PER_USER:
            msg = f"at most {PER_USER} report replays per user may be queued or running"
            raise TooManyJobsError(msg)
        await conn.execute(
            f"INSERT INTO {JOBS} (id, created_by, created_role, created_at, parameters, status)"
            " VALUES ($1, $2, $3, $4, $5::jsonb, 'queued')",
            job_id,
            principal.user,
            principal.role.value,
            now,
            orjson.dumps(parameters).decode(),
        )
    return Job(
        job_id, principal.user, principal.role.value, now, parameters, "queued", *(None,) * 4
    )


async def load(conn: asyncpg.Connection, job_id: UUID) -> Job | None:
    await ensure_table(conn)
    row = await conn.fetchrow(f"SELECT * FROM {JOBS} WHERE id = $1", job_id)
    if row is None:
        return None
    values = dict(row)
    values["parameters"] = orjson.loads(values["parameters"])
    return Job(**values)


def start(
    pool: asyncpg.Pool, job: Job, work: Callable[[asyncpg.Connection], Awaitable[UUID]]
) -> None:
    """Run ``work`` (which stores a run and returns its id) in the background."""
    task = asyncio.get_running_loop().create_task(_run(pool, job.id, work))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def _run(
    pool: asyncpg.Pool, job_id: UUID, work: Callable[[asyncpg.Connection], Awaitable[UUID]]
) -> None:
    slot = _SLOTS.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(1))
    async with slot, pool.acquire() as conn:
        await conn.execute(
            f"UPDATE {JOBS} SET status = 'running', started_at = now() WHERE id = $1", job_id
        )
        try:
            run_id = await work(conn)
        except Exception as e:
            # The error type only: a message may carry data.
            log.warning("report replay job %s failed: %s", job_id, type(e).__name__)
            error = e.message if isinstance(e, DomainError) else type(e).__name__
            await conn.execute(
                f"UPDATE {JOBS} SET status = 'failed', finished_at = now(), error = $2 "
                "WHERE id = $1",
                job_id,
                error,
            )
            return
        await conn.execute(
            f"UPDATE {JOBS} SET status = 'done', finished_at = now(), run_id = $2 WHERE id = $1",
            job_id,
            run_id,
        )
