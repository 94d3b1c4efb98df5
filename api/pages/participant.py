"""Teilnehmende/r: core data, current modules, the timeline, and a form per milestone.

Reads go through the same functions as the JSON API: the current state from
``Journeys.participant_for_reading`` (as ``GET /participants/{id}``) and the
timeline from ``projections.caseload.timeline_for`` (as ``GET .../timeline``);
each read is recorded in the read-access log, and a participant that does not
exist or is not in the caller's scope gives the same 404 page.

The forms are built from the event catalogue (``domain.catalogue.MILESTONES``)
and the request schema of each milestone (``api.schemas.MILESTONE_MODELS``):
a new milestone type appears here without a template of its own. A form is
offered when the access policy lets the caller record that milestone for this
participant (``check_may_record_for``). A post is recorded by
``Journeys.record_milestone`` exactly as ``POST /participants/{id}/milestones``
does, with the form's Idempotency-Key (a double submit records one event) and
the page's version as If-Match (a stale page is told so and nothing is saved).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.corrections import plain
from lotse.api.deps import ReadAccess, RuntimeDep, access_entry
from lotse.api.pages.forms import Choice, FormField, form_fields, submitted, validate
from lotse.api.pages.freshness import Stand, catch_up
from lotse.api.pages.navigation import permits
from lotse.api.pages.rendering import german_date, redirect, render
from lotse.api.pages.routing import STALE, page_router
from lotse.api.pages.visitors import SignedIn, Visitor
from lotse.api.problems import status_for
from lotse.api.readmodels import ReadModels
from lotse.api.routes.participants import request_key
from lotse.api.runtime import Runtime
from lotse.api.schemas import MILESTONE_MODELS, ParticipantPublic
from lotse.api.views import participant_public
from lotse.domain.access import (
    Principal,
    check_may_record,
    check_may_record_for,
    check_may_record_milestones,
    check_may_void,
)
from lotse.domain.catalogue import MILESTONES
from lotse.domain.configuration import Configuration, Programme
from lotse.domain.errors import (
    AccessDeniedError,
    DomainError,
    ParticipantNotFoundError,
    VersionConflictError,
)
from lotse.domain.labels import event_label, label, role_label, rule_label, status_label
from lotse.domain.participant import Participant
from lotse.domain.vocabulary import (
    Destination,
    ExitReason,
    Gender,
    LanguageLevel,
    ResidenceStatus,
    TargetGroup,
)
from lotse.projections.caseload import timeline_for
from lotse.storage.access_log import AccessLogUnavailableError

router = page_router()

#: Entries recorded on pages of their own (an earlier entry's page), not as a step.
ENTRY_PAGES = frozenset({"EntryCorrected", "EntryVoided"})
#: What a table cell shows for "none" (an en dash).
NOTHING = "\u2013"
_KEY = re.compile(r"^[A-Za-z0-9-]{8,100}$")


def parse_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg) from None


def form_key(form: Any) -> str | None:
    """The form's Idempotency-Key, generated into it when the page was rendered."""
    raw = form.get("idempotency_key")
    return raw if isinstance(raw, str) and _KEY.match(raw) else None


def form_version(form: Any) -> int | None:
    raw = form.get("version")
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 18 else None


def vocabulary(kind: type, value: str | None) -> str:
    """A stored code as its German label (a dash when there is none)."""
    if value is None or value == "":
        return NOTHING
    try:
        return label(kind(value))
    except ValueError:
        return str(value)


# ------------------------------------------------------------- the steps


@dataclass
class Step:
    """One milestone's form on the page."""

    type: str
    title: str
    fields: tuple[FormField, ...]
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    open: bool = False
    key: str = ""


def _passes(
    principal: Principal, participant: Participant, milestone: str, module: str | None
) -> bool:
    try:
        check_may_record_for(
            principal,
            participant.provider,
            frozenset(),
            milestone,
            module,
            participant.municipality,
        )
    except (AccessDeniedError, ParticipantNotFoundError):
        return False
    return True


def module_choice(programme: Programme, code: str) -> Choice:
    module = programme.module(code)
    return Choice(code, f"{code} - {module.name}" if module else code)


def step_choices(
    configuration: Configuration, programme: Programme, participant: Participant, modules: list[str]
) -> dict[str, list[Choice]]:
    """Choice lists of fields whose values come from the configuration, not a vocabulary."""
    providers = [
        p
        for p in configuration.providers.values()
        if p.delivers(programme.id) and p.id != participant.provider
    ]
    return {
        "module": [module_choice(programme, code) for code in modules],
        "consent_version": [Choice(c.id, f"Fassung {c.id}") for c in programme.consent_versions],
        "to_provider": [Choice(p.id, p.name) for p in providers],
    }


def recordable_steps(
    principal: Principal, configuration: Configuration, participant: Participant
) -> list[Step]:
    """A form for every milestone of the catalogue the caller may record for this person."""
    if not permits(check_may_record_milestones, principal):
        return []
    programme = configuration.programmes[participant.programme]
    steps: list[Step] = []
    for milestone in MILESTONES:
        name = milestone.name
        model = MILESTONE_MODELS[name]
        if name in ENTRY_PAGES:
            continue
        modules: list[str] = []
        if "module" in model.model_fields:
            modules = [
                m.code for m in programme.modules if _passes(principal, participant, name, m.code)
            ]
            if not modules:
                continue
        elif not _passes(principal, participant, name, None):
            continue
        fields = form_fields(
            model, choices=step_choices(configuration, programme, participant, modules)
        )
        steps.append(Step(name, event_label(name), fields))
    return steps


def fresh(step: Step) -> Step:
    """A step's form as first shown: defaults, today's date, a new Idempotency-Key."""
    values = {f.name: f.default or "" for f in step.fields}
    values["effective_date"] = date.today().isoformat()
    step.values = {**values, **step.values}
    step.key = step.key or str(uuid.uuid4())
    return step


# ------------------------------------------------------------- the page


def core_data(public: ParticipantPublic, configuration: Configuration) -> list[tuple[str, str]]:
    programme = configuration.programmes.get(public.programme)
    provider = configuration.providers.get(public.provider)
    if public.personal_data_erased:
        name = "(personenbezogene Daten gelöscht)"
    else:
        name = f"{public.given_name or ''} {public.family_name or ''}".strip() or NOTHING
    eligible = {True: "ja", False: "nein", None: "noch nicht geprüft"}[public.eligible]
    consent = (
        "widerrufen"
        if public.consent_withdrawn
        else (f"erteilt (Fassung {public.consent_version})" if public.consent_version else "keine")
    )
    residence = vocabulary(ResidenceStatus, public.residence_status)
    if public.residence_valid_until:
        residence += f", gültig bis {german_date(public.residence_valid_until)}"
    facts = [
        ("Name", name),
        ("Geburtsdatum", german_date(public.birth_date) or NOTHING),
        ("Alter bei Aufnahme", str(public.age_at_intake)),
        ("Geschlecht", vocabulary(Gender, public.gender)),
        ("Staatsangehörigkeit", public.nationality),
        ("Aufenthaltsstatus", residence),
        ("Programm", programme.name if programme else public.programme),
        ("Träger", provider.name if provider else public.provider),
        ("Status", status_label(public.status)),
        ("Aufnahme", german_date(public.intake_date)),
        ("Förderberechtigt", eligible),
        ("Zielgruppe", vocabulary(TargetGroup, public.target_group)),
        ("Einwilligung", consent),
        ("Sprachniveau", vocabulary(LanguageLevel, public.language_level)),
    ]
    if public.exit_date:
        facts.append(
            (
                "Austritt",
                f"{german_date(public.exit_date)}: {vocabulary(ExitReason, public.exit_reason)},"
                f" Verbleib {vocabulary(Destination, public.exit_destination)}",
            )
        )
    return facts


async def _timeline(
    reads: ReadModels, principal: Principal, participant_id: UUID, configuration: Configuration
) -> list[dict[str, Any]]:
    async with reads.pool.acquire() as conn:
        rows = await timeline_for(conn, principal, participant_id)
    organisations = {p.id: p.name for p in configuration.providers.values()}
    organisations.update({m.id: m.name for m in configuration.municipalities.values()})
    return [
        {
            "version": r["version"],
            "type": r["type"],
            "title": event_label(r["type"]),
            "effective_date": r["effective_date"],
            "recorded_at": r["recorded_at"],
            "recorded_by": r["recorded_by"],
            "role": role_label(r["recorded_role"]),
            "organisation": organisations.get(r["organisation"], r["organisation"]),
            "summary": r["summary"],
            "corrects_version": r["corrects_version"],
            "corrected_by": list(r["corrected_by"] or []),
        }
        for r in rows
    ]


async def record_refusal(
    runtime: Runtime, request: Request, principal: Principal, participant_id: UUID | None
) -> None:
    """A refused attempt on a participant goes to the read-access log, as on the API."""
    if runtime.access_log is None:
        return
    p = principal
    entry = access_entry(request, p.user, p.role.value, p.organisation, participant_id, 404)
    # A refusal discloses nothing: it is still answered if the log cannot take it.
    with contextlib.suppress(AccessLogUnavailableError):
        await runtime.access_log.record_many_async([entry])


async def load_for_page(
    runtime: Runtime, request: Request, visitor: Visitor, participant_id: UUID
) -> Participant:
    """The participant as the caller may read it in full, or the 404 page (logged)."""
    try:
        return await run_in_threadpool(
            runtime.journeys.participant_for_reading, visitor.principal, participant_id
        )
    except ParticipantNotFoundError:
        await record_refusal(runtime, request, visitor.principal, participant_id)
        raise


async def participant_page(
    request: Request,
    runtime: Runtime,
    visitor: Visitor,
    participant_id: UUID,
    *,
    stand: str | None = None,
    failed: Step | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    principal = visitor.principal
    participant = await load_for_page(runtime, request, visitor, participant_id)
    reads: ReadModels = request.app.state.reads
    current = await catch_up(reads, ("timeline",), stand)
    configuration = runtime.journeys.configuration
    timeline = await _timeline(reads, principal, participant_id, configuration)
    await ReadAccess(runtime, request, principal).record_async(participant_id)
    public = participant_public(participant)
    programme = configuration.programmes.get(public.programme)
    steps = []
    for step in recordable_steps(principal, configuration, participant):
        if failed is not None and failed.type == step.type:
            step.values, step.errors, step.key, step.open = (
                failed.values,
                failed.errors,
                failed.key,
                True,
            )
        steps.append(fresh(step))
    if failed is not None and failed.type not in {step.type for step in steps}:
        # A step this person is not offered (a crafted post): its refusal heads the page.
        notice = notice or next(iter(failed.errors.values()), None) or rule_label("forbidden")
    if failed is None:
        # The next steps of a new registration come first and open.
        for step in steps:
            if (step.type == "EligibilityAssessed" and public.eligible is None) or (
                step.type == "ConsentGiven" and public.consent_version is None
            ):
                step.open = True
    saved = request.query_params.get("gespeichert")
    return render(
        request,
        "participant.html",
        {
            "pid": str(participant_id),
            "version": participant.version,
            "facts": core_data(public, configuration),
            "modules": [
                (module_choice(programme, m.module).label if programme else m.module, m.since)
                for m in public.open_modules
            ],
            "timeline": timeline,
            "timeline_current": current,
            "steps": steps,
            "may_change_entries": permits(check_may_record, principal)
            or permits(check_may_void, principal),
            "notice": notice,
            "saved": event_label(saved) if saved in (*MILESTONE_MODELS, "Registered") else None,
        },
        status_code=status_code,
    )


@router.get("/teilnehmende/{participant_id}")
async def show_participant(
    request: Request,
    runtime: RuntimeDep,
    visitor: SignedIn,
    participant_id: str,
    stand: Stand = None,
) -> Response:
    return await participant_page(request, runtime, visitor, parse_id(participant_id), stand=stand)


@router.post("/teilnehmende/{participant_id}/schritte")
async def record_step(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, participant_id: str
) -> Response:
    """Record one milestone from its form; refusals are shown next to their field."""
    pid = parse_id(participant_id)
    principal = visitor.principal
    form = await request.form()
    milestone = form.get("type")
    model = MILESTONE_MODELS.get(milestone) if isinstance(milestone, str) else None
    if model is None or milestone in ENTRY_PAGES:
        msg = "type is not a milestone recorded with this form"
        raise ParticipantNotFoundError(msg) if model is None else AccessDeniedError(msg)
    assert isinstance(milestone, str)
    fields = form_fields(model)
    key = form_key(form)
    failed = Step(milestone, event_label(milestone), fields, submitted(fields, form), key=key or "")
    body, failed.errors = validate(model, fields, form, type=milestone)
    if body is None:
        return await participant_page(
            request, runtime, visitor, pid, failed=failed, status_code=422
        )
    data = {k: plain(v) for k, v in body.model_dump(exclude={"type", "effective_date"}).items()}
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
                    principal, key, "milestone", f"/participants/{pid}/milestones", body
                ),
                **data,
            )
        )
    except ParticipantNotFoundError:
        await record_refusal(runtime, request, principal, pid)
        raise
    except VersionConflictError:
        return await participant_page(
            request, runtime, visitor, pid, failed=failed, notice=STALE, status_code=409
        )
    except DomainError as e:
        return await refused(request, runtime, visitor, pid, failed, e)
    return redirect(f"/teilnehmende/{pid}?stand={result.position}&gespeichert={milestone}#verlauf")


async def refused(
    request: Request,
    runtime: Runtime,
    visitor: Visitor,
    pid: UUID,
    failed: Step,
    error: DomainError,
) -> Response:
    """The step's form again, with the rule that refused it next to its field."""
    names = {f.name for f in failed.fields}
    message = rule_label(error.rule) or rule_label("domain-error") or ""
    failed.errors = {(error.field if error.field in names else ""): message}
    if error.rule == "idempotency-key-reused":
        failed.key = str(uuid.uuid4())
    return await participant_page(
        request, runtime, visitor, pid, failed=failed, status_code=status_for(error)
    )
