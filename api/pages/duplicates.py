"""Mögliche Doppelerfassungen: the coordinator's list of candidate pairs, with decisions.

The same read side as ``GET /duplicates`` (``api.routes.duplicates.reviewable_pairs``)
and the same application service as ``POST /duplicates/decisions``
(``Journeys.decide_duplicate``): participant ids, providers and municipalities only,
never names. Each open pair has two forms (same person / different people with a
reason code), each with the CSRF token; a refusal is shown at the head of the page.
"""

from __future__ import annotations

import uuid

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.deps import RuntimeDep
from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn
from lotse.api.problems import status_for
from lotse.api.routes.duplicates import reviewable_pairs
from lotse.domain.access import check_may_review_duplicates
from lotse.domain.errors import DomainError
from lotse.domain.labels import VOCABULARY, rule_label
from lotse.domain.vocabulary import DuplicateDismissalReason

router = page_router()

PATH = "/doppelerfassungen"
STATES = {"open": "offen", "linked": "dieselbe Person", "dismissed": "verschiedene Personen"}
SAVED = {
    "linked": "Gespeichert: dieselbe Person. Sie zählt in den Berichten einmal.",
    "dismissed": "Gespeichert: verschiedene Personen.",
}


async def duplicates_page(
    request: Request,
    runtime: RuntimeDep,
    visitor: SignedIn,
    *,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    principal = visitor.principal
    pairs = await run_in_threadpool(lambda: reviewable_pairs(runtime, principal))
    names = {p.id: p.name for p in runtime.configuration.providers.values()}
    municipalities = {m.id: m.name for m in runtime.configuration.municipalities.values()}
    rows = [
        {
            "a": str(p.participant_a),
            "b": str(p.participant_b),
            "provider_a": names.get(p.provider_a, p.provider_a),
            "provider_b": names.get(p.provider_b, p.provider_b),
            "municipality": " / ".join(
                dict.fromkeys(
                    municipalities.get(m, m) for m in (p.municipality_a, p.municipality_b)
                )
            ),
            "since": f"{p.since:%d.%m.%Y}",
            "state": STATES[p.state],
            "open": p.state == "open",
        }
        for p in pairs
    ]
    saved = SAVED.get(request.query_params.get("gespeichert") or "")
    return render(
        request,
        "duplicates.html",
        {
            "pairs": rows,
            "reasons": [
                (r.value, VOCABULARY[DuplicateDismissalReason][r]) for r in DuplicateDismissalReason
            ],
            "notice": notice,
            "saved": saved,
            "form_id": str(uuid.uuid4()),
        },
        status_code=status_code,
    )


@router.get(PATH)
async def show_duplicates(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    check_may_review_duplicates(visitor.principal)
    return await duplicates_page(request, runtime, visitor)


@router.post(PATH)
async def decide(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    principal = visitor.principal
    check_may_review_duplicates(principal)
    form = await request.form()
    decision = str(form.get("decision") or "")
    reason = str(form.get("reason") or "") or None
    try:
        a, b = uuid.UUID(str(form.get("participant_a"))), uuid.UUID(str(form.get("participant_b")))
    except ValueError:
        return await duplicates_page(
            request, runtime, visitor, notice=rule_label("invalid-input"), status_code=422
        )
    if decision not in SAVED:
        return await duplicates_page(
            request, runtime, visitor, notice=rule_label("invalid-input"), status_code=422
        )
    try:
        await run_in_threadpool(
            lambda: runtime.journeys.decide_duplicate(
                principal,
                request.state.request_id,
                a,
                b,
                linked=decision == "linked",
                reason=reason,
            )
        )
    except DomainError as e:
        notice = rule_label(e.rule) or rule_label("domain-error")
        return await duplicates_page(
            request, runtime, visitor, notice=notice, status_code=status_for(e)
        )
    return redirect(f"{PATH}?gespeichert={decision}")
