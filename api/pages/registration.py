"""Neue Teilnehmende/r: the registration form, recorded as ``POST /participants`` records it.

The form is built from ``ParticipantCreate`` (the JSON route's request schema),
its programme and provider lists from the configuration, offered as far as the
access policy lets the caller register (``may_write``). The registration goes
through ``Journeys.register`` with the Idempotency-Key generated into the form,
so a double submit registers one person. ``POST /teilnehmende/neu/pruefen`` is
the inline check htmx calls when a field changes: the same parsing and model as
the submit, nothing written, the form with its German errors. Eligibility and consent are the next
steps, as in the API: the participant's page opens their forms first.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.corrections import plain
from lotse.api.deps import RuntimeDep
from lotse.api.pages.forms import Choice, FormField, form_fields, submitted, validate
from lotse.api.pages.participant import form_key
from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn, Visitor
from lotse.api.problems import status_for
from lotse.api.routes.participants import request_key
from lotse.api.schemas import ParticipantCreate
from lotse.domain.access import check_may_record, may_write
from lotse.domain.configuration import Configuration
from lotse.domain.errors import DomainError
from lotse.domain.labels import rule_label

router = page_router()

PATH = "/teilnehmende/neu"
CHECK_PATH = f"{PATH}/pruefen"


def registration_fields(configuration: Configuration, visitor: Visitor) -> tuple[FormField, ...]:
    providers = [p for p in configuration.providers.values() if may_write(visitor.principal, p.id)]
    programmes = {
        programme_id
        for p in providers
        for programme_id in configuration.programmes
        if p.delivers(programme_id)
    }
    choices = {
        "programme": [
            Choice(pid, configuration.programmes[pid].name) for pid in sorted(programmes)
        ],
        "provider": [Choice(p.id, p.name) for p in providers],
    }
    return form_fields(ParticipantCreate, choices=choices)


def _page(
    request: Request,
    fields: tuple[FormField, ...],
    values: dict[str, str],
    errors: dict[str, str],
    key: str,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "registration.html",
        {"fields": fields, "values": values, "errors": errors, "key": key, "check": CHECK_PATH},
        status_code=status_code,
    )


def _defaults(fields: tuple[FormField, ...]) -> dict[str, str]:
    # A single programme or provider to choose from is chosen already.
    only = [f for f in fields if f.kind == "select" and len(f.choices) == 1]
    return {f.name: f.choices[0].value for f in only}


@router.get(PATH)
async def registration_form(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    check_may_record(visitor.principal)
    fields = registration_fields(runtime.journeys.configuration, visitor)
    return _page(request, fields, _defaults(fields), {}, str(uuid.uuid4()))


async def _checked(
    request: Request, runtime: RuntimeDep, visitor: Visitor
) -> tuple[tuple[FormField, ...], Any, dict[str, str], BaseModel | None, dict[str, str]]:
    """The posted form read and validated as the submit and the inline check both do."""
    check_may_record(visitor.principal)
    form: Any = await request.form()
    fields = registration_fields(runtime.journeys.configuration, visitor)
    body, errors = validate(ParticipantCreate, fields, form)
    return fields, form, submitted(fields, form), body, errors


@router.post(CHECK_PATH)
async def check_registration(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    """The inline check: the form with its German errors, 200 so htmx swaps it; no write."""
    fields, form, values, _, errors = await _checked(request, runtime, visitor)
    return _page(request, fields, values, errors, form_key(form) or str(uuid.uuid4()))


@router.post(PATH)
async def register(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    principal = visitor.principal
    fields, form, values, body, errors = await _checked(request, runtime, visitor)
    key = form_key(form)
    if body is None:
        return _page(request, fields, values, errors, key or str(uuid.uuid4()), 422)
    assert isinstance(body, ParticipantCreate)
    details = {k: plain(v) for k, v in body.model_dump(exclude={"programme", "provider"}).items()}
    try:
        result = await run_in_threadpool(
            lambda: runtime.journeys.register(
                principal,
                request.state.request_id,
                programme=body.programme,
                provider=body.provider,
                request_key=request_key(principal, key, "register", "/participants", body),
                **details,
            )
        )
    except DomainError as e:
        names = {f.name for f in fields}
        message = rule_label(e.rule) or rule_label("domain-error") or ""
        errors = {(e.field if e.field in names else ""): message}
        if e.rule == "idempotency-key-reused":
            key = None
        return _page(request, fields, values, errors, key or str(uuid.uuid4()), status_for(e))
    # Where a possible duplicate is registered (never whose): the participant page
    # says so in German (``participant.DUPLICATE_NOTICES``).
    duplicate = f"&doppelt={result.possible_duplicate}" if result.possible_duplicate else ""
    return redirect(
        f"/teilnehmende/{result.participant_id}?stand={result.position}"
        f"&gespeichert=Registered{duplicate}"
    )
