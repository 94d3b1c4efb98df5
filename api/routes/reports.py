"""Funding reports: monitoring, outcomes and financial evidence, runs, releases, replays.

Every ad-hoc report request is stored as a run (position, definition and
configuration version, figures, the chain's verification); ``/reports/runs/{id}``
serves a run again unchanged and ``/reports/runs/{id}/changes`` says what late
entries and corrections changed since. Ad-hoc reports are for the roles that may
read the participants' records anyway; the others (funders) read only published
releases at fixed cut-offs (``/reports/releases``). Recomputing at an older position
replays the log: audit work, run as a job (``/reports/replays``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from lotse.api.deps import CurrentUser, ReadsDep, RuntimeDep
from lotse.api.problems import problem, problem_responses
from lotse.api.routes.caseload import ORG_ID, await_position
from lotse.domain.access import (
    Principal,
    check_may_publish_release,
    check_may_read_ad_hoc_reports,
    check_may_replay_reports,
    data_quality_scope,
)
from lotse.domain.errors import InvalidInputError
from lotse.reports import data_quality, formats, jobs, releases
from lotse.reports.charts import CHARTS, render_chart
from lotse.reports.periods import PERIOD_FORMS
from lotse.reports.requests import (
    find_release,
    find_replay_job,
    find_run,
    make_run,
    queue_replay,
    report_request,
    run_changes,
)
from lotse.reports.requests import publish_release as publish_release_once
from lotse.reports.rounding import rounding_secret
from lotse.reports.runs import Run
from lotse.reports.service import TABLES, ReadModelsUnavailableError

router = APIRouter(prefix="/reports", tags=["reports"])

Format = Literal["json", "csv", "xlsx"]
PROBLEMS = problem_responses(
    {
        400: "The body cannot be parsed as JSON",
        401: "Missing or invalid token",
        403: "The role may not receive this report or these figures",
        404: "Unknown run, or not in the caller's scope",
        409: "The release is not due yet, or already published",
        422: "Invalid parameter: the body names it",
        429: "Too many report replays queued or running for this user (see Retry-After)",
        503: "The report's read models are catching up or stopped (see Retry-After)",
    }
)
PeriodQuery = Annotated[str, Query(max_length=40, description=f"{PERIOD_FORMS}")]
OrgQuery = Annotated[str | None, Query(pattern=ORG_ID)]


def _chain_header(chain: dict[str, Any] | None) -> dict[str, str]:
    """The chain's verification, also on CSV downloads (which carry no provenance)."""
    if chain is None:
        return {}
    if chain["verified"] is None:
        return {"X-Chain-Verified-To": "none;not-checked"}
    state = "verified" if chain["verified"] else f"failed;problem={chain['problem']['kind']}"
    return {"X-Chain-Verified-To": f"{chain['verified_to']};{state}"}


def _respond(run: Run, fmt: Format, table: str | None) -> Response:
    headers = {
        "Content-Location": f"/reports/runs/{run.id}",
        "X-Report-Run": str(run.id),
        **_chain_header(run.chain),
    }
    return _render(run.document, f"{run.kind}-{{}}{run.id}", fmt, table, headers)


def _render(
    document: dict[str, Any], name: str, fmt: Format, table: str | None, headers: dict[str, str]
) -> Response:
    if fmt == "json":
        return Response(orjson.dumps(document), media_type="application/json", headers=headers)
    if fmt == "csv":
        tables = document["tables"]
        chosen = table or next(iter(tables))
        if chosen not in tables:
            msg = f"table must be one of: {', '.join(tables)}"
            raise InvalidInputError(msg, field="table")
        body = formats.to_csv(document, chosen)
        disposition = f'attachment; filename="{name.format(chosen + "-")}.csv"'
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={**headers, "Content-Disposition": disposition},
        )
    disposition = f'attachment; filename="{name.format("")}.xlsx"'
    return Response(
        formats.to_xlsx(document),
        media_type=formats.XLSX_MEDIA_TYPE,
        headers={**headers, "Content-Disposition": disposition},
    )


async def _report(
    kind: str,
    runtime: RuntimeDep,
    reads: ReadsDep,
    principal: Principal,
    period: str,
    municipality: str | None,
    provider: str | None,
    programme: str | None,
    unsuppressed: bool,
    position: int | None,
    min_position: int | None,
    fmt: Format,
    table: str | None,
    evidence: bool = False,
) -> Response:
    check_may_read_ad_hoc_reports(principal)
    if position is not None:
        check_may_replay_reports(principal)
        msg = "position: a report at an older position replays the log: POST /reports/replays"
        raise InvalidInputError(msg, field="position", rule="replay-as-job")
    config = runtime.configuration
    request = report_request(
        config,
        principal,
        kind=kind,
        period=period,
        municipality=municipality,
        provider=provider,
        programme=programme,
        unsuppressed=unsuppressed,
    )
    await await_position(reads, TABLES[kind], min_position)
    async with reads.pool.acquire() as conn:
        try:
            run = await make_run(
                conn,
                request,
                config,
                principal,
                unsuppressed=unsuppressed,
                chain_check=runtime.chain_verifier(),
                replay_fallback=False,
                evidence=evidence,
                pool=reads.pool,
            )
        except ReadModelsUnavailableError as e:
            return problem(503, e.message, rule=e.rule, headers={"Retry-After": str(e.retry_after)})
    return _respond(run, fmt, table)


def _report_route(kind: str, summary: str) -> None:
    async def read_report(
        runtime: RuntimeDep,
        reads: ReadsDep,
        principal: CurrentUser,
        period: PeriodQuery,
        municipality: OrgQuery = None,
        provider: OrgQuery = None,
        programme: OrgQuery = None,
        unsuppressed: Annotated[
            bool, Query(description="Unsuppressed figures (not for funders)")
        ] = False,
        position: Annotated[
            int | None,
            Query(ge=0, description="Not here: replays run as jobs (POST /reports/replays)"),
        ] = None,
        min_position: Annotated[int | None, Query(ge=0, description="Wait for your write")] = None,
        format: Format = "json",
        table: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
        evidence: Annotated[
            bool,
            Query(
                description="Financial only: add the event trail and every course's "
                "Teilnehmendenliste (not for funders; large for a statewide year)"
            ),
        ] = False,
    ) -> Response:
        return await _report(
            kind,
            runtime,
            reads,
            principal,
            period,
            municipality,
            provider,
            programme,
            unsuppressed,
            position,
            min_position,
            format,
            table,
            evidence,
        )

    read_report.__doc__ = summary
    read_report.__name__ = f"read_{kind}_report"
    router.add_api_route(
        f"/{kind}",
        read_report,
        methods=["GET"],
        responses=PROBLEMS,
        summary=summary,
        name=f"read_{kind}_report",
    )


_report_route(
    "monitoring", "Monitoring: entries, exits and stock per municipality, module, quarter"
)
_report_route(
    "outcomes", "Outcomes: destinations at exit and follow-up, apprenticeships, employment"
)
_report_route("financial", "Financial evidence: lesson hours, flat-rate amounts, coaching contacts")


@router.get("/data-quality", responses=PROBLEMS)
async def read_data_quality(
    runtime: RuntimeDep,
    reads: ReadsDep,
    principal: CurrentUser,
    quarter: Annotated[str, Query(max_length=40, description="YYYY-Qn, e.g. 2021-Q3")],
    municipality: OrgQuery = None,
    min_position: Annotated[int | None, Query(ge=0, description="Wait for your write")] = None,
) -> Response:
    """Data quality per provider: missing core fields, recording delay, overdue due list
    items, corrections per 100 entries (coordinators: their municipality)."""
    data_quality_scope(principal, runtime.configuration, municipality)
    await await_position(reads, data_quality.TABLES, min_position)
    async with reads.pool.acquire() as conn:
        document = await data_quality.data_quality(
            conn,
            runtime.configuration,
            principal,
            quarter=quarter,
            municipality=municipality,
            today=runtime.journeys.clock(),
        )
    return Response(orjson.dumps(document), media_type="application/json")


async def _run_for(reads: ReadsDep, runtime: RuntimeDep, principal: Principal, run_id: UUID) -> Run:
    check_may_read_ad_hoc_reports(principal)
    async with reads.pool.acquire() as conn:
        return await find_run(conn, runtime.configuration, principal, run_id)


@router.get("/runs/{run_id}", responses=PROBLEMS)
async def read_report_run(
    run_id: UUID,
    runtime: RuntimeDep,
    reads: ReadsDep,
    principal: CurrentUser,
    format: Format = "json",
    table: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
) -> Response:
    """Serve a stored report run again, unchanged (JSON, CSV of one table, or XLSX)."""
    return _respond(await _run_for(reads, runtime, principal, run_id), format, table)


@router.get("/runs/{run_id}/changes", responses=PROBLEMS)
async def read_report_changes(
    run_id: UUID, runtime: RuntimeDep, reads: ReadsDep, principal: CurrentUser
) -> Response:
    """List late entries and corrections since a run that change its figures, and by how much."""
    run = await _run_for(reads, runtime, principal, run_id)
    async with reads.pool.acquire() as conn:
        result = await run_changes(conn, run, runtime.configuration, principal)
    return Response(orjson.dumps(result), media_type="application/json")


@router.get("/runs/{run_id}/charts/{name}.{extension}", responses=PROBLEMS)
async def read_report_chart(
    run_id: UUID,
    name: str,
    extension: Literal["png", "svg"],
    runtime: RuntimeDep,
    reads: ReadsDep,
    principal: CurrentUser,
) -> Response:
    """A chart of a stored run for the narrative report (PNG or SVG)."""
    run = await _run_for(reads, runtime, principal, run_id)
    if name not in CHARTS.get(run.kind, ()):
        msg = f"chart must be one of: {', '.join(CHARTS.get(run.kind, ())) or 'none'}"
        raise InvalidInputError(msg, field="name")
    body = render_chart(run.document, name, extension)
    media = "image/png" if extension == "png" else "image/svg+xml"
    return Response(body, media_type=media)


# ------------------------------------------------------------------ releases

ReportKind = Literal["monitoring", "outcomes", "financial"]


class ReleaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    report: ReportKind
    period: str = Field(max_length=10, description="YYYY-Qn, YYYY-Hn or YYYY")
    municipality: str | None = Field(default=None, pattern=ORG_ID)
    """Only this municipality's figures; none: every municipality (admins only)."""
    programme: str | None = Field(default=None, pattern=ORG_ID)


def _release_headers(release: releases.Release) -> dict[str, str]:
    return {
        "Content-Location": f"/reports/releases/{release.id}",
        "X-Report-Release": str(release.id),
        **_chain_header(release.chain),
    }


def _may_publish_some_release(principal: CurrentUser) -> None:
    """Before the body is read: a role that publishes nothing gets 403, not 422."""
    check_may_publish_release(principal, principal.organisation)


def _may_replay(principal: CurrentUser) -> None:
    check_may_replay_reports(principal)


@router.post(
    "/releases",
    status_code=201,
    responses=PROBLEMS,
    dependencies=[Depends(_may_publish_some_release)],
)
async def publish_release(
    body: ReleaseCreate, runtime: RuntimeDep, reads: ReadsDep, principal: CurrentUser
) -> Response:
    """Publish a report at its period's fixed cut-off (reporting date plus delay), once."""
    check_may_publish_release(principal, body.municipality)
    async with reads.pool.acquire() as conn:
        release = await publish_release_once(
            conn,
            runtime.configuration,
            principal,
            kind=body.report,
            period=body.period,
            municipality=body.municipality,
            programme=body.programme,
            secret=rounding_secret(runtime.settings.secret_key),
            chain_check=runtime.chain_verifier(),
        )
    return Response(
        orjson.dumps(release.document),
        status_code=201,
        media_type="application/json",
        headers={**_release_headers(release), "Location": f"/reports/releases/{release.id}"},
    )


@router.get("/releases", responses=PROBLEMS)
async def list_releases(
    reads: ReadsDep,
    principal: CurrentUser,
    report: ReportKind | None = None,
    period: Annotated[
        str | None,
        Query(pattern=r"^\d{4}(-(Q[1-4]|H[12]))?$", description="YYYY-Qn, YYYY-Hn or YYYY"),
    ] = None,
) -> Response:
    """The published releases (every role may read them: their counts are protected)."""
    async with reads.pool.acquire() as conn:
        found = await releases.list_releases(conn, report, period)
    return Response(orjson.dumps([r.summary() for r in found]), media_type="application/json")


async def _release(reads: ReadsDep, release_id: UUID) -> releases.Release:
    async with reads.pool.acquire() as conn:
        return await find_release(conn, release_id)


@router.get("/releases/{release_id}", responses=PROBLEMS)
async def read_release(
    release_id: UUID,
    reads: ReadsDep,
    principal: CurrentUser,
    format: Format = "json",
    table: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
) -> Response:
    """A published release, unchanged (JSON, CSV of one table, or XLSX)."""
    release = await _release(reads, release_id)
    name = f"{release.kind}-{release.period}-{{}}{release.id}"
    return _render(release.document, name, format, table, _release_headers(release))


@router.get("/releases/{release_id}/charts/{name}.{extension}", responses=PROBLEMS)
async def read_release_chart(
    release_id: UUID,
    name: str,
    extension: Literal["png", "svg"],
    reads: ReadsDep,
    principal: CurrentUser,
) -> Response:
    """A chart of a published release (PNG or SVG)."""
    release = await _release(reads, release_id)
    if name not in CHARTS.get(release.kind, ()):
        msg = f"chart must be one of: {', '.join(CHARTS.get(release.kind, ())) or 'none'}"
        raise InvalidInputError(msg, field="name")
    body = render_chart(release.document, name, extension)
    return Response(body, media_type="image/png" if extension == "png" else "image/svg+xml")


# ------------------------------------------------------------------ replays


class ReplayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    report: ReportKind
    period: str = Field(max_length=40, description=PERIOD_FORMS)
    position: int | None = Field(default=None, ge=0, description="Default: the last event")
    municipality: str | None = Field(default=None, pattern=ORG_ID)
    provider: str | None = Field(default=None, pattern=ORG_ID)
    programme: str | None = Field(default=None, pattern=ORG_ID)
    unsuppressed: bool = False


@router.post("/replays", status_code=202, responses=PROBLEMS, dependencies=[Depends(_may_replay)])
async def start_replay(
    body: ReplayCreate, runtime: RuntimeDep, reads: ReadsDep, principal: CurrentUser
) -> Response:
    """Recompute a report by replaying the log up to a position, as a job (auditors, admins)."""
    check_may_replay_reports(principal)
    config = runtime.configuration
    request = report_request(
        config,
        principal,
        kind=body.report,
        period=body.period,
        municipality=body.municipality,
        provider=body.provider,
        programme=body.programme,
        unsuppressed=body.unsuppressed,
    )
    async with reads.pool.acquire() as conn:
        try:
            job, work = await queue_replay(
                conn,
                request,
                config,
                principal,
                position=body.position,
                unsuppressed=body.unsuppressed,
                chain_check=runtime.chain_verifier(),
            )
        except jobs.TooManyJobsError as e:
            return problem(
                429,
                e.message,
                rule=e.rule,
                headers={"Retry-After": str(jobs.RETRY_AFTER_SECONDS)},
            )
    jobs.start(reads.pool, job, work)
    location = f"/reports/replays/{job.id}"
    return Response(
        orjson.dumps(job.public()),
        status_code=202,
        media_type="application/json",
        headers={"Location": location, "Retry-After": "1"},
    )


@router.get("/replays/{job_id}", responses=PROBLEMS)
async def read_replay(job_id: UUID, reads: ReadsDep, principal: CurrentUser) -> Response:
    """A replay job's state; when done, ``run`` links the stored run."""
    check_may_replay_reports(principal)
    async with reads.pool.acquire() as conn:
        job = await find_replay_job(conn, principal, job_id)
    headers = {} if job.status in ("done", "failed") else {"Retry-After": "1"}
    if job.run_id is not None:
        headers["Content-Location"] = f"/reports/runs/{job.run_id}"
    return Response(orjson.dumps(job.public()), media_type="application/json", headers=headers)
