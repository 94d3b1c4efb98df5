"""What an entry point asks of the reports, answered the same way for the API and the CLI.

The HTTP routes and ``lotse report`` parse their input and call these functions:
which programme a request means, which scope it covers, how a run is computed,
stored, found again and compared, how a replay job and a release are made. A
command line and an HTTP request thus cannot drift apart in what they decide;
only their spelling of a field differs (``programme`` vs ``--programme``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg

from lotse.domain.access import (
    Principal,
    check_unsuppressed,
    may_read_replay_job,
    may_read_run,
    may_see_changed_participant,
    may_see_unsuppressed,
    report_scope,
)
from lotse.domain.configuration import Configuration
from lotse.domain.errors import AccessDeniedError, InvalidInputError, ParticipantNotFoundError
from lotse.projections.participants import query_placements
from lotse.reports import jobs, releases
from lotse.reports.definition import ReportRequest
from lotse.reports.integrity import ChainCheck
from lotse.reports.periods import parse_period
from lotse.reports.runs import Run, load
from lotse.reports.service import changes, compute, publish_run
from lotse.reports.suppression import DEFAULT_THRESHOLD
from lotse.storage.log_head import log_head as head


class RunNotFoundError(ParticipantNotFoundError):
    rule = "run-not-found"


class ReleaseNotFoundError(ParticipantNotFoundError):
    rule = "release-not-found"


class JobNotFoundError(ParticipantNotFoundError):
    rule = "job-not-found"


def choose_programme(config: Configuration, programme: str | None, *, prefix: str = "") -> str:
    """The programme a report request means: the one named, or the only one configured.

    With several programmes configured a request must name one: taking "the
    first" would report on a programme by the order of configuration files.
    """
    programmes = config.programmes
    if programme is None and len(programmes) == 1:
        return next(iter(programmes))
    if programme not in programmes:
        msg = f"{prefix}programme is not a configured programme"
        raise InvalidInputError(msg, field=f"{prefix}programme", rule="unknown-programme")
    return programme


def report_request(
    config: Configuration,
    principal: Principal,
    *,
    kind: str,
    period: str,
    municipality: str | None,
    provider: str | None,
    programme: str | None,
    unsuppressed: bool,
    prefix: str = "",
) -> ReportRequest:
    """A new report's request, narrowed to what the caller may see (refusing the rest)."""
    scope_municipality, scope_provider = report_scope(principal, config, municipality, provider)
    if unsuppressed:
        check_unsuppressed(principal)
    return ReportRequest(
        kind=kind,
        programme=choose_programme(config, programme, prefix=prefix),
        period=parse_period(period, field=f"{prefix}period"),
        municipality=scope_municipality,
        provider=scope_provider,
    )


def shows_evidence(request: ReportRequest, principal: Principal) -> bool:
    """Financial runs may carry their evidence, for the roles that see unsuppressed figures."""
    return request.kind == "financial" and may_see_unsuppressed(principal)


def check_evidence(request: ReportRequest, principal: Principal) -> None:
    """Evidence (the event trail, every Teilnehmendenliste) is asked for, not sent by default.

    A statewide year holds millions of attendance marks: listing them inline made
    the financial report take 40 s instead of about one (``bench/reports.py``), so
    the report carries totals and per-course rows and the lists come on request,
    for a scope (a provider's report) or per course (``GET /courses/{id}``).
    """
    if request.kind != "financial":
        msg = "evidence: only the financial report has evidence rows"
        raise InvalidInputError(msg, field="evidence", rule="evidence-financial-only")
    if not may_see_unsuppressed(principal):
        msg = "evidence rows name participants: not for this role"
        raise AccessDeniedError(msg, field="evidence")


async def make_run(
    conn: asyncpg.Connection,
    request: ReportRequest,
    config: Configuration,
    principal: Principal,
    *,
    unsuppressed: bool,
    chain_check: ChainCheck,
    position: int | None = None,
    replay_fallback: bool = True,
    evidence: bool = False,
    pool: asyncpg.Pool | None = None,
) -> Run:
    """Compute a report (read models, or replay at ``position``) and store it as a run.

    A run at a position checks the whole chain up to it: it is audit work.
    ``evidence`` adds the financial report's evidence rows (``check_evidence``);
    ``pool`` lends connections to read side by side (``reports.snapshots``).
    """
    if evidence:
        check_evidence(request, principal)
    computed = await compute(
        conn,
        request,
        config,
        position=position,
        evidence=evidence,
        replay_fallback=replay_fallback,
        pool=pool,
    )
    return await publish_run(
        conn,
        computed,
        config,
        principal,
        suppressed=not unsuppressed,
        threshold=DEFAULT_THRESHOLD,
        evidence=evidence,
        chain_check=chain_check,
        full_chain=position is not None,
    )


async def find_run(
    conn: asyncpg.Connection, config: Configuration, principal: Principal, run_id: UUID
) -> Run:
    """A stored run the caller may see; any other looks like an unknown id."""
    run = await load(conn, run_id)
    if run is None or not may_read_run(
        principal,
        config,
        municipality=run.scope_municipality,
        provider=run.scope_provider,
        suppressed=run.suppressed,
        evidence=run.evidence,
    ):
        msg = "no report run with this id"
        raise RunNotFoundError(msg)
    return run


async def find_release(conn: asyncpg.Connection, release_id: UUID) -> releases.Release:
    """A published release (every role may read them: their counts are protected)."""
    release = await releases.load(conn, release_id)
    if release is None:
        msg = "no release with this id"
        raise ReleaseNotFoundError(msg)
    return release


async def find_replay_job(conn: asyncpg.Connection, principal: Principal, job_id: UUID) -> jobs.Job:
    """The caller's own replay job; anyone else's looks like an unknown id."""
    job = await jobs.load(conn, job_id)
    if job is None or not may_read_replay_job(principal, job.created_by):
        msg = "no replay job with this id"
        raise JobNotFoundError(msg)
    return job


async def run_changes(
    conn: asyncpg.Connection, run: Run, config: Configuration, principal: Principal
) -> dict[str, Any]:
    """What late entries and corrections changed since a run, naming only whom the caller sees."""
    result = await changes(conn, run, config, principal)
    await withhold_unseen_participants(conn, principal, result)
    return result


async def withhold_unseen_participants(
    conn: Any, principal: Principal, result: dict[str, Any]
) -> None:
    """Name only participants the caller may see now, with their per-event cells.

    The run lies within the caller's scope, but a late event may concern someone
    who has moved to another provider or municipality since.
    """
    named = [e for e in result["events"] if e.get("participant_id")]
    placements = await query_placements(conn, [UUID(e["participant_id"]) for e in named])
    for entry in named:
        provider, municipality = placements.get(UUID(entry["participant_id"]), (None, None))
        if not may_see_changed_participant(principal, provider, municipality):
            entry["participant_id"] = None
            entry.pop("cells", None)


Work = Callable[[asyncpg.Connection], Awaitable[UUID]]


async def queue_replay(
    conn: asyncpg.Connection,
    request: ReportRequest,
    config: Configuration,
    principal: Principal,
    *,
    position: int | None,
    unsuppressed: bool,
    chain_check: ChainCheck,
) -> tuple[jobs.Job, Work]:
    """Record a replay job (refused beyond the log's head or over the per-user limit).

    Returns the job and its work: the run at ``position`` (default: the head when
    the work starts), for ``jobs.start`` to carry out.
    """
    if position is not None and position > await head(conn):
        msg = "position is beyond the last recorded event"
        raise InvalidInputError(msg, field="position")
    job = await jobs.create(
        conn,
        principal,
        {**request.parameters(), "position": position, "unsuppressed": unsuppressed},
    )

    async def work(conn: asyncpg.Connection) -> UUID:
        at = position if position is not None else await head(conn)
        # Replays are for roles that see unsuppressed figures: financial ones carry
        # evidence (a job, not a request waited for).
        run = await make_run(
            conn,
            request,
            config,
            principal,
            unsuppressed=unsuppressed,
            chain_check=chain_check,
            position=at,
            evidence=shows_evidence(request, principal),
        )
        return run.id

    return job, work


async def publish_release(
    conn: asyncpg.Connection,
    config: Configuration,
    principal: Principal,
    *,
    kind: str,
    period: str,
    municipality: str | None,
    programme: str | None,
    secret: bytes,
    chain_check: ChainCheck,
    prefix: str = "",
) -> releases.Release:
    """Publish a release at its period's fixed cut-off, once (``releases.publish_release``)."""
    if municipality is not None and municipality not in config.municipalities:
        msg = f"{prefix}municipality is not a configured municipality"
        raise InvalidInputError(msg, field=f"{prefix}municipality", rule="unknown-municipality")
    return await releases.publish_release(
        conn,
        config,
        principal,
        kind=kind,
        programme=choose_programme(config, programme, prefix=prefix),
        period_text=period,
        municipality=municipality,
        secret=secret,
        chain_check=chain_check,
    )
