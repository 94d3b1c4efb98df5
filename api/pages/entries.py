"""One earlier entry of a participant: correct it or void it, always with a reason.

The entry is read from the history the caller may read (``Journeys.history_for_reading``,
as ``GET /participants/{id}/history``). The correction form holds the entry's own
fields (from the request schema it was recorded with, prefilled with its values);
what the person changes becomes the correction's ``changes``, checked exactly as
``POST .../milestones`` checks an ``EntryCorrected`` (``Journeys.entry_to_correct``
and ``api.corrections.coerce_changes``: each new value passes the field's own
rules). Voiding records an ``EntryVoided``. Both go through
``Journeys.record_milestone`` with the page's version and the form's
Idempotency-Key; refusals are shown in German next to the field they name.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any
from uuid import UUID

from fastapi import Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.corrections import coerce_changes
from lotse.api.deps import ReadAccess, RuntimeDep
from lotse.api.pages.forms import Choice, FormField, form_fields, form_values, submitted, validate
from lotse.api.pages.navigation import permits
from lotse.api.pages.participant import (
    ENTRY_PAGES,
    form_key,
    form_version,
    may_record,
    parse_id,
    record_refusal,
    step_choices,
)
from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.routing import STALE, page_router
from lotse.api.pages.visitors import SignedIn, Visitor
from lotse.api.problems import status_for
from lotse.api.routes.participants import request_key
from lotse.api.runtime import Runtime
from lotse.api.schemas import (
    MILESTONE_MODELS,
    EntryCorrectedCreate,
    EntryVoidedCreate,
    HistoryEntry,
    ParticipantCreate,
)
from lotse.api.views import history_entries
from lotse.domain.access import check_may_record_milestones, check_may_void
from lotse.domain.access import may_void as may_void_entries
from lotse.domain.errors import (
    AccessDeniedError,
    DomainError,
    ParticipantNotFoundError,
    VersionConflictError,
)
from lotse.domain.labels import event_label, rule_label
from lotse.domain.participant import Participant

router = page_router()

PREFIX = "changes."
#: The correction's and the void's own fields (the entry's fields carry ``PREFIX``).
OWN_FIELDS = form_fields(EntryVoidedCreate, exclude=frozenset({"voids_version"}))


def model_of(entry_type: str) -> type[BaseModel] | None:
    """The request schema the entry was recorded with, if it can be corrected by form."""
    if entry_type == "Registered":
        return ParticipantCreate
    if entry_type in ENTRY_PAGES:
        return None
    return MILESTONE_MODELS.get(entry_type)


def as_text(value: Any) -> str:
    """A stored value as a form input holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def same(new: Any, old: Any) -> bool:
    if isinstance(new, int | Decimal) and not isinstance(new, bool):
        try:
            return Decimal(str(new)) == Decimal(str(old))
        except InvalidOperation:
            return False
    return as_text(new) == as_text(old)


@dataclasses.dataclass
class EntryForms:
    entry: HistoryEntry
    participant: Participant
    fields: tuple[FormField, ...]
    may_correct: bool
    may_void: bool


async def _load(
    runtime: Runtime, request: Request, visitor: Visitor, pid: UUID, version: int
) -> EntryForms:
    principal = visitor.principal
    try:
        participant, events = await run_in_threadpool(
            runtime.journeys.history_for_reading, principal, pid
        )
    except ParticipantNotFoundError:
        await record_refusal(runtime, request, principal, pid)
        raise
    await ReadAccess(runtime, request, principal).record_async(pid)
    entry = next((e for e in history_entries(events) if e.version == version), None)
    if entry is None:
        msg = "no entry with this version"
        raise ParticipantNotFoundError(msg)
    model = model_of(entry.type)
    configuration = runtime.journeys.configuration
    programme = configuration.programmes[participant.programme]
    fields: tuple[FormField, ...] = ()
    if model is not None:
        modules = [m.code for m in programme.modules]
        choices = step_choices(configuration, programme, participant, modules)
        choices.pop("to_provider", None)
        # The registration's programme and provider read as their names, not ids.
        choices["programme"] = [Choice(programme.id, programme.name)]
        choices["provider"] = [Choice(p.id, p.name) for p in configuration.providers.values()]
        fields = tuple(
            dataclasses.replace(f, name=PREFIX + f.name)
            for f in form_fields(model, choices=choices)
        )
    may_correct = (
        model is not None
        and permits(check_may_record_milestones, principal)
        and may_record(principal, participant, "EntryCorrected", None)
    )
    may_void = (
        entry.type not in ENTRY_PAGES
        and permits(check_may_void, principal)
        and may_void_entries(principal, participant.provider, participant.municipality)
    )
    return EntryForms(entry, participant, fields, may_correct, may_void and entry.voided_by is None)


def _original(entry: HistoryEntry) -> dict[str, Any]:
    return {"effective_date": entry.effective_date, **entry.data}


def _shown(forms: EntryForms) -> list[tuple[str, str]]:
    """The entry's values as a person reads them: labels of choices, not codes."""
    original = _original(forms.entry)
    shown = []
    for f in forms.fields:
        value = original.get(f.name[len(PREFIX) :])
        text = as_text(value)
        if f.kind == "select":
            text = next((c.label for c in f.choices if c.value == text), text)
        elif f.kind == "checkbox":
            text = "ja" if value else "nein"
        elif f.kind == "date" and isinstance(value, date):
            text = value.strftime("%d.%m.%Y")
        shown.append((f.label, text or "\u2013"))
    return shown


def _render(
    request: Request,
    forms: EntryForms,
    pid: UUID,
    *,
    correction: dict[str, Any] | None = None,
    void: dict[str, Any] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    today = date.today().isoformat()
    original = {PREFIX + k: as_text(v) for k, v in _original(forms.entry).items()}
    correction = correction or {}
    void = void or {}
    return render(
        request,
        "entry.html",
        {
            "pid": str(pid),
            "entry": forms.entry,
            "title": event_label(forms.entry.type),
            "shown": _shown(forms),
            "version": forms.participant.version,
            "fields": forms.fields,
            "own_fields": OWN_FIELDS,
            "may_correct": forms.may_correct,
            "may_void": forms.may_void,
            "correction": {
                "entered": correction.get("values") or {**original, "effective_date": today},
                "errors": correction.get("errors", {}),
                "key": correction.get("key") or str(uuid.uuid4()),
            },
            "void": {
                "entered": void.get("values") or {"effective_date": today},
                "errors": void.get("errors", {}),
                "key": void.get("key") or str(uuid.uuid4()),
            },
            "notice": notice,
        },
        status_code=status_code,
    )


def _version(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 9:
        msg = "no entry with this version"
        raise ParticipantNotFoundError(msg)
    return int(raw)


@router.get("/teilnehmende/{participant_id}/eintraege/{version}")
async def show_entry(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, participant_id: str, version: str
) -> Response:
    pid = parse_id(participant_id)
    forms = await _load(runtime, request, visitor, pid, _version(version))
    return _render(request, forms, pid)


async def _record(
    request: Request,
    runtime: Runtime,
    visitor: Visitor,
    pid: UUID,
    body: BaseModel,
    form: Any,
    **data: Any,
) -> tuple[int | None, DomainError | None]:
    """Record the correction or void; the notification position, or the refusal."""
    milestone = str(body.type)  # type: ignore[attr-defined]
    principal = visitor.principal
    try:
        result = await run_in_threadpool(
            lambda: runtime.journeys.record_milestone(
                principal,
                request.state.request_id,
                pid,
                milestone,
                body.effective_date,  # type: ignore[attr-defined]
                expected_version=form_version(form),
                request_key=request_key(
                    principal,
                    form_key(form),
                    "milestone",
                    f"/participants/{pid}/milestones",
                    body,
                ),
                **data,
            )
        )
    except ParticipantNotFoundError:
        await record_refusal(runtime, request, principal, pid)
        raise
    except DomainError as e:
        return None, e
    return result.position, None


def _refusal(error: DomainError, names: set[str]) -> tuple[dict[str, str], str | None, int]:
    """(errors by field, page notice, status) for a refused correction or void."""
    if isinstance(error, VersionConflictError):
        return {}, STALE, 409
    message = rule_label(error.rule) or rule_label("domain-error") or ""
    return {(error.field if error.field in names else ""): message}, None, status_for(error)


@router.post("/teilnehmende/{participant_id}/eintraege/{version}/korrektur")
async def correct_entry(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, participant_id: str, version: str
) -> Response:
    pid = parse_id(participant_id)
    number = _version(version)
    forms = await _load(runtime, request, visitor, pid, number)
    form: Any = await request.form()
    if not forms.may_correct:
        msg = "this entry is not corrected with this form, or not by this role"
        raise AccessDeniedError(msg)
    names = {f.name for f in forms.fields} | {f.name for f in OWN_FIELDS}
    values = {**submitted(forms.fields, form), **submitted(OWN_FIELDS, form)}
    state = {"values": values, "key": form_key(form)}
    original = _original(forms.entry)
    unprefixed = [dataclasses.replace(f, name=f.name[len(PREFIX) :]) for f in forms.fields]
    posted = {f.name: form.get(PREFIX + f.name) for f in unprefixed}
    new = form_values(unprefixed, posted)
    changes = {
        name: value
        for name, value in new.items()
        if not same(value, original.get(name))
        and not (isinstance(value, bool) and not value and original.get(name) is None)
    }
    own = {"reason": form.get("reason"), "effective_date": form.get("effective_date")}
    body, errors = validate(
        EntryCorrectedCreate,
        OWN_FIELDS,
        own,
        type="EntryCorrected",
        corrects_version=number,
        changes=changes,
    )
    if not changes:
        errors[""] = "Bitte ändern Sie mindestens einen Wert des Eintrags."
    if body is None or errors:
        state["errors"] = errors
        return _render(request, forms, pid, correction=state, status_code=422)
    assert isinstance(body, EntryCorrectedCreate)
    try:
        entry = await run_in_threadpool(
            runtime.journeys.entry_to_correct, visitor.principal, pid, number
        )
        coerced = coerce_changes(type(entry).__name__, changes)
    except DomainError as e:
        state["errors"], notice, status = _refusal(e, names)
        return _render(request, forms, pid, correction=state, notice=notice, status_code=status)
    position, refusal = await _record(
        request,
        runtime,
        visitor,
        pid,
        body,
        form,
        corrects_version=number,
        reason=body.reason,
        changes=coerced,
    )
    if refusal is not None:
        state["errors"], notice, status = _refusal(refusal, names)
        return _render(request, forms, pid, correction=state, notice=notice, status_code=status)
    return redirect(f"/teilnehmende/{pid}?stand={position}&gespeichert=EntryCorrected#verlauf")


@router.post("/teilnehmende/{participant_id}/eintraege/{version}/ungueltig")
async def void_entry(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, participant_id: str, version: str
) -> Response:
    pid = parse_id(participant_id)
    number = _version(version)
    forms = await _load(runtime, request, visitor, pid, number)
    form: Any = await request.form()
    check_may_void(visitor.principal)
    state: dict[str, Any] = {"values": submitted(OWN_FIELDS, form), "key": form_key(form)}
    body, errors = validate(
        EntryVoidedCreate, OWN_FIELDS, form, type="EntryVoided", voids_version=number
    )
    if body is None:
        state["errors"] = errors
        return _render(request, forms, pid, void=state, status_code=422)
    assert isinstance(body, EntryVoidedCreate)
    position, refusal = await _record(
        request, runtime, visitor, pid, body, form, voids_version=number, reason=body.reason
    )
    if refusal is not None:
        names = {f.name for f in OWN_FIELDS}
        state["errors"], notice, status = _refusal(refusal, names)
        return _render(request, forms, pid, void=state, notice=notice, status_code=status)
    return redirect(f"/teilnehmende/{pid}?stand={position}&gespeichert=EntryVoided#verlauf")
