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
``POST .../schritte/pruefen`` is the inline check htmx calls when a field of a
step changes: the same parsing and model as the submit, nothing written, the
step's fields with their German errors.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.corrections import plain
from lotse.api.deps import ReadAccess, RuntimeDep, access_entry
from lotse.api.pages.due import PARTICIPANT_DAYS, DueItem, due_items
from lotse.api.pages.forms import Choice, FormField, form_fields, submitted, validate
from lotse.api.pages.freshness import Stand, catch_up
from lotse.api.pages.names import organisation_names
from lotse.api.pages.navigation import permits
from lotse.api.pages.rendering import german_date, redirect, render
from lotse.api.pages.routing import STALE, page_router
from lotse.api.pages.visitors import SignedIn, Visitor
from lotse.api.problems import status_for
from lotse.api.readmodels import ReadModels
from lotse.api.routes.participants import request_key
from lotse.api.runtime import Runtime
from lotse.api.schemas import MILESTONE_MODELS
from lotse.api.views import participant_public
from lotse.domain.access import (
    Principal,
    accepted_referrals,
    check_may_read_personal_data,
    check_may_record_for,
    check_may_record_milestones,
    core_data,
    may_void,
    may_write,
    referred_modules,
)
from lotse.domain.catalogue import MILESTONES
from lotse.domain.configuration import Configuration, Programme
from lotse.domain.errors import (
    AccessDeniedError,
    DomainError,
    ParticipantNotFoundError,
    VersionConflictError,
)
from lotse.domain.labels import (
    country_label,
    event_label,
    label,
    role_label,
    rule_label,
    status_label,
)
from lotse.domain.participant import Participant
from lotse.domain.vocabulary import (
    Destination,
    ExitReason,
    Gender,
    LanguageLevel,
    ResidenceStatus,
    TargetGroup,
    WorklistDismissalReason,
)
from lotse.projections.caseload import timeline_for
from lotse.storage.access_log import AccessLogUnavailableError

router = page_router()

#: Entries recorded on pages of their own (an earlier entry's page), not as a step.
ENTRY_PAGES = frozenset({"EntryCorrected", "EntryVoided"})
#: Entries recorded by a form of their own on this page: a due item's dismissal
#: (``api.pages.dismissals``), offered next to the item it takes off the list.
OWN_FORMS = frozenset({"WorklistItemDismissed"})
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


def may_record(
    principal: Principal,
    participant: Participant,
    milestone: str,
    module: str | None,
    referred: frozenset[str] = frozenset(),
) -> bool:
    """Does the access policy let the caller record this milestone for this person?"""
    try:
        check_may_record_for(
            principal,
            participant.provider,
            referred,
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
    principal: Principal,
    configuration: Configuration,
    participant: Participant,
    referred: frozenset[str] = frozenset(),
) -> list[Step]:
    """A form for every milestone of the catalogue the caller may record for this person."""
    if not permits(check_may_record_milestones, principal):
        return []
    programme = configuration.programmes[participant.programme]
    steps: list[Step] = []
    for milestone in MILESTONES:
        name = milestone.name
        model = MILESTONE_MODELS[name]
        if name in ENTRY_PAGES or name in OWN_FORMS:
            continue
        modules: list[str] = []
        if "module" in model.model_fields:
            modules = [
                m.code
                for m in programme.modules
                if may_record(principal, participant, name, m.code, referred)
            ]
            if not modules:
                continue
        elif not may_record(principal, participant, name, None, referred):
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


def core_facts(
    values: dict[str, Any], configuration: Configuration, *, full: bool
) -> list[tuple[str, str]]:
    """The participant's data as label and text; fields the caller does not read are left out.

    ``values`` is the participant as the caller may read it: the full state, or a
    referred provider's core data (``domain.access.core_data``, other fields ``None``).
    """
    programme = configuration.programmes.get(values["programme"] or "")
    provider = configuration.providers.get(values["provider"] or "")
    if values.get("personal_data_erased"):
        name = "(personenbezogene Daten gelöscht)"
    else:
        name = f"{values.get('given_name') or ''} {values.get('family_name') or ''}".strip()
    consent = values.get("consent_version")
    residence = values.get("residence_status")
    facts: list[tuple[str, str | None]] = [
        ("Name", name or None),
        ("Geburtsdatum", german_date(values.get("birth_date")) or None),
        ("Geburtsjahr", None if values.get("birth_date") else _text(values.get("birth_year"))),
        ("Alter bei Aufnahme", _text(values.get("age_at_intake"))),
        ("Geschlecht", vocabulary(Gender, values.get("gender")) if values.get("gender") else None),
        ("Staatsangehörigkeit", country_label(values.get("nationality")) or None),
        (
            "Aufenthaltsstatus",
            (
                vocabulary(ResidenceStatus, residence)
                + (
                    f", gültig bis {german_date(values['residence_valid_until'])}"
                    if values.get("residence_valid_until")
                    else ""
                )
            )
            if residence
            else None,
        ),
        ("Programm", programme.name if programme else values.get("programme")),
        ("Träger", provider.name if provider else values.get("provider")),
        ("Status", status_label(values["status"]) if values.get("status") else None),
        ("Aufnahme", german_date(values.get("intake_date")) or None),
    ]
    if full:
        eligible = {True: "ja", False: "nein", None: "noch nicht geprüft"}[values.get("eligible")]
        facts += [
            ("Förderberechtigt", eligible),
            ("Zielgruppe", vocabulary(TargetGroup, values.get("target_group"))),
            (
                "Einwilligung",
                "widerrufen"
                if values.get("consent_withdrawn")
                else (f"erteilt (Fassung {consent})" if consent else "keine"),
            ),
        ]
    facts.append(
        (
            "Sprachniveau",
            vocabulary(LanguageLevel, values.get("language_level"))
            if values.get("language_level")
            else None,
        )
    )
    if values.get("exit_date"):
        facts.append(
            (
                "Austritt",
                f"{german_date(values['exit_date'])}: "
                f"{vocabulary(ExitReason, values.get('exit_reason'))}, Verbleib "
                f"{vocabulary(Destination, values.get('exit_destination'))}",
            )
        )
    return [(name, text) for name, text in facts if text]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def readable_names(configuration: Configuration) -> Callable[[str], str]:
    """Organisation, programme and module ids in a timeline text, replaced by their names.

    The timeline read model keeps ids (its text is written once, at projection,
    and names may change); a person reads the configured names, not the codes.
    """
    names = {p.id: p.name for p in configuration.providers.values()}
    names.update({m.id: m.name for m in configuration.municipalities.values()})
    names.update({p.id: p.name for p in configuration.programmes.values()})
    # A module code (F2) reads with its name, as in the lists of the pages.
    for programme in configuration.programmes.values():
        for module in programme.modules:
            names.setdefault(module.code, module_choice(programme, module.code).label)
    if not names:
        return lambda text: text
    pattern = re.compile(
        r"(?<![\w-])("
        + "|".join(re.escape(i) for i in sorted(names, key=len, reverse=True))
        + r")(?![\w-])"
    )
    return lambda text: pattern.sub(lambda m: names[m.group(1)], text)


async def _timeline(
    reads: ReadModels, principal: Principal, participant_id: UUID, configuration: Configuration
) -> list[dict[str, Any]]:
    async with reads.pool.acquire() as conn:
        rows = await timeline_for(conn, principal, participant_id)
    organisations = organisation_names(configuration)
    names = readable_names(configuration)
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
            "summary": names(r["summary"]),
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
) -> tuple[Participant, frozenset[str]]:
    """The participant and the modules the caller is referred for (none: it reads in full).

    A provider the participant was referred to reads the core data only, as the
    JSON API's list does; everything else is the 404 page (logged as a refusal).
    """
    principal = visitor.principal
    journeys = runtime.journeys
    try:
        try:
            participant = await run_in_threadpool(
                journeys.participant_for_reading, principal, participant_id
            )
            return participant, frozenset()
        except AccessDeniedError as e:
            if e.rule != "referral-core-data-only":
                raise
        participant, _ = await run_in_threadpool(
            journeys.history_for_reading, principal, participant_id
        )
    except ParticipantNotFoundError:
        await record_refusal(runtime, request, principal, participant_id)
        raise
    referred = referred_modules(
        principal,
        accepted_referrals(participant.referrals.values()),
        participant.status == "active",
    )
    return participant, referred


#: After a registration that matched another participant's pseudonyms: where, never whose.
DUPLICATE_NOTICES = {
    "municipality": "Möglicherweise ist diese Person bereits bei einem anderen Träger in"
    " Ihrer Kommune registriert; Ihre Koordination kann das prüfen.",
    "elsewhere": "Möglicherweise ist diese Person bereits bei einem anderen Träger außerhalb"
    " Ihrer Kommune registriert; Ihre Koordination kann das prüfen.",
}


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
    participant, referred = await load_for_page(runtime, request, visitor, participant_id)
    reads: ReadModels = request.app.state.reads
    current = await catch_up(reads, ("timeline", "worklist"), stand)
    configuration = runtime.journeys.configuration
    timeline = await _timeline(reads, principal, participant_id, configuration)
    due: list[DueItem] = []
    if permits(check_may_read_personal_data, principal):
        due, _ = await due_items(
            reads, runtime, principal, days=PARTICIPANT_DAYS, participant=participant_id
        )
    await ReadAccess(runtime, request, principal).record_async(participant_id)
    values = participant_public(participant).model_dump()
    since = {m["module"]: m["since"] for m in values["open_modules"]}
    values["open_modules"] = list(since)
    if referred:
        values = core_data(values, referred)
    programme = configuration.programmes.get(participant.programme)
    steps = []
    for step in recordable_steps(principal, configuration, participant, referred):
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
            if (step.type == "EligibilityAssessed" and participant.eligible is None) or (
                step.type == "ConsentGiven" and participant.consent_version is None
            ):
                step.open = True
    saved = request.query_params.get("gespeichert")
    duplicate = DUPLICATE_NOTICES.get(request.query_params.get("doppelt") or "")
    return render(
        request,
        "participant.html",
        {
            "pid": str(participant_id),
            "version": participant.version,
            "facts": core_facts(values, configuration, full=not referred),
            "referred": sorted(
                module_choice(programme, code).label if programme else code for code in referred
            ),
            "modules": [
                (module_choice(programme, code).label if programme else code, since[code])
                for code in values.get("open_modules") or []
            ],
            "timeline": timeline,
            "timeline_current": current,
            "steps": steps,
            "may_change_entries": may_write(principal, participant.provider)
            or may_void(principal, participant.provider, participant.municipality),
            "notice": notice,
            "due": [(item, str(uuid.uuid4())) for item in due],
            "due_days": PARTICIPANT_DAYS,
            "may_dismiss": permits(check_may_record_milestones, principal)
            and may_record(principal, participant, "WorklistItemDismissed", None, referred),
            "dismiss_reasons": [(r.value, label(r)) for r in WorklistDismissalReason],
            "today": runtime.journeys.clock().isoformat(),
            "saved": event_label(saved) if saved in (*MILESTONE_MODELS, "Registered") else None,
            "duplicate": duplicate,
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


@router.post("/teilnehmende/{participant_id}/schritte/pruefen")
async def check_step(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, participant_id: str
) -> Response:
    """The inline check of a step's form: its fields with the submit's German errors; no write."""
    pid = parse_id(participant_id)
    form = await request.form()
    participant, referred = await load_for_page(runtime, request, visitor, pid)
    configuration = runtime.journeys.configuration
    offered = recordable_steps(visitor.principal, configuration, participant, referred)
    step = next((s for s in offered if s.type == form.get("type")), None)
    if step is None:
        msg = "type is not a step offered to the caller for this participant"
        raise AccessDeniedError(msg)
    model = MILESTONE_MODELS[step.type]
    # Validated as record_step validates (fields without choices), shown as the page shows.
    _, errors = validate(model, form_fields(model), form, type=step.type)
    return render(
        request,
        "step_fields.html",
        {
            "fields": step.fields,
            "values": submitted(step.fields, form),
            "errors": errors,
            "prefix": f"{step.type}-",
            "check": f"/teilnehmende/{pid}/schritte/pruefen",
        },
    )


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
