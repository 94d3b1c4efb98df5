"""Read model ``units``: the counted units behind flat-rate payments, one row per event.

Financial evidence (Verwendungsnachweis) multiplies counted units by the flat rates
of the programme: lesson hours held in a course (P4: per lesson hour in F4) and
coaching contacts. An auditor must be able to trace every total to the events it
sums, so each row keeps the event's participant, version and notification
position, and, once corrected, the version of the correction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lotse.projections.model import Crypto, Projection, Table, follow_participant
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_units",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("version", "int NOT NULL"),
        ("position", "bigint NOT NULL"),
        ("kind", "text NOT NULL"),
        ("effective_date", "date NOT NULL"),
        ("programme", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("module", "text NOT NULL"),
        ("lesson_hours", "numeric"),
        ("lesson_hours_attended", "numeric"),
        ("minutes", "int"),
        ("mode", "text"),
        ("confirmed", "boolean"),
        ("corrected_by_version", "int"),
    ),
    primary_key=("participant_id", "version"),
    indexes=("programme, provider, effective_date", "programme, municipality, effective_date"),
)

LESSONS = "lesson_hours"
COACHING = "coaching_contact"
#: The events whose rows this model keeps, and whose corrections it marks.
COUNTED = frozenset({"CourseAttendanceRecorded", "CoachingContactLogged"})
#: Coaching contacts carry no module: coaching is module F1 by definition.
COACHING_MODULE = "F1"


@dataclass
class Units:
    participant_id: UUID
    context: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


class UnitsProjection(Projection[Units]):
    name = "units"
    tables = (TABLE,)
    # A corrected date, module or number of hours refolds: the row then shows the
    # corrected values and names the correction.

    def empty(self, participant_id: UUID) -> Units:
        return Units(participant_id)

    def apply(self, state: Units, event: EventRecord, identifiers: dict[str, Any]) -> Units:
        d, ctx = event.data, state.context
        follow_participant(ctx, event)
        if event.type not in COUNTED and event.type != "EntryCorrected":
            return state  # most events: nothing counted here
        base = {
            "participant_id": event.participant_id,
            "version": event.version,
            "position": event.position,
            "effective_date": event.effective_date,
            "lesson_hours": None,
            "lesson_hours_attended": None,
            "minutes": None,
            "mode": None,
            "confirmed": None,
            "corrected_by_version": None,
        }
        if event.type == "CourseAttendanceRecorded":
            state.rows.append(
                {
                    **ctx,
                    **base,
                    "kind": LESSONS,
                    "module": d["module"],
                    "lesson_hours": d["lesson_hours"],
                    "lesson_hours_attended": d["lesson_hours_attended"],
                }
            )
        elif event.type == "CoachingContactLogged":
            state.rows.append(
                {
                    **ctx,
                    **base,
                    "kind": COACHING,
                    "module": COACHING_MODULE,
                    "minutes": d["minutes"],
                    "mode": d["mode"],
                    "confirmed": d["confirmed_by_participant"],
                }
            )
        elif event.type == "EntryCorrected" and d["corrected_type"] in COUNTED:
            # The runner refolded with the correction substituted; mark the row.
            for row in state.rows:
                if row["version"] == d["corrects_version"]:
                    row["corrected_by_version"] = event.version
        return state

    def rows(self, state: Units, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        return {TABLE.name: [TABLE.row_of(r) for r in state.rows]}
