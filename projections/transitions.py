"""Read model ``transitions``: apprenticeships and employments started, aborted, ended.

The outcome report counts apprenticeships started and aborted and employment by
type (regular, marginal, self-employed) in a period; exits alone do not show an
apprenticeship begun and aborted during the programme. One row per such event,
with the modules it is attributed to (``projections.attribution``), so outcomes can
be reported by module ("with what success").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lotse.projections.attribution import Stays
from lotse.projections.model import Crypto, Projection, Table, follow_participant
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_transitions",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("version", "int NOT NULL"),
        ("position", "bigint NOT NULL"),
        ("kind", "text NOT NULL"),
        ("effective_date", "date NOT NULL"),
        ("employment_type", "text"),
        ("hours_per_week", "numeric"),
        ("programme", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("modules", "text[] NOT NULL"),
    ),
    primary_key=("participant_id", "version"),
    indexes=("programme, municipality, effective_date",),
)

KINDS = {
    "ApprenticeshipStarted": "apprenticeship_started",
    "ApprenticeshipAborted": "apprenticeship_aborted",
    "ApprenticeshipCompleted": "apprenticeship_completed",
    "EmploymentStarted": "employment_started",
    "EmploymentEnded": "employment_ended",
}


@dataclass
class Transitions:
    participant_id: UUID
    context: dict[str, Any] = field(default_factory=dict)
    stays: Stays = field(default_factory=Stays)
    employment: tuple[str, Any] | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


class TransitionsProjection(Projection[Transitions]):
    name = "transitions"
    tables = (TABLE,)

    def empty(self, participant_id: UUID) -> Transitions:
        return Transitions(participant_id)

    def apply(
        self, state: Transitions, event: EventRecord, identifiers: dict[str, Any]
    ) -> Transitions:
        d, ctx = event.data, state.context
        follow_participant(ctx, event)
        state.stays.follow(event)
        if event.type in KINDS:
            if event.type == "EmploymentStarted":
                state.employment = (d["employment_type"], d["hours_per_week"])
            employment = state.employment if event.type.startswith("Employment") else None
            if event.type == "EmploymentEnded":
                state.employment = None
            state.rows.append(
                {
                    **ctx,
                    "participant_id": event.participant_id,
                    "version": event.version,
                    "position": event.position,
                    "kind": KINDS[event.type],
                    "effective_date": event.effective_date,
                    "employment_type": employment[0] if employment else None,
                    "hours_per_week": employment[1] if employment else None,
                }
            )
        return state

    def rows(self, state: Transitions, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        # Attributed when the rows are built, as in ``outcomes``.
        return {
            TABLE.name: [
                TABLE.row_of({**r, "modules": state.stays.modules_at(r["effective_date"])})
                for r in state.rows
            ]
        }
