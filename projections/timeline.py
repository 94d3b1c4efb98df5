"""Read model ``timeline``: one row per event, the audit trail a person can read.

Summaries name what happened and which fields changed, never identifying values,
so the timeline holds no personal identifiers and needs no change on erasure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.classification import identifying_fields
from projections.model import Crypto, Projection, Table
from projections.records import EventRecord

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


def summarise(event: EventRecord) -> str:
    """A short German/English-neutral description without identifying values."""
    d = event.data
    match event.type:
        case "Registered":
            return f"registered with {d['provider']} ({d['programme']})"
        case "EligibilityAssessed":
            verdict = "eligible" if d["eligible"] else "not eligible"
            return (
                f"eligibility assessed: {verdict}, target group {d['target_group']} "
                f"(rules {d['rule_version']})"
            )
        case "ConsentGiven":
            return f"consent given (text version {d['consent_version']})"
        case "ConsentWithdrawn":
            return "consent withdrawn"
        case "CaseTransferred":
            return f"case transferred from {d['from_provider']} to {d['to_provider']}"
        case "LanguageLevelAssessed":
            return f"language level assessed: {d['level']}"
        case "ModuleEntered":
            return f"entered module {d['module']}"
        case "ModuleExited":
            return f"left module {d['module']} ({d['reason']})"
        case "CoachingContactLogged":
            confirmed = ", confirmed" if d["confirmed_by_participant"] else ""
            return f"coaching contact, {d['minutes']} min, {d['mode']}{confirmed}"
        case "CourseAttendanceRecorded":
            return (
                f"{d['module']}: {d['lesson_hours']} lesson hours held, "
                f"{d['lesson_hours_attended']} attended"
            )
        case "Exited":
            return f"exited ({d['reason']}), destination {d['destination']}"
        case "FollowUpRecorded":
            return f"follow-up after {d['months_after_exit']} months: {d['destination']}"
        case "EntryCorrected":
            fields = ", ".join(sorted(d["changes"]))
            return f"corrected entry {d['corrects_version']} ({d['corrected_type']}): {fields}"
        case "PersonalDataErased":
            return "personal data erased" if d["mode"] == "shred" else "processing restricted"
        case "ResidenceStatusChanged":
            return f"residence status changed to {d['status']}"
        case "EmploymentStarted":
            return f"employment started ({d['employment_type']}, {d['hours_per_week']} h/week)"
    # The remaining milestones read well from their name and statistical fields.
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in event.type).strip()
    # Identifying fields are left out by classification, not by being sealed: events
    # recorded before a field became identifying hold it in clear.
    hidden = identifying_fields(event.type)
    details = ", ".join(
        f"{k} {v}" for k, v in sorted(d.items()) if k not in hidden and v is not None
    )
    return f"{words} ({details})" if details else words


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
        if corrects is not None:
            for row in state.rows:
                if row["version"] == corrects:
                    row["corrected_by"] = [*row["corrected_by"], event.version]
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
