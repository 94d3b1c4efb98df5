"""Prüfung: a participant's history as of a day and as known at a time, side by side;
the chain's verification; a verifiable export bundle.

The same calls as the JSON API and the CLI: ``Journeys.state_for_reading`` and
``history_for_reading`` (``GET /participants/{id}/state`` and ``/history`` with
``as_of`` / ``known_at``), ``verify_chain`` (``GET /audit/verify``) and
``participants_to_export`` with the exporter (``lotse audit export``). Every
participant read is logged in the read-access log before the page leaves; an
export is logged before the bundle is written. Bundles from the page are
pseudonymised (no names, birth dates or free text): a bundle with personal data
outlives every later erasure and stays a command-line matter with a purpose.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from lotse.api.deps import ReadAccess, RuntimeDep
from lotse.api.export_bundles import participants_to_export
from lotse.api.pages.forms_input import form_text
from lotse.api.pages.names import organisation_names
from lotse.api.pages.rendering import LOCAL_TIME, PAGE_HEADERS, render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn, Visitor
from lotse.api.routes.audit import verify_chain
from lotse.api.runtime import Runtime
from lotse.api.schemas import HistoryEntry
from lotse.api.views import history_entries, participant_public
from lotse.domain.access import check_may_audit, check_may_export
from lotse.domain.errors import DomainError, ParticipantNotFoundError
from lotse.domain.labels import (
    VERIFICATION_PROBLEMS,
    VOCABULARY,
    event_label,
    field_label,
    role_label,
    rule_label,
    status_label,
)
from lotse.domain.timetravel import known_events
from lotse.storage.access_log import AccessLogUnavailableError
from lotse.storage.checkpoints import SigningKeyError
from lotse.storage.export import Criteria, ExportError

router = page_router()

#: Fields of an entry's data that the comparison leaves out: identifying ones are
#: shown on the participant's page, not side by side in an audit comparison.
HIDDEN_DATA = frozenset({"given_name", "family_name", "birth_date"})


# ------------------------------------------------------------ view models


def value_text(value: Any) -> str:
    """A value of an entry as a person reads it: labels for codes, German dates."""
    if value is None:
        return "–"  # noqa: RUF001
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TIME).strftime("%d.%m.%Y, %H:%M Uhr")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, StrEnum):
        value = value.value
    if isinstance(value, str):
        for labels in VOCABULARY.values():
            found = labels.get(value)  # type: ignore[call-overload]
            if found is not None:
                return str(found)
        return value
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) or "–"  # noqa: RUF001
    if isinstance(value, dict):
        return "; ".join(f"{field_label(k)}: {value_text(v)}" for k, v in value.items())
    return str(value)


#: Fields whose value is an organisation's or a programme's id: shown by its name.
NAMED_BY_CONFIGURATION = frozenset(
    {"provider", "municipality", "to_provider", "programme", "module"}
)
#: Fields whose value is an event type (what a correction or void concerns).
EVENT_TYPE_FIELDS = frozenset({"corrected_type", "voided_type"})


def detail_text(key: str, value: Any, names: Mapping[str, str]) -> str:
    if key in NAMED_BY_CONFIGURATION and isinstance(value, str):
        return names.get(value, value)
    if key in EVENT_TYPE_FIELDS and isinstance(value, str):
        return event_label(value)
    return value_text(value)


def entry_view(entry: HistoryEntry, organisations: Mapping[str, str]) -> dict[str, Any]:
    details = [
        (field_label(k), detail_text(k, v, organisations))
        for k, v in entry.data.items()
        if k not in HIDDEN_DATA and k not in entry.erased_fields and v not in (None, "", [], {})
    ]
    return {
        "version": entry.version,
        "type": event_label(entry.type),
        "effective_date": entry.effective_date,
        "recorded_at": entry.recorded_at,
        "by": f"{entry.recorded_by.user} ({role_label(entry.recorded_by.role)})",
        "organisation": organisations.get(entry.organisation, entry.organisation),
        "details": details,
        "corrected": bool(entry.corrected_by),
        "voided": entry.voided_by is not None,
    }


def state_facts(public: Any, modules: Mapping[str, str]) -> list[tuple[str, str]]:
    """The state the comparison shows: no names, the facts an audit compares."""
    return [
        ("Status", status_label(public.status)),
        ("Aufnahme", value_text(public.intake_date)),
        (
            "Offene Förderbausteine",
            ", ".join(
                f"{m.module} – {modules.get(m.module, m.module)} (seit {value_text(m.since)})"  # noqa: RUF001
                for m in public.open_modules
            )
            or "keine",
        ),
        ("Aufenthaltsstatus", value_text(public.residence_status)),
        ("Sprachstand", value_text(public.language_level)),
        ("Förderberechtigt", value_text(public.eligible)),
        ("Einwilligung", public.consent_version or "keine"),
        ("Austritt", value_text(public.exit_date)),
    ]


def differing(left: Sequence[tuple[str, str]], right: Sequence[tuple[str, str]]) -> set[str]:
    """The facts whose value differs between the two columns (marked on the page)."""
    return {name for (name, a), (_n, b) in zip(left, right, strict=True) if a != b}


def problem_text(kind: str, position: int) -> str:
    text = VERIFICATION_PROBLEMS.get(kind, "Die Prüfung hat einen Fehler gefunden.")
    return f"{text} (Position {position})"


def local_time(text: str) -> datetime | None:
    """A ``datetime-local`` field's value, read as German local time."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TIME)


# ------------------------------------------------------------------ helpers


def _organisations(runtime: Runtime) -> dict[str, str]:
    """Names of organisations (``names.organisation_names``), programmes and modules."""
    config = runtime.configuration
    return {
        **organisation_names(config),
        **{p.id: p.name for p in config.programmes.values()},
        **{code: f"{code} – {name}" for code, name in _modules(runtime).items()},  # noqa: RUF001
    }


def _modules(runtime: Runtime) -> dict[str, str]:
    return {
        m.code: m.name
        for programme in runtime.configuration.programmes.values()
        for m in programme.modules
    }


def _column(
    runtime: Runtime,
    visitor: Visitor,
    participant_id: UUID,
    as_of: date | None,
    known_at: datetime | None,
) -> dict[str, Any]:
    journeys = runtime.journeys
    principal = visitor.principal
    try:
        replayed = journeys.state_for_reading(
            principal, participant_id, as_of=as_of, known_at=known_at
        )
    except ParticipantNotFoundError as e:
        if e.rule != "not-yet-registered":
            raise
        return {"missing": rule_label(e.rule), "facts": [], "entries": []}
    _participant, events = journeys.history_for_reading(principal, participant_id, known_at)
    organisations = _organisations(runtime)
    return {
        "missing": None,
        "facts": state_facts(participant_public(replayed.participant), _modules(runtime)),
        "entries": [
            entry_view(e, organisations)
            for e in history_entries(known_events(events, known_at), as_of=as_of)
        ],
        "corrections": len(replayed.applied_corrections),
    }


# -------------------------------------------------------------------- pages


@router.get("/pruefung")
async def audit_page(
    request: Request,
    runtime: RuntimeDep,
    visitor: SignedIn,
    teilnehmende: str | None = None,
    stichtag: str | None = None,
    kenntnisstand: str | None = None,
) -> Response:
    principal = visitor.principal
    check_may_audit(principal)
    values = {
        "teilnehmende": (teilnehmende or "").strip()[:40],
        "stichtag": (stichtag or "").strip()[:10],
        "kenntnisstand": (kenntnisstand or "").strip()[:19],
    }
    errors: dict[str, str] = {}
    comparison: dict[str, Any] | None = None
    if values["teilnehmende"]:
        try:
            participant_id = UUID(values["teilnehmende"])
        except ValueError:
            errors["teilnehmende"] = "Bitte die Kennung der Person angeben (wie in ihrer Adresse)."
        try:
            as_of = date.fromisoformat(values["stichtag"]) if values["stichtag"] else None
        except ValueError:
            errors["stichtag"] = "Bitte ein gültiges Datum angeben (TT.MM.JJJJ)."
        try:
            known_at = local_time(values["kenntnisstand"])
        except ValueError:
            errors["kenntnisstand"] = "Bitte einen gültigen Zeitpunkt angeben."
        if not values["kenntnisstand"] and "kenntnisstand" not in errors:
            errors["kenntnisstand"] = "Bitte den Kenntnisstand angeben, mit dem verglichen wird."
        if not errors:
            today = await run_in_threadpool(_column, runtime, visitor, participant_id, as_of, None)
            then = await run_in_threadpool(
                _column, runtime, visitor, participant_id, as_of, known_at
            )
            # Both columns were read: one entry each in the read-access log, as the API's.
            await ReadAccess(runtime, request, principal).record_async(participant_id)
            comparison = {
                "as_of": as_of,
                "known_at": known_at,
                "today": today,
                "then": then,
                "differs": differing(today["facts"], then["facts"])
                if today["facts"] and then["facts"]
                else set(),
            }
    return render(
        request,
        "audit.html",
        {
            "values": values,
            "errors": errors,
            "comparison": comparison,
            "may_export": _may_export(visitor),
            "municipalities": [
                (m.id, m.name) for m in runtime.configuration.municipalities.values()
            ],
        },
        status_code=422 if errors else 200,
    )


def _may_export(visitor: Visitor) -> bool:
    try:
        check_may_export(visitor.principal)
    except DomainError:
        return False
    return True


@router.get("/pruefung/integritaet")
async def verification_page(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    """Recompute the hash chain and check the signed checkpoints, as ``GET /audit/verify``."""
    check_may_audit(visitor.principal)
    report = await verify_chain(runtime)
    first = report.first_problem
    return render(
        request,
        "audit_verification.html",
        {
            "ok": report.ok,
            "verified": report.verified,
            "head": report.head,
            "checkpoints": report.checkpoints_checked,
            "problem": problem_text(first.kind, first.position) if first else None,
            "problems": len(report.problems),
        },
    )


@router.post("/pruefung/export")
async def export_bundle(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    """A pseudonymised, signed bundle of the participants asked for, as a download."""
    principal = visitor.principal
    check_may_export(principal)
    form = await request.form()
    raw_participant = form_text(form, "teilnehmende", 40)
    municipality = form_text(form, "kommune", 64) or None
    errors: dict[str, str] = {}
    participant: UUID | None = None
    if raw_participant:
        try:
            participant = UUID(raw_participant)
        except ValueError:
            errors["export_teilnehmende"] = "Bitte die Kennung der Person angeben."
    if municipality is not None and municipality not in runtime.configuration.municipalities:
        errors["export_kommune"] = rule_label("unknown-municipality") or ""
    if participant is None and municipality is None and not errors:
        errors["export_teilnehmende"] = "Bitte eine Person oder eine Kommune wählen."
    chosen: list[UUID] = []
    criteria = Criteria(participant=participant, municipality=municipality)
    exporter = None
    if not errors:
        exporter, chosen = await run_in_threadpool(
            participants_to_export, runtime, principal, criteria
        )
        if not chosen:
            errors["export_teilnehmende"] = (
                "Keine Person in Ihrem Zuständigkeitsbereich passt zu dieser Auswahl."
            )
    if errors or exporter is None:
        return render(
            request,
            "audit.html",
            {
                "values": {"teilnehmende": "", "stichtag": "", "kenntnisstand": ""},
                "errors": errors,
                "comparison": None,
                "may_export": True,
                "municipalities": [
                    (m.id, m.name) for m in runtime.configuration.municipalities.values()
                ],
            },
            status_code=422,
        )
    # Logged (durably) before the bundle exists: once written, it is disclosed.
    await ReadAccess(runtime, request, principal).record_many_async(chosen)
    target = Path(tempfile.mkdtemp(prefix="lotse-export-")) / "bundle.zip"
    try:
        await run_in_threadpool(exporter.export, criteria, chosen, target)
    except (ExportError, SigningKeyError):
        _remove(target)
        return render(
            request,
            "error.html",
            {
                "status": 503,
                "message": "Das Prüfpaket konnte nicht erstellt und signiert werden."
                " Bitte wenden Sie sich an die Administration.",
                "reload": False,
            },
            status_code=503,
        )
    except AccessLogUnavailableError:
        _remove(target)
        raise
    return FileResponse(
        target,
        media_type="application/zip",
        filename="lotse-pruefpaket.zip",
        headers=dict(PAGE_HEADERS),
        background=BackgroundTask(_remove, target),
    )


def _remove(target: Path) -> None:
    target.unlink(missing_ok=True)
    target.parent.rmdir()
