"""Datenschutz: who read a participant's data (Art. 15), restriction and erasure (Art. 17/18).

The same calls as the JSON routes: ``Journeys.access_log_of`` (``GET
/participants/{id}/access-log``) and ``Journeys.erase`` followed by the key scrub
(``POST /participants/{id}/erasure``), with the same request key, so the form's
Idempotency-Key makes a resubmitted confirmation one erasure. An erasure takes
two steps, as GOV.UK's "check your answers": the form posts to a confirmation
page that says what will happen, and only its own post (with the session's CSRF
token and ``bestaetigt=ja``) records anything.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, get_args
from uuid import UUID

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.deps import RuntimeDep
from lotse.api.pages.forms_input import form_text, idempotency_key, validation_messages
from lotse.api.pages.names import organisation_names
from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn
from lotse.api.routes.participants import SCRUB_RETRY_AFTER, request_key, scrub_keys
from lotse.api.runtime import Runtime
from lotse.api.schemas import ErasureCreate
from lotse.domain.access import Principal, check_may_erase, check_may_read_access_log
from lotse.domain.errors import AccessDeniedError, ParticipantNotFoundError
from lotse.domain.labels import label, role_label, rule_label, value_label
from lotse.domain.vocabulary import ErasureMode

router = page_router()

#: What each mode does, said before it is done (the confirmation page).
CONSEQUENCES = {
    ErasureMode.SHRED: [
        "Der Schlüssel der Person wird sofort vernichtet.",
        "Namen, Geburtsdatum und Freitexte sind danach für niemanden mehr lesbar, auch nicht"
        " für die Prüfung.",
        "Die Person zählt weiter in den Statistiken und Berichten (ohne personenbezogene Daten).",
        "Das kann nicht rückgängig gemacht werden.",
    ],
    ErasureMode.RESTRICT: [
        "Die Verarbeitung wird eingeschränkt (Art. 18 DSGVO): nur die Prüfung kann die Daten"
        " noch lesen.",
        "Für die Person können keine Einträge mehr erfasst werden.",
        "Zum Ende der Aufbewahrungsfrist des Programms werden die Daten gelöscht.",
    ],
}
#: The reasons an erasure may give: the request schema's own list.
REASONS: tuple[str, ...] = get_args(ErasureCreate.model_fields["reason"].annotation)
OUTCOMES = {200: "gelesen", 401: "abgewiesen", 403: "abgewiesen", 404: "abgewiesen"}


# ------------------------------------------------------------ view models


def access_rows(
    rows: Sequence[Mapping[str, Any]], organisations: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The read-access log as the page lists it, newest first, in German."""
    return [
        {
            "at": row["at"],
            "user": row["user_id"],
            "role": role_label(row["role"]),
            "organisation": organisations.get(row["organisation"], row["organisation"]),
            "endpoint": access_way(row["endpoint"]),
            "purpose": row.get("purpose") or "–",  # noqa: RUF001
            "outcome": OUTCOMES.get(int(row["outcome"]), "abgewiesen"),
        }
        for row in rows
    ]


#: What a read of the JSON API was for, by the route's path after the participant's id.
API_READS = {
    "": "Stammdaten",
    "/state": "Stand zu einem Stichtag",
    "/history": "Verlauf",
    "/timeline": "Zeitleiste",
    "/access-log": "Protokoll der Lesezugriffe",
    "/milestones": "Eintrag",
}


def access_way(endpoint: str) -> str:
    """How the data was read (the log keeps "METHOD /path"), in words."""
    method, _, path = endpoint.partition(" ")
    if path.startswith("/participants/{participant_id}"):
        rest = path[len("/participants/{participant_id}") :]
        return f"Schnittstelle: {API_READS.get(rest, 'Teilnehmende')}"
    if path.startswith("/participants"):
        return "Schnittstelle: Liste oder Suche"
    if method.startswith("lotse"):
        return "Kommandozeile: Prüfpaket"
    return f"Seite {re.sub(r'[{][a-z_]+[}]', '…', path)}" if path else endpoint


def short_id(participant_id: UUID) -> str:
    return str(participant_id)[:8]


# ------------------------------------------------------------------ helpers


def _participant_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg) from None


async def _in_scope(runtime: Runtime, principal: Principal, participant_id: UUID) -> None:
    """As the erasure decides it: the participant's current placement, in scope."""
    placement = await run_in_threadpool(
        runtime.journeys.placement_in_scope, principal, participant_id
    )
    if placement is None:
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg)


def _organisations(runtime: Runtime) -> dict[str, str]:
    return organisation_names(runtime.configuration)


def _erasure_form(
    request: Request,
    participant_id: UUID,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "privacy_erasure.html",
        {
            "participant": short_id(participant_id),
            "participant_id": participant_id,
            "modes": [(m.value, label(m)) for m in ErasureMode],
            "reasons": [(r, value_label(r)) for r in REASONS],
            "values": values,
            "errors": errors,
        },
        status_code=status_code,
    )


def _validated(form: Any) -> tuple[dict[str, str], ErasureCreate | None, dict[str, str]]:
    values = {name: form_text(form, name, 40) for name in ("mode", "reason")}
    values["idempotency_key"] = form_text(form, "idempotency_key", 255)
    try:
        body = ErasureCreate.model_validate({"mode": values["mode"], "reason": values["reason"]})
    except ValidationError as e:
        return values, None, validation_messages(e)
    return values, body, {}


# -------------------------------------------------------------------- pages


@router.get("/datenschutz")
async def privacy_page(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, teilnehmende: str | None = None
) -> Response:
    check_may_read_access_log(visitor.principal)
    errors: dict[str, str] = {}
    if teilnehmende:
        try:
            participant_id = UUID(teilnehmende.strip()[:40])
        except ValueError:
            errors["teilnehmende"] = "Bitte die Kennung der Person angeben (wie in ihrer Adresse)."
        else:
            return redirect(f"/datenschutz/{participant_id}/zugriffe")
    return render(request, "privacy.html", {"errors": errors}, status_code=422 if errors else 200)


@router.get("/datenschutz/{participant_id}/zugriffe")
async def access_log_page(
    participant_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    principal = visitor.principal
    check_may_read_access_log(principal)
    pid = _participant_id(participant_id)
    rows = await run_in_threadpool(runtime.journeys.access_log_of, principal, pid)
    try:
        check_may_erase(principal)
        may_erase = True
    except AccessDeniedError:  # the link is not offered
        may_erase = False
    return render(
        request,
        "privacy_access_log.html",
        {
            "participant": short_id(pid),
            "participant_id": pid,
            "rows": access_rows(rows, _organisations(runtime)),
            "may_erase": may_erase,
        },
    )


@router.get("/datenschutz/{participant_id}/loeschung")
async def erasure_page(
    participant_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    check_may_erase(visitor.principal)
    pid = _participant_id(participant_id)
    await _in_scope(runtime, visitor.principal, pid)
    return _erasure_form(request, pid, {}, {})


@router.post("/datenschutz/{participant_id}/loeschung")
async def confirm_erasure(
    participant_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    """The confirmation step: says what will happen; records nothing."""
    check_may_erase(visitor.principal)
    pid = _participant_id(participant_id)
    await _in_scope(runtime, visitor.principal, pid)
    values, body, errors = _validated(await request.form())
    if body is None:
        return _erasure_form(request, pid, values, errors, status_code=422)
    return _confirmation(request, pid, body, values.get("idempotency_key") or str(uuid.uuid4()))


def _confirmation(
    request: Request,
    pid: UUID,
    body: ErasureCreate,
    key: str,
    *,
    notice: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return render(
        request,
        "privacy_confirm.html",
        {
            "participant": short_id(pid),
            "participant_id": pid,
            "mode": body.mode.value,
            "mode_label": label(body.mode),
            "reason": body.reason,
            "reason_label": value_label(body.reason),
            "consequences": CONSEQUENCES[body.mode],
            "idempotency_key": key,
            "notice": notice,
        },
        status_code=status_code,
        headers=headers,
    )


@router.post("/datenschutz/{participant_id}/loeschung/bestaetigen")
async def erase(
    participant_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    """Record the erasure or restriction, as ``POST /participants/{id}/erasure`` does."""
    principal = visitor.principal
    check_may_erase(principal)
    pid = _participant_id(participant_id)
    form = await request.form()
    values, body, errors = _validated(form)
    if body is None:
        await _in_scope(runtime, principal, pid)
        return _erasure_form(request, pid, values, errors, status_code=422)
    key = values.get("idempotency_key") or str(uuid.uuid4())
    if form_text(form, "bestaetigt", 4) != "ja":
        # Not confirmed on the confirmation page: say again what would happen.
        await _in_scope(runtime, principal, pid)
        return _confirmation(request, pid, body, key)
    journeys = runtime.journeys
    path = f"/participants/{pid}/erasure"
    result, changed = await run_in_threadpool(
        journeys.erase,
        principal,
        request.state.request_id,
        pid,
        mode=body.mode,
        reason_code=body.reason,
        request_key=request_key(principal, idempotency_key(key), "erasure", path, body),
    )
    # Blocking work (and the scrub's wait for older transactions) off the event loop.
    if body.mode == ErasureMode.SHRED and not await run_in_threadpool(scrub_keys, journeys):
        # Recorded and the key destroyed, but an old copy may remain: confirming
        # again (same key, nothing recorded twice) runs the scrub again.
        return _confirmation(
            request,
            pid,
            body,
            key,
            notice=rule_label("erasure-not-final"),
            status_code=503,
            headers={"Retry-After": str(SCRUB_RETRY_AFTER)},
        )
    return render(
        request,
        "privacy_done.html",
        {
            "participant": short_id(pid),
            "participant_id": pid,
            "changed": changed,
            "mode": body.mode.value,
            "version": result.version,
        },
    )
