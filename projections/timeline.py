"""Read model ``timeline``: one row per event, the audit trail a person can read.

Summaries name what happened and which fields changed, never identifying values,
so the timeline holds no personal identifiers and needs no change on erasure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from lotse.domain.classification import identifying_fields
from lotse.domain.labels import VOCABULARY, event_label, field_label
from lotse.domain.vocabulary import (
    Certificate,
    ContactMode,
    Destination,
    DuplicateDismissalReason,
    EmploymentType,
    EndReason,
    ErasureMode,
    ExitReason,
    LanguageCourseType,
    LanguageLevel,
    ModuleExitReason,
    ReferralEndReason,
    ResidenceStatus,
    TargetGroup,
    WorklistDismissalReason,
    WorklistKind,
)
from lotse.projections.model import Crypto, Projection, Table
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_timeline",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("version", "int NOT NULL"),
        ("position", "bigint NOT NULL"),
        ("type", "text NOT NULL"),
        ("effective_date", "date NOT NULL"),
        ("recorded_at", "timestamptz NOT NULL"),
        ("recorded_by", "text NOT NULL"),
        ("recorded_role", "text NOT NULL"),
        ("organisation", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("summary", "text NOT NULL"),
        ("corrects_version", "int"),
        ("corrected_by", "int[] NOT NULL"),
    ),
    primary_key=("participant_id", "version"),
    indexes=("municipality, provider", "position"),
)


@dataclass
class Timeline:
    participant_id: UUID
    provider: str = ""
    municipality: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: The rows as tuples, as ``rows()`` last returned them; ``stale`` once an
    #: earlier row changed (a correction, a transfer): then all are built again.
    tuples: list[tuple[Any, ...]] = field(default_factory=list)
    stale: bool = False


def _value(enum: type[StrEnum], value: Any) -> str:
    """A vocabulary value's German label (the code itself for a value not yet labelled)."""
    return VOCABULARY[enum].get(value, str(value)) if value is not None else "–"  # noqa: RUF001


def _hours(value: Any) -> str:
    """Hours as Germans write them: 7,5 (a decimal comma, no trailing zeros)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f").replace(".", ",")
    return str(value)


def _ended(d: dict[str, Any]) -> str:
    return f"Grund: {_value(EndReason, d['reason'])}"


def _correction(d: dict[str, Any]) -> str:
    # The fields by their German labels (what a person reads), not the schema's names.
    fields = ", ".join(sorted(field_label(name) for name in d["changes"]))
    corrected = event_label(d["corrected_type"])
    return f"Eintrag {d['corrects_version']} ({corrected}) korrigiert: {fields}"


def _void(d: dict[str, Any]) -> str:
    voided = event_label(d["voided_type"])
    if d["voids_version"] == 1:
        return "Aufnahme für ungültig erklärt (doppelt erfasst): die Person zählt nirgends"
    return f"Eintrag {d['voids_version']} ({voided}) für ungültig erklärt"


#: Appended to the summary of an entry that was voided: the row stays, marked.
VOIDED_MARK = " (für ungültig erklärt)"


#: What each event says in the timeline, in German and without identifying values
#: (those are sealed and never reach this read model). One entry per event type:
#: ``tests/unit/test_event_catalogue.py`` fails for a type without one.
SUMMARIES: dict[str, Callable[[dict[str, Any]], str]] = {
    "Registered": lambda d: f"aufgenommen beim Träger {d['provider']} ({d['programme']})",
    "EligibilityAssessed": lambda d: (
        ("förderberechtigt" if d["eligible"] else "nicht förderberechtigt")
        + f", Zielgruppe {_value(TargetGroup, d['target_group'])}"
        + f" (Regeln {d['rule_version']})"
    ),
    "ConsentGiven": lambda d: f"Einwilligung erteilt (Fassung {d['consent_version']})",
    "ConsentWithdrawn": lambda d: "Einwilligung widerrufen",
    "CaseTransferred": lambda d: (
        f"übergeben von {d['from_provider']} an {d['to_provider']} ({d['to_municipality']})"
    ),
    "ReferralMade": lambda d: (
        f"vermittelt an {d['provider']} für {d['module']}"
        f" (Einwilligung Fassung {d['consent_version']})"
    ),
    "ReferralAccepted": lambda d: "Vermittlung angenommen",
    "ReferralEnded": lambda d: f"Vermittlung beendet: {_value(ReferralEndReason, d['reason'])}",
    "LanguageLevelAssessed": lambda d: f"Sprachstand {_value(LanguageLevel, d['level'])}",
    "ModuleEntered": lambda d: f"Eintritt in {d['module']}",
    "ModuleExited": lambda d: (
        f"Austritt aus {d['module']}: {_value(ModuleExitReason, d['reason'])}"
    ),
    "CaseAssigned": lambda d: f"Zuständig: {d['assignee']}",
    "CaseUnassigned": lambda d: f"Nicht mehr zuständig: {d['assignee']}",
    "CoachingContactLogged": lambda d: (
        f"Coaching {d['minutes']} Minuten, {_value(ContactMode, d['mode'])}"
        + (", von der Person bestätigt" if d["confirmed_by_participant"] else "")
    ),
    "CourseAttendanceRecorded": lambda d: (
        f"{d['module']}: {_hours(d['lesson_hours'])} Unterrichtsstunden gehalten, "
        f"{_hours(d['lesson_hours_attended'])} besucht"
    ),
    "LanguageCourseStarted": lambda d: (
        f"{_value(LanguageCourseType, d['course_type'])} begonnen"
        + (f", Ziel {d['target_level']}" if d.get("target_level") else "")
    ),
    "LanguageCourseCompleted": lambda d: (
        f"{_value(LanguageCourseType, d['course_type'])} abgeschlossen"
        + (f", erreicht {d['achieved_level']}" if d.get("achieved_level") else "")
    ),
    "CertificateObtained": lambda d: (
        _value(Certificate, d["certificate"]) + (f" ({d['level']})" if d.get("level") else "")
    ),
    "InternshipStarted": lambda d: "Praktikum begonnen",
    "InternshipEnded": lambda d: "Praktikum beendet, " + _ended(d),
    "EntryQualificationStarted": lambda d: "EQ begonnen",
    "EntryQualificationEnded": lambda d: "EQ beendet, " + _ended(d),
    "ApprenticeshipStarted": lambda d: "Ausbildung begonnen",
    "ApprenticeshipAborted": lambda d: "Ausbildung abgebrochen, " + _ended(d),
    "ApprenticeshipCompleted": lambda d: (
        "Ausbildung abgeschlossen"
        + (", Prüfung bestanden" if d["passed_exam"] else ", Prüfung nicht bestanden")
    ),
    "EmploymentStarted": lambda d: (
        f"Beschäftigung begonnen ({_value(EmploymentType, d['employment_type'])}, "
        f"{_hours(d['hours_per_week'])} Std./Woche)"
    ),
    "EmploymentEnded": lambda d: "Beschäftigung beendet, " + _ended(d),
    "ResidenceStatusChanged": lambda d: (
        f"Aufenthaltsstatus: {_value(ResidenceStatus, d['status'])}"
        + (f", gültig bis {d['valid_until']:%d.%m.%Y}" if d.get("valid_until") else "")
    ),
    "Exited": lambda d: (
        f"Austritt: {_value(ExitReason, d['reason'])}, "
        f"Verbleib {_value(Destination, d['destination'])}"
    ),
    "FollowUpRecorded": lambda d: (
        f"Verbleib nach {d['months_after_exit']} Monaten: {_value(Destination, d['destination'])}"
    ),
    "WorklistItemDismissed": lambda d: (
        f"Wiedervorlage verworfen: {_value(WorklistKind, d['kind'])}"
        f" (fällig {d['due_date']:%d.%m.%Y}), {_value(WorklistDismissalReason, d['reason'])}"
    ),
    # The other participant stays unnamed: its id may belong to another provider.
    "DuplicatesLinked": lambda _d: "als dieselbe Person wie eine andere Erfassung bestätigt",
    "DuplicatesDismissed": lambda d: (
        f"mögliche Doppelerfassung verworfen: {_value(DuplicateDismissalReason, d['reason'])}"
    ),
    "Reentered": lambda d: (
        f"erneut aufgenommen am {d['intake_date']:%d.%m.%Y} (neuer Förderzeitraum)"
    ),
    "EntryCorrected": _correction,
    "EntryVoided": _void,
    "PersonalDataErased": lambda d: (
        "personenbezogene Daten gelöscht"
        if d["mode"] == ErasureMode.SHRED
        else "Verarbeitung eingeschränkt (Art. 18 DSGVO)"
    ),
}


def summarise(event: EventRecord) -> str:
    """The event in the timeline's words (German, no identifying values).

    Identifying fields are left out by classification, not by being sealed: events
    recorded before a field became identifying (``occupation``) hold it in clear.
    """
    summary = SUMMARIES.get(event.type)
    if summary is None:
        return event_label(event.type)
    hidden = identifying_fields(event.type)
    shown = {k: v for k, v in event.data.items() if k not in hidden}
    return summary(shown).strip()


class TimelineProjection(Projection[Timeline]):
    name = "timeline"
    tables = (TABLE,)
    # The audit trail: each entry as recorded, the correction as a row beside it.
    folds_corrected_history = False
    # One row per event; a correction or a transfer changes earlier rows, and the
    # runner then writes them all again.
    appends_rows = True

    def empty(self, participant_id: UUID) -> Timeline:
        return Timeline(participant_id)

    def apply(self, state: Timeline, event: EventRecord, identifiers: dict[str, Any]) -> Timeline:
        d = event.data
        if event.type == "Registered":
            state.provider, state.municipality = d["provider"], d["municipality"]
        elif event.type == "CaseTransferred":
            state.provider, state.municipality = d["to_provider"], d["to_municipality"]
            state.stale = True
        corrects = d.get("corrects_version") if event.type == "EntryCorrected" else None
        if event.type == "EntryVoided":
            # The void is linked like a correction; the voided row says so.
            corrects = d["voids_version"]
        if corrects is not None:
            for row in state.rows:
                if row["version"] == corrects:
                    row["corrected_by"] = [*row["corrected_by"], event.version]
                    if event.type == "EntryVoided":
                        row["summary"] += VOIDED_MARK
                    state.stale = True
        state.rows.append(
            {
                "participant_id": event.participant_id,
                "version": event.version,
                "position": event.position,
                "type": event.type,
                "effective_date": event.effective_date,
                "recorded_at": event.recorded_at,
                "recorded_by": event.recorded_by,
                "recorded_role": event.recorded_role,
                "organisation": event.organisation,
                "provider": state.provider,
                "municipality": state.municipality,
                "summary": summarise(event),
                "corrects_version": corrects,
                "corrected_by": [],
            }
        )
        return state

    def rows(self, state: Timeline, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        # Every row carries the participant's current provider, for scoping. Rows
        # before the last call are built again only when one of them changed: live,
        # a batch adds a row or two to a history of a hundred.
        if state.stale:
            state.tuples.clear()
            state.stale = False
        added = state.rows[len(state.tuples) :]
        for row in added:
            row["provider"], row["municipality"] = state.provider, state.municipality
        state.tuples.extend(map(TABLE.row_of, added))
        # A copy: the runner keeps what it wrote, and ``tuples`` grows on.
        return {TABLE.name: list(state.tuples)}


async def query_timeline(conn: Any, participant_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT * FROM {TABLE.name} WHERE participant_id = $1 ORDER BY version", participant_id
    )
    return [dict(r) for r in rows]


async def query_recorded_by(conn: Any, participant_id: UUID, organisation: str) -> bool:
    """Did ``organisation`` record any entry of this participant (a former or referred
    provider reads its own entries)?"""
    found = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {TABLE.name} "
        "WHERE participant_id = $1 AND organisation = $2)",
        participant_id,
        organisation,
    )
    return bool(found)


async def query_placement(conn: Any, participant_id: UUID) -> tuple[str, str] | None:
    """The participant's current (provider, municipality): its latest row's, for the scope check.

    One row by the primary key, whatever the length of the history, so that the
    scope check costs the same for a participant out of scope as for an unknown id.
    """
    row = await conn.fetchrow(
        f"SELECT provider, municipality FROM {TABLE.name} "
        "WHERE participant_id = $1 ORDER BY version DESC LIMIT 1",
        participant_id,
    )
    return (row["provider"], row["municipality"]) if row is not None else None
