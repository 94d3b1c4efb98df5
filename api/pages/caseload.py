"""Meine Teilnehmenden: the caseload, searched and filtered, page by page.

The same read-side functions as ``GET /participants`` (``projections.caseload``),
with the same role gate (``check_may_read_personal_data``: funders get no list)
and the same scope; every listed participant is recorded in the read-access log.

The search form is *posted*, not sent as a query string: a name typed into the
search would otherwise sit in the address bar, the browser history and every
proxy's log. ``GET /teilnehmende`` shows the first page without filters; the
form posts its search, filters and the next page's cursor (none of them
personal, but one form keeps it simple). With JavaScript, htmx posts the form as
one types and swaps the results in place.

Above the list, the Wiedervorlage: the caller's open items of the due list due
within 14 days or overdue (``api.pages.due``, the read-side function of
``GET /worklist``); "nur mir zugewiesene" narrows it as it narrows the list.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from lotse.api.deps import ReadAccess, RuntimeDep
from lotse.api.pages.due import CASELOAD_DAYS, DueItem, due_items
from lotse.api.pages.freshness import Stand, catch_up
from lotse.api.pages.navigation import permits
from lotse.api.pages.rendering import render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn, Visitor
from lotse.api.readmodels import ReadModels
from lotse.api.routes.caseload import decode_cursor, encode_cursor
from lotse.domain.access import check_may_read_personal_data, check_may_record, may_see
from lotse.domain.errors import InvalidInputError
from lotse.domain.labels import field_label, label, rule_label, status_label
from lotse.projections.caseload import caseload_page, name_search

router = page_router()

PAGE_SIZE = 50
STATUSES = ("active", "exited")


def _text(form: Any, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


async def _caseload(
    request: Request, runtime: RuntimeDep, visitor: Visitor, stand: str | None = None
) -> Response:
    principal = visitor.principal
    check_may_read_personal_data(principal)
    reads: ReadModels = request.app.state.reads
    await catch_up(reads, ("participants", "worklist"), stand)
    form: Any = await request.form() if request.method == "POST" else {}
    chosen: dict[str, Any] = {
        "q": _text(form, "q", 100),
        "status": _text(form, "status"),
        "module": _text(form, "module"),
        "provider": _text(form, "provider"),
        "mine": _text(form, "mine") == "1",
        "cursor": _text(form, "cursor"),
    }
    configuration = runtime.journeys.configuration
    providers = [
        p for p in configuration.providers.values() if may_see(principal, p.id, p.municipality)
    ]
    modules = sorted(
        {
            (m.code, m.name)
            for programme in configuration.programmes.values()
            for m in programme.modules
        }
    )
    errors: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    next_cursor: str | None = None
    try:
        terms = name_search(reads.master, chosen["q"] or None)
        async with reads.pool.acquire() as conn:
            rows, next_key = await caseload_page(
                conn,
                reads.master,
                principal,
                provider=chosen["provider"] or None,
                municipality=None,
                status=chosen["status"] if chosen["status"] in STATUSES else None,
                module=chosen["module"] or None,
                name_terms=terms,
                after=decode_cursor(chosen["cursor"]) if chosen["cursor"] else None,
                limit=PAGE_SIZE,
                assigned_to=principal.user if chosen["mine"] else None,
            )
        next_cursor = encode_cursor(next_key) if next_key else None
    except InvalidInputError as e:
        field = e.field or "q"
        message = (
            "Bitte mindestens ein Wort mit zwei Buchstaben eingeben." if field == "q" else None
        )
        errors[field] = message or rule_label(e.rule) or field_label(field)
    due: list[DueItem] = []
    more_due = False
    if "hx-request" not in request.headers:  # htmx swaps the results only
        due, more_due = await due_items(
            reads,
            runtime,
            principal,
            days=CASELOAD_DAYS,
            assigned_to=principal.user if chosen["mine"] else None,
        )
    await ReadAccess(runtime, request, principal).record_many_async(
        dict.fromkeys([*(r["id"] for r in rows), *(d.participant_id for d in due)])
    )
    module_names = dict(modules)
    provider_names = {p.id: p.name for p in configuration.providers.values()}
    items = [
        {
            "id": r["id"],
            "name": _name(r),
            "provider": provider_names.get(r["provider"], r["provider"]),
            "status": status_label(r["status"]),
            "intake_date": r["intake_date"],
            "modules": [
                f"{code} - {module_names[code]}" if code in module_names else code
                for code in r.get("open_modules") or []
            ],
            "referred": bool(r.get("referred_for")),
            "restricted": r.get("restricted", False),
        }
        for r in rows
    ]
    return render(
        request,
        "caseload.html",
        {
            "chosen": chosen,
            "errors": errors,
            "items": items,
            "next_cursor": next_cursor,
            "statuses": [(s, status_label(s)) for s in STATUSES],
            "modules": modules,
            "providers": [(p.id, p.name) for p in providers] if len(providers) > 1 else [],
            "may_register": permits(check_may_record, principal),
            "due": due,
            "more_due": more_due,
            "due_days": CASELOAD_DAYS,
            "role_label": label(principal.role),
        },
        # htmx swaps only successful answers: as one types, the hint replaces the list.
        status_code=422 if errors and "hx-request" not in request.headers else 200,
    )


def _name(row: dict[str, Any]) -> str:
    if row.get("personal_data_erased"):
        return "(Daten gelöscht)"
    given, family = row.get("given_name"), row.get("family_name")
    if given is None and family is None:
        return "(eingeschränkt)"
    return f"{family or ''}, {given or ''}".strip(", ")


@router.get("/teilnehmende")
async def caseload(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, stand: Stand = None
) -> Response:
    return await _caseload(request, runtime, visitor, stand)


@router.post("/teilnehmende")
async def caseload_search(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    return await _caseload(request, runtime, visitor)
