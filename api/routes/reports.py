"""Funding reports: monitoring, outcomes and financial evidence, and their stored runs.

Every report request is stored as a run (position, definition and configuration
version, figures); ``/reports/runs/{id}`` serves a run again unchanged and
``/reports/runs/{id}/changes`` says what late entries and corrections changed since.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Response

from api.deps import CurrentUser, ReadsDep, RuntimeDep
from api.problems import problem_responses
from api.routes.caseload import ORG_ID, await_position
from domain.access import (
    Principal,
    check_unsuppressed,
    may_read_run,
    may_see_changed_participant,
    may_see_unsuppressed,
    report_scope,
)
from domain.errors import InvalidInputError, ParticipantNotFoundError
from projections.participants import query_placements
from reports import formats
from reports.charts import CHARTS, render_chart
from reports.definition import ReportRequest
from reports.periods import PERIOD_FORMS, parse_period
from reports.runs import Run, load
from reports.service import TABLES, changes, compute, publish_run
from reports.suppression import DEFAULT_THRESHOLD

router = APIRouter(prefix="/reports", tags=["reports"])

Format = Literal["json", "csv", "xlsx"]
PROBLEMS = problem_responses(
    {
        401: "Missing or invalid token",
        403: "The role may not receive this report or these figures",
        404: "Unknown run, or not in the caller's scope",
        422: "Invalid parameter: the body names it",
    }
)
PeriodQuery = Annotated[str, Query(max_length=40, description=f"{PERIOD_FORMS}")]
OrgQuery = Annotated[str | None, Query(pattern=ORG_ID)]


class RunNotFoundError(ParticipantNotFoundError):
    rule = "run-not-found"


def _programme(runtime: RuntimeDep, programme: str | None) -> str:
    programmes = runtime.configuration.programmes
    if programme is None and len(programmes) == 1:
        return next(iter(programmes))
    if programme not in programmes:
        msg = "programme is not a configured programme"
        raise InvalidInputError(msg, field="programme", rule="unknown-programme")
    return programme


def _respond(run: Run, fmt: Format, table: str | None) -> Response:
    headers = {"Content-Location": f"/reports/runs/{run.id}", "X-Report-Run": str(run.id)}
    if fmt == "json":
        return Response(orjson.dumps(run.document), media_type="application/json", headers=headers)
    if fmt == "csv":
        tables = run.document["tables"]
        name = table or next(iter(tables))
        if name not in tables:
            msg = f"table must be one of: {', '.join(tables)}"
            raise InvalidInputError(msg, field="table")
        body = formats.to_csv(run.document, name)
        disposition = f'attachment; filename="{run.kind}-{name}-{run.id}.csv"'
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={**headers, "Content-Disposition": disposition},
        )
    disposition = f'attachment; filename="{run.kind}-{run.id}.xlsx"'
    return Response(
        formats.to_xlsx(run.document),
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
) -> Response:
    config = runtime.configuration
    scope_municipality, scope_provider = report_scope(principal, config, municipality, provider)
    if unsuppressed:
        check_unsuppressed(principal)
    request = ReportRequest(
        kind=kind,
        programme=_programme(runtime, programme),
        period=parse_period(period),
        municipality=scope_municipality,
        provider=scope_provider,
    )
    await await_position(reads, TABLES[kind], min_position)
    evidence = kind == "financial" and may_see_unsuppressed(principal)
    async with reads.pool.acquire() as conn:
        computed = await compute(conn, request, config, position=position, evidence=evidence)
        run = await publish_run(
            conn,
            computed,
            config,
            principal,
            suppressed=not unsuppressed,
            threshold=DEFAULT_THRESHOLD,
            evidence=evidence,
        )
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
            int | None, Query(ge=0, description="Recompute at this log position (replay)")
        ] = None,
        min_position: Annotated[int | None, Query(ge=0, description="Wait for your write")] = None,
        format: Format = "json",
        table: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
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


async def _run_for(reads: ReadsDep, runtime: RuntimeDep, principal: Principal, run_id: UUID) -> Run:
    """A stored run the caller may see; any other looks like an unknown id."""
    async with reads.pool.acquire() as conn:
        run = await load(conn, run_id)
    if run is None or not may_read_run(
        principal,
        runtime.configuration,
        municipality=run.scope_municipality,
        provider=run.scope_provider,
        suppressed=run.suppressed,
        evidence=run.evidence,
    ):
        msg = "no report run with this id"
        raise RunNotFoundError(msg)
    return run


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
        result = await changes(conn, run, runtime.configuration, principal)
        await withhold_unseen_participants(conn, principal, result)
    return Response(orjson.dumps(result), media_type="application/json")


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
