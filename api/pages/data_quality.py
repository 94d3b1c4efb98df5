"""Berichte, Datenqualität: the data quality per provider and quarter, in German.

The same read-side function as ``GET /reports/data-quality``
(``reports.data_quality.data_quality``), which asks the access policy
(``domain.access.data_quality_scope``): coordinators see the providers of their
municipality, auditors their scope, admins everything; the others are refused.
A GET form (quarter and municipality): nothing is written, so no CSRF token.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from fastapi import Request
from starlette.responses import Response

from lotse.api.deps import RuntimeDep
from lotse.api.pages.forms_input import domain_error_message, shown_next_to_field
from lotse.api.pages.names import organisation_names
from lotse.api.pages.rendering import render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn
from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, check_may_read_data_quality, data_quality_scope
from lotse.domain.errors import DomainError
from lotse.domain.labels import CORE_FIELDS
from lotse.reports.data_quality import data_quality

router = page_router()


def current_quarter(today: date) -> str:
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


def municipality_choices(principal: Principal, runtime: Runtime) -> list[tuple[str, str]]:
    """The municipalities the caller may narrow to (asked of ``data_quality_scope``)."""
    config = runtime.configuration
    chosen = []
    for municipality in config.municipalities.values():
        try:
            scope = data_quality_scope(principal, config, municipality.id)
        except DomainError:
            continue
        if scope == municipality.id:
            chosen.append((municipality.id, municipality.name))
    return chosen


def row_view(row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A provider's row with names instead of codes; figures stay numbers for the filters."""
    missing = [
        f"{CORE_FIELDS[field]}: {count}"
        for field, count in row["missing_by_field"].items()
        if count
    ]
    share = row["missing_share"]
    per_100 = row["corrections_per_100_events"]
    return {
        "provider": names.get(row["provider"], row["provider"]),
        "municipality": names.get(row["municipality"], row["municipality"]),
        "participants": row["participants"],
        "with_missing": row["with_missing_core_fields"],
        # A share as a percentage with one place: 0.6667 -> 66,7 %.
        "missing_percent": None
        if share is None
        else (Decimal(share) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
        "missing": missing,
        "entries": row["entries"],
        "median_delay_days": row["median_delay_days"],
        "overdue_items": row["overdue_items"],
        "corrections": row["corrections"],
        "corrections_per_100": per_100,
    }


@router.get("/berichte/datenqualitaet")
async def data_quality_page(
    request: Request,
    runtime: RuntimeDep,
    visitor: SignedIn,
    quartal: str | None = None,
    kommune: str | None = None,
) -> Response:
    principal = visitor.principal
    check_may_read_data_quality(principal)
    today = runtime.journeys.clock()
    values = {
        "quartal": (quartal or "").strip()[:40] or current_quarter(today),
        "kommune": (kommune or "").strip()[:40],
    }
    errors: dict[str, str] = {}
    document: dict[str, Any] | None = None
    try:
        async with request.app.state.reads.pool.acquire() as conn:
            document = await data_quality(
                conn,
                runtime.configuration,
                principal,
                quarter=values["quartal"],
                municipality=values["kommune"] or None,
                today=today,
            )
    except DomainError as e:
        if not shown_next_to_field(e):
            raise
        field = {"quarter": "quartal", "municipality": "kommune"}.get(e.field or "", "quartal")
        errors[field] = domain_error_message(e)
    names = organisation_names(runtime.configuration)
    return render(
        request,
        "data_quality.html",
        {
            "values": values,
            "errors": errors,
            "municipalities": municipality_choices(principal, runtime),
            "statewide": data_quality_scope(principal, runtime.configuration, None) is None,
            "core_fields": list(CORE_FIELDS.values()),
            "document": document,
            "scope": names.get((document or {}).get("municipality") or "", "alle Kommunen"),
            "rows": [row_view(r, names) for r in (document or {}).get("providers", [])],
        },
        status_code=422 if errors else 200,
    )
