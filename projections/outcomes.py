"""Read model ``outcomes``: where participants went, at exit and at each follow-up.

One row per ``Exited`` and per ``FollowUpRecorded``, with the modules the person
had been in, so outcomes can be reported by module ("with what success").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lotse.projections.model import Crypto, Projection, Table, follow_participant
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_outcomes",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("version", "int NOT NULL"),
        ("kind", "text NOT NULL"),
        ("effective_date", "date NOT NULL"),
        ("destination", "text NOT NULL"),
        ("exit_reason", "text"),
        ("months_after_exit", "int"),
        ("programme", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("modules", "text[] NOT NULL"),
        ("gender", "text NOT NULL"),
        ("age_band", "text NOT NULL"),
    ),
    primary_key=("participant_id", "version"),
    indexes=("municipality, kind, effective_date", "provider, kind"),
)


@dataclass
class Outcomes:
    participant_id: UUID
    context: dict[str, Any] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)
    rows: list[dict[str, Any]] = field(default_factory=list)


class OutcomesProjection(Projection[Outcomes]):
    name = "outcomes"
    tables = (TABLE,)

    def empty(self, participant_id: UUID) -> Outcomes:
        return Outcomes(participant_id)

    def apply(self, state: Outcomes, event: EventRecord, identifiers: dict[str, Any]) -> Outcomes:
        d, ctx = event.data, state.context
        follow_participant(ctx, event)
        if event.type == "ModuleEntered":
            state.modules.add(d["module"])
        elif event.type == "Reentered":
            # A new enrolment period: its outcome is the success of its own modules.
            state.modules = set()
        elif event.type in ("Exited", "FollowUpRecorded"):
            exited = event.type == "Exited"
            state.rows.append(
                {
                    **ctx,
                    "participant_id": event.participant_id,
                    "version": event.version,
                    "kind": "exit" if exited else "follow_up",
                    "effective_date": event.effective_date,
                    "destination": d["destination"],
                    "exit_reason": d["reason"] if exited else None,
                    "months_after_exit": None if exited else d["months_after_exit"],
                    "modules": sorted(state.modules),
                }
            )
        return state

    def rows(self, state: Outcomes, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        return {TABLE.name: [TABLE.row_of(r) for r in state.rows]}
