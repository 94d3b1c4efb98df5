"""Read model ``person_facts``: a participant's characteristics with the dates they hold.

The monitoring report describes its entries by the state at entry and its stock by
the state at the reporting date: a residence status changed to Ausbildungsduldung
(§ 60c) during the year shows in the stock, not in the entries before it. So the
report needs each characteristic with the period it held, not only the latest one.

One row per recorded value: the residence status (at registration, and every
``ResidenceStatusChanged``), the language level (every ``LanguageLevelAssessed``)
and the age at intake (``Registered``). A value holds from its effective date
(``valid_from``) until the next value of the same kind takes effect (``valid_to``,
exclusive; none for the current one). The order is the effective date, then the
recording order among values of the same day: a change recorded late but dated
earlier takes its place in time, so the state at a date does not depend on the
order in which entries were typed.

Age is the one fact stored as of a date: the exact birth date is identifying and
never leaves the participant's record, so the age at a date is the age at intake
plus the full years since the intake date (``age_at``), exact to the intake's
anniversary, never more than a year off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from lotse.projections.model import Crypto, Projection, Table, age_band
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_person_facts",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("version", "int NOT NULL"),
        ("kind", "text NOT NULL"),
        ("valid_from", "date NOT NULL"),
        ("valid_to", "date"),
        ("value", "text NOT NULL"),
    ),
    primary_key=("participant_id", "kind", "version"),
)

RESIDENCE_STATUS = "residence_status"
LANGUAGE_LEVEL = "language_level"
AGE = "age"


def full_years(since: date, day: date) -> int:
    """Full years from ``since`` to ``day``: the SQL of the monitoring report says the same."""
    return day.year - since.year - int(day.strftime("%m%d") < since.strftime("%m%d"))


Fact = tuple[str, date, int, str]
"""(kind, valid from, version, value), as recorded."""


def record_fact(facts: list[Fact], event: EventRecord) -> None:
    """Add the fact ``event`` records, if it records one (the one definition)."""
    d = event.data
    if event.type == "Registered":
        intake = d["intake_date"]
        facts.append((RESIDENCE_STATUS, intake, event.version, d["residence_status"]))
        facts.append((AGE, intake, event.version, str(d["age_at_intake"])))
    elif event.type == "ResidenceStatusChanged":
        facts.append((RESIDENCE_STATUS, event.effective_date, event.version, d["status"]))
    elif event.type == "LanguageLevelAssessed":
        facts.append((LANGUAGE_LEVEL, event.effective_date, event.version, d["level"]))


def value_at(facts: list[Fact], kind: str, day: date) -> str | None:
    """The value of ``kind`` that holds on ``day``, as the rows' validity ranges say.

    The latest by (valid from, version) among those in effect by then: of two values
    of one day the later recorded holds (the earlier one's range is empty).
    """
    held = [f for f in facts if f[0] == kind and f[1] <= day]
    return max(held, key=lambda f: (f[1], f[2]))[3] if held else None


def age_band_at(facts: list[Fact], day: date) -> str | None:
    """The age band on ``day``: the age at intake plus the full years since (see above)."""
    ages = [f for f in facts if f[0] == AGE]
    if not ages:
        return None
    _, intake, _, age = ages[0]
    return age_band(int(age) + full_years(intake, day))


@dataclass
class Facts:
    participant_id: UUID
    facts: list[Fact] = field(default_factory=list)


class PersonFacts(Projection[Facts]):
    name = "person_facts"
    tables = (TABLE,)

    def empty(self, participant_id: UUID) -> Facts:
        return Facts(participant_id)

    def apply(self, state: Facts, event: EventRecord, identifiers: dict[str, Any]) -> Facts:
        record_fact(state.facts, event)
        return state

    def rows(self, state: Facts, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        result: list[tuple[Any, ...]] = []
        for kind in (RESIDENCE_STATUS, LANGUAGE_LEVEL, AGE):
            values = sorted((f for f in state.facts if f[0] == kind), key=lambda f: (f[1], f[2]))
            for i, (_, valid_from, version, value) in enumerate(values):
                valid_to = values[i + 1][1] if i + 1 < len(values) else None
                result.append((state.participant_id, version, kind, valid_from, valid_to, value))
        return {TABLE.name: result}
