"""Berichte: funding reports for a period and municipality, their charts and downloads.

The same calls as ``api/routes/reports.py``: a new report is ``report_request``
(which narrows to and refuses by the caller's ``report_scope``) and ``make_run``,
stored as a run; a run is found again with ``find_run``, what changed since with
``run_changes``. Charts and the XLSX/CSV downloads are the JSON API's own outputs
(``/reports/runs/{id}/charts/...``, ``/reports/runs/{id}?format=xlsx``), which read
the same browser session. Funders read only published releases (fixed cut-offs,
small counts suppressed, no personal data): the form is not offered to them, and
runs refuse them as the API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import Request
from starlette.responses import Response

from lotse.api.deps import RuntimeDep
from lotse.api.pages.audit import value_text
from lotse.api.pages.forms_input import domain_error_message, form_text, shown_next_to_field
from lotse.api.pages.names import organisation_names
from lotse.api.pages.navigation import permits
from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn
from lotse.api.runtime import Runtime
from lotse.domain.access import (
    Principal,
    check_may_read_ad_hoc_reports,
    check_may_read_data_quality,
    check_may_read_reports,
    may_read_ad_hoc_reports,
    report_scope,
)
from lotse.domain.errors import DomainError
from lotse.domain.labels import EVENT_TYPES, REPORT_KINDS, event_label
from lotse.reports import formats, releases
from lotse.reports.charts import CHARTS
from lotse.reports.requests import (
    ReleaseNotFoundError,
    RunNotFoundError,
    find_release,
    find_run,
    make_run,
    report_request,
    run_changes,
)

router = page_router()

#: A chart's text alternative: what the picture shows (the table below has the figures).
CHART_TEXTS = {
    "flows": "Balkendiagramm: Eintritte und Austritte je Quartal, Linie: Bestand am Stichtag."
    " Die Zahlen stehen in der Tabelle „Quartale“.",
    "destinations": "Balkendiagramm: Verbleib bei Austritt und bei Nachbefragung."
    " Die Zahlen stehen in der Tabelle „Verbleib“.",
}


# ------------------------------------------------------------ view models


def cell_text(value: Any, hidden: bool) -> str:
    """A figure as the downloads print it: "." where suppressed, decimal comma."""
    if hidden:
        return formats.SUPPRESSED
    if value is None:
        return "–"  # noqa: RUF001
    if isinstance(value, str) and formats._is_decimal_text(value):
        return value.replace(".", ",")
    return str(value)


def shown_cell(value: Any, hidden: bool, column: str, modules: Mapping[str, str]) -> str:
    """A cell on the page: as downloaded, but codes (modules, event types, vocabulary
    values of the evidence rows) by their German labels."""
    if hidden or not isinstance(value, str) or formats._is_decimal_text(value):
        return cell_text(value, hidden)
    if column == "module" and value in modules:
        return f"{value} – {modules[value]}"  # noqa: RUF001
    if value in EVENT_TYPES:
        return event_label(value)
    return value_text(value)


def table_views(
    document: Mapping[str, Any], modules: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The document's tables with their German headers, ready to print as HTML."""
    views = []
    for name, table in document["tables"].items():
        hidden = {(r, c) for r, c in table["suppressed"]}
        keys = [c["key"] for c in table["columns"]]
        views.append(
            {
                "name": name,
                "title": table.get("title") or name,
                "columns": [c["label"] for c in table["columns"]],
                "rows": [
                    [
                        shown_cell(v, (r, c) in hidden, keys[c], modules or {})
                        for c, v in enumerate(row)
                    ]
                    for r, row in enumerate(table["rows"])
                ],
                "suppressed": bool(hidden),
            }
        )
    return views


def change_views(changes: Mapping[str, Any]) -> dict[str, Any]:
    """What changed since a run: cells before/after and the late events, in German."""
    return {
        "run_position": changes["run_position"],
        "current_position": changes["current_position"],
        "cells": [
            {
                "cell": c["cell"],
                "before": cell_text(c["before"], c["before"] is None),
                "after": cell_text(c["after"], c["after"] is None),
                "difference": cell_text(c["difference"], c["difference"] is None),
            }
            for c in changes["changed_cells"]
        ],
        "events": [
            {
                "type": event_label(e["type"]),
                "detail": event_label(e.get("corrected_type") or e.get("voided_type") or ""),
                "effective_date": e["effective_date"],
                "recorded_at": datetime.fromisoformat(e["recorded_at"]),
                "participant_id": e.get("participant_id"),
            }
            for e in changes["events"]
        ],
    }


def municipality_choices(principal: Principal, runtime: Runtime) -> list[tuple[str, str]]:
    """The municipalities the caller may ask a report for (asked of ``report_scope``)."""
    config = runtime.configuration
    chosen = []
    for municipality in config.municipalities.values():
        try:
            scope = report_scope(principal, config, municipality.id, None)
        except DomainError:
            continue
        # Only where the report would cover that municipality (a case worker's covers
        # the own provider, whatever is asked).
        if scope[0] == municipality.id:
            chosen.append((municipality.id, municipality.name))
    return chosen


def statewide_allowed(principal: Principal, runtime: Runtime) -> bool:
    try:
        scope = report_scope(principal, runtime.configuration, None, None)
    except DomainError:
        return False
    return scope == (None, None)


def _modules(runtime: Runtime) -> dict[str, str]:
    return {
        m.code: m.name
        for programme in runtime.configuration.programmes.values()
        for m in programme.modules
    }


def _names(runtime: Runtime) -> dict[str, str]:
    return organisation_names(runtime.configuration)


# -------------------------------------------------------------------- pages


async def _overview(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    reads = request.app.state.reads
    async with reads.pool.acquire() as conn:
        published = await releases.list_releases(conn)
    names = _names(runtime)
    return render(
        request,
        "reports.html",
        {
            "ad_hoc": may_read_ad_hoc_reports(principal),
            "data_quality": permits(check_may_read_data_quality, principal),
            "kinds": list(REPORT_KINDS.items()),
            "municipalities": municipality_choices(principal, runtime),
            "statewide": statewide_allowed(principal, runtime),
            "values": values or {},
            "errors": errors or {},
            "releases": [
                {
                    "id": r.id,
                    "kind": REPORT_KINDS.get(r.kind, r.kind),
                    "period": r.period,
                    "municipality": names.get(r.scope_municipality or "", "alle Kommunen"),
                    "cutoff_date": r.cutoff_date,
                }
                for r in reversed(published)
            ],
        },
        status_code=status_code,
    )


@router.get("/berichte")
async def reports_page(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    check_may_read_reports(visitor.principal)
    return await _overview(request, runtime, visitor.principal)


@router.post("/berichte")
async def make_report(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    """Compute a report as ``GET /reports/{kind}`` does, store it as a run, show the run."""
    principal = visitor.principal
    check_may_read_ad_hoc_reports(principal)
    form = await request.form()
    values = {name: form_text(form, name, 40) for name in ("kind", "period", "municipality")}
    errors: dict[str, str] = {}
    if values["kind"] not in REPORT_KINDS:
        errors["kind"] = "Bitte einen Bericht aus der Liste wählen."
    if not values["period"]:
        errors["period"] = "Bitte einen Zeitraum angeben, zum Beispiel 2022-Q1 oder 2022."
    if not errors:
        config = runtime.configuration
        try:
            report = report_request(
                config,
                principal,
                kind=values["kind"],
                period=values["period"],
                municipality=values["municipality"] or None,
                provider=None,
                programme=None,
                unsuppressed=False,
            )
            pool = request.app.state.reads.pool
            async with pool.acquire() as conn:
                run = await make_run(
                    conn,
                    report,
                    config,
                    principal,
                    unsuppressed=False,
                    chain_check=runtime.chain_verifier(),
                    replay_fallback=False,
                    pool=pool,
                )
        except DomainError as e:
            if not shown_next_to_field(e):
                raise
            errors[e.field or "period"] = domain_error_message(e)
        else:
            return redirect(f"/berichte/laeufe/{run.id}")
    return await _overview(
        request, runtime, principal, values=values, errors=errors, status_code=422
    )


def _uuid(raw: str, error: type[DomainError]) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise error("no such id") from None


def _provenance(chain: dict[str, Any] | None, document: Mapping[str, Any]) -> dict[str, Any]:
    run = document.get("run", {})
    return {
        "chain": formats.chain_text(chain),
        "threshold": run.get("threshold"),
        "suppressed": run.get("suppressed"),
    }


@router.get("/berichte/laeufe/{run_id}")
async def run_page(
    run_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    principal = visitor.principal
    check_may_read_ad_hoc_reports(principal)
    async with request.app.state.reads.pool.acquire() as conn:
        run = await find_run(
            conn, runtime.configuration, principal, _uuid(run_id, RunNotFoundError)
        )
    base = f"/reports/runs/{run.id}"
    period = run.parameters.get("period", "")
    return render(
        request,
        "report.html",
        {
            "heading": f"{REPORT_KINDS.get(run.kind, run.kind)} {period}",
            "scope": _names(runtime).get(
                run.scope_provider or run.scope_municipality or "", "alle Kommunen"
            ),
            "created_at": run.created_at,
            "position": run.position,
            "provenance": _provenance(run.chain, run.document),
            "tables": table_views(run.document, _modules(runtime)),
            "charts": [
                {"src": f"{base}/charts/{name}.svg", "text": CHART_TEXTS.get(name, name)}
                for name in CHARTS.get(run.kind, ())
            ],
            "xlsx": f"{base}?format=xlsx",
            "csv_base": f"{base}?format=csv&table=",
            "changes": f"/berichte/laeufe/{run.id}/aenderungen",
        },
    )


@router.get("/berichte/laeufe/{run_id}/aenderungen")
async def changes_page(
    run_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    principal = visitor.principal
    check_may_read_ad_hoc_reports(principal)
    config = runtime.configuration
    async with request.app.state.reads.pool.acquire() as conn:
        run = await find_run(conn, config, principal, _uuid(run_id, RunNotFoundError))
        changes = await run_changes(conn, run, config, principal)
    return render(
        request,
        "report_changes.html",
        {
            "heading": f"{REPORT_KINDS.get(run.kind, run.kind)} {run.parameters.get('period', '')}",
            "run_path": f"/berichte/laeufe/{run.id}",
            "created_at": run.created_at,
            "changes": change_views(changes),
        },
    )


@router.get("/berichte/veroeffentlicht/{release_id}")
async def release_page(
    release_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    check_may_read_reports(visitor.principal)
    async with request.app.state.reads.pool.acquire() as conn:
        release = await find_release(conn, _uuid(release_id, ReleaseNotFoundError))
    base = f"/reports/releases/{release.id}"
    return render(
        request,
        "report.html",
        {
            "heading": f"{REPORT_KINDS.get(release.kind, release.kind)} {release.period}"
            " (veröffentlicht)",
            "scope": _names(runtime).get(release.scope_municipality or "", "alle Kommunen"),
            "created_at": release.created_at,
            "position": release.position,
            "cutoff_date": release.cutoff_date,
            "provenance": _provenance(release.chain, release.document),
            "tables": table_views(release.document, _modules(runtime)),
            "charts": [
                {"src": f"{base}/charts/{name}.svg", "text": CHART_TEXTS.get(name, name)}
                for name in CHARTS.get(release.kind, ())
            ],
            "xlsx": f"{base}?format=xlsx",
            "csv_base": f"{base}?format=csv&table=",
            "changes": None,
        },
    )
