"""Read model ``outcomes``: where participants went, at exit and at each follow-up.

One row per ``Exited`` and per ``FollowUpRecorded``, with the modules it is
attributed to (``projections.attribution``: the stays open at the outcome's
effective date, or else ended last before it), so outcomes can be reported by
module ("with what success").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lotse.projections.attribution import Stays
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
    stays: Stays = field(default_factory=Stays)
    rows: list[dict[str, Any]] = field(default_factory=list)


class OutcomesProjection(Projection[Outcomes]):
    name = "outcomes"
    tables = (TABLE,)

    def empty(self, participant_id: UUID) -> Outcomes:
        return Outcomes(participant_id)

    def apply(self, state: Outcomes, event: EventRecord, identifiers: dict[str, Any]) -> Outcomes:
        d, ctx = event.data, state.context
        follow_participant(ctx, event)
        state.stays.follow(event)
        if event.type in ("Exited", "FollowUpRecorded"):
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
                }
            )
        return state

    def rows(self, state: Outcomes, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        # The modules are attributed when the rows are built, from the stays as they
        # stand now: an entry recorded late changes the outcomes it precedes.
        return {
            TABLE.name: [
                TABLE.row_of({**r, "modules": state.stays.modules_at(r["effective_date"])})
                for r in state.rows
            ]
        }
