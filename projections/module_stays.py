"""Read model ``module_stays``: one row per stay in a funding module.

The basis of entries (Eintritte), exits (Austritte) and stock (Bestand): a stay
counts for the provider and municipality that ran it when it began.

A transfer to another municipality (``CaseTransferred``) moves the open stays with
the person from the transfer date on: each open stay ends there for the old
municipality (exit reason ``transferred``) and goes on as a new stay in the new
one from the same day. The old municipality keeps its past figures (its entries,
and its stock up to the transfer); the new one counts an entry on the transfer
date. A transfer between providers of one municipality leaves the stays as they
are: the municipality's figures do not change.

A stay entered by a provider the participant was referred to for that module (an
accepted referral) counts for that provider, in the participant's municipality:
the Volkshochschule that runs the F4 stay sees it in its own figures.

Each stay carries the person's state on its first day, by effective date (as the
read model ``person_facts`` has it): the age band, the residence status and the
language level (none before the first assessment). The monitoring report describes
its entries by that state; joining ``person_facts`` per stay and request instead
was most of the statewide report's time. A change recorded late but dated on or
before an entry changes the stay's row, since the fold sees the whole history.
(Until 2026-12-03 this model was ``module_spans``, with the age band at intake and
the residence status as last recorded before the entry.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lotse.domain.vocabulary import ModuleExitReason
from lotse.projections.model import Crypto, Projection, Table, follow_participant
from lotse.projections.person_facts import (
    LANGUAGE_LEVEL,
    RESIDENCE_STATUS,
    Fact,
    age_band_at,
    record_fact,
    value_at,
)
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_module_stays",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("entered_version", "int NOT NULL"),
        ("module", "text NOT NULL"),
        ("programme", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("entered", "date NOT NULL"),
        ("exited", "date"),
        ("exit_reason", "text"),
        ("exited_version", "int"),
        ("gender", "text NOT NULL"),
        ("nationality", "text NOT NULL"),
        # The state on the stay's first day (see above).
        ("age_band", "text"),
        ("residence_status", "text"),
        ("language_level", "text"),
    ),
    # A transfer continues several open stays at once, all from its own version.
    primary_key=("participant_id", "entered_version", "module"),
    indexes=("municipality, module, entered", "provider, module"),
)


@dataclass
class Spans:
    participant_id: UUID
    context: dict[str, Any] = field(default_factory=dict)
    spans: list[dict[str, Any]] = field(default_factory=list)
    #: referral id -> (receiving provider, module), as made.
    referrals: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: (provider, module) of the accepted referrals not ended.
    accepted: set[tuple[str, str]] = field(default_factory=set)
    #: The person's facts with their effective dates (``person_facts``).
    facts: list[Fact] = field(default_factory=list)


def _stay(ctx: dict[str, Any], event: EventRecord, module: str) -> dict[str, Any]:
    """A stay beginning with ``event`` (an entry, or a transfer it continues through)."""
    return {
        **{
            k: ctx[k]
            for k in (
                "programme",
                "provider",
                "municipality",
                "gender",
                "nationality",
            )
        },
        "participant_id": event.participant_id,
        "entered_version": event.version,
        "module": module,
        "entered": event.effective_date,
        "exited": None,
        "exit_reason": None,
        "exited_version": None,
    }


class ModuleStays(Projection[Spans]):
    name = "module_stays"
    tables = (TABLE,)

    def empty(self, participant_id: UUID) -> Spans:
        return Spans(participant_id)

    def apply(self, state: Spans, event: EventRecord, identifiers: dict[str, Any]) -> Spans:

        d, ctx = event.data, state.context
        follow_participant(ctx, event)
        record_fact(state.facts, event)
        if event.type == "ModuleEntered":
            stay = _stay(ctx, event, d["module"])
            if (event.organisation, d["module"]) in state.accepted:
                stay["provider"] = event.organisation  # run by the referred provider
            state.spans.append(stay)
        elif event.type == "CaseTransferred" and d["from_municipality"] != d["to_municipality"]:
            moved = [s for s in state.spans if s["exited"] is None]
            for span in moved:
                span.update(
                    exited=event.effective_date,
                    exit_reason=ModuleExitReason.TRANSFERRED.value,
                    exited_version=event.version,
                )
            # ``ctx`` already names the new municipality and provider; a stay run by a
            # referred provider stays with it while the referral lasts.
            for span in moved:
                stay = _stay(ctx, event, span["module"])
                if (span["provider"], span["module"]) in state.accepted:
                    stay["provider"] = span["provider"]
                state.spans.append(stay)
        elif event.type == "ReferralMade":
            state.referrals[d["referral_id"]] = (d["provider"], d["module"])
        elif event.type == "ReferralAccepted" and d["referral_id"] in state.referrals:
            state.accepted.add(state.referrals[d["referral_id"]])
        elif event.type == "ReferralEnded" and d["referral_id"] in state.referrals:
            state.accepted.discard(state.referrals[d["referral_id"]])
        elif event.type == "ModuleExited":
            for span in state.spans:
                if span["module"] == d["module"] and span["exited"] is None:
                    span.update(
                        exited=event.effective_date,
                        exit_reason=d["reason"],
                        exited_version=event.version,
                    )
        return state

    def rows(self, state: Spans, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        facts = state.facts
        rows = []
        for span in state.spans:
            day = span["entered"]
            at_entry = {
                "age_band": age_band_at(facts, day),
                "residence_status": value_at(facts, RESIDENCE_STATUS, day),
                "language_level": value_at(facts, LANGUAGE_LEVEL, day),
            }
            rows.append(TABLE.row_of(span | at_entry))
        return {TABLE.name: rows}
