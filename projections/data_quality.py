"""Read model ``data_quality``: what the data quality report per provider and quarter counts.

Two tables, both without personal data:

- ``rm_data_quality``: one row per participant with the current placement, the
  current enrolment period and the *core fields* still missing (``CORE_FIELDS``).
- ``rm_data_quality_entries``: per participant, quarter of recording, provider and
  delay in days (recording date minus effective date), how many journey entries
  and how many corrections (``EntryCorrected``, ``EntryVoided``) were recorded. A
  quarter's report sums these rows: a histogram of delays per provider, so the
  median needs no row per event (100,000 participants have millions of events).

The model folds the journey as corrected (like every read model of state): a
voided entry is no entry and counts in no delay, a corrected effective date is the
date the delay is measured from, and the correction or void itself counts as a
correction in the quarter it was recorded. A voided registration counts nowhere.

An entry is attributed to the provider that recorded it when a provider's case
worker did (a referred provider records its own modules), otherwise (coordinators'
voids, the Teilhabemanagement, admins) to the provider leading the case then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from lotse.domain.application import PROGRAMME_TIMEZONE
from lotse.projections.corrections import NOT_ENTRIES
from lotse.projections.model import Crypto, Projection, Table
from lotse.projections.records import EventRecord

#: The core fields whose absence the report counts, in the order it lists them:
#: the exact birth date (age limit and duplicates), the expiry of a temporary
#: residence status (the due list's reminder), the eligibility assessment with its
#: target group (the funding rests on it), a consent in force (nothing may be
#: processed beyond the registration without one). Name, gender, nationality and
#: residence status are required at registration and cannot be missing.
CORE_FIELDS = ("birth_date", "residence_valid_until", "eligibility", "consent")

#: Statuses that are granted for a time and end unless renewed: their expiry is core.
TEMPORARY_STATUSES = frozenset(
    {
        "gestattung",
        "duldung",
        "duldung_60b",
        "ausbildungsduldung_60c",
        "beschaeftigungsduldung_60d",
    }
)

CORRECTIONS = frozenset({"EntryCorrected", "EntryVoided"})

PARTICIPANTS = Table(
    name="rm_data_quality",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("programme", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("intake_date", "date NOT NULL"),
        ("exit_date", "date"),
        ("missing", "text[] NOT NULL"),
    ),
    primary_key=("participant_id",),
    indexes=("municipality, provider",),
)

ENTRIES = Table(
    name="rm_data_quality_entries",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("quarter", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("delay_days", "int NOT NULL"),
        ("entries", "int NOT NULL"),
        ("corrections", "int NOT NULL"),
    ),
    primary_key=("participant_id", "quarter", "provider", "municipality", "delay_days"),
    indexes=("quarter, municipality",),
)


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def recorded_on(recorded_at: datetime) -> date:
    """The day of recording where the programme works (a late-evening entry in
    Germany is that day's, not the next UTC day's)."""
    return recorded_at.astimezone(PROGRAMME_TIMEZONE).date()


@dataclass
class Quality:
    participant_id: UUID
    placement: dict[str, Any] = field(default_factory=dict)
    intake_date: date | None = None
    exit_date: date | None = None
    birth_date: bool = False
    residence_status: str | None = None
    residence_expiry: bool = False
    eligibility: bool = False
    consent: bool = False
    erased: bool = False
    #: (quarter, provider, municipality, delay) -> [entries, corrections]
    counts: dict[tuple[str, str, str, int], list[int]] = field(default_factory=dict)


class DataQuality(Projection[Quality]):
    name = "data_quality"
    tables = (PARTICIPANTS, ENTRIES)

    def empty(self, participant_id: UUID) -> Quality:
        return Quality(participant_id)

    def apply(self, state: Quality, event: EventRecord, identifiers: dict[str, Any]) -> Quality:
        s, d, t = state, event.data, event.type
        if t == "Registered":
            s.placement = {"programme": d["programme"], "provider": d["provider"]}
            s.placement["municipality"] = d["municipality"]
            s.intake_date, s.exit_date = d["intake_date"], None
            # Identifying fields are sealed; which of them were given is in clear.
            s.birth_date = "birth_date" in event.sealed_fields
            s.residence_status = d["residence_status"]
            s.residence_expiry = d.get("residence_valid_until") is not None
        elif t == "ResidenceStatusChanged":
            s.residence_status = d["status"]
            s.residence_expiry = d.get("valid_until") is not None
        elif t == "EligibilityAssessed":
            s.eligibility = True
        elif t == "ConsentGiven":
            s.consent = True
        elif t == "ConsentWithdrawn":
            s.consent = False
        elif t == "CaseTransferred":
            s.placement = {
                **s.placement,
                "provider": d["to_provider"],
                "municipality": d["to_municipality"],
            }
        elif t == "Exited":
            s.exit_date = event.effective_date
        elif t == "Reentered":
            # A new enrolment period: eligibility and consent start afresh.
            s.exit_date, s.eligibility, s.consent = None, False, False
        elif t == "EntryCorrected" and d["corrects_version"] == 1:
            # A corrected birth date is sealed too: only whether one is given is seen.
            if "birth_date" in event.sealed_changes:
                s.birth_date = True
            elif "birth_date" in d["changes"]:
                s.birth_date = d["changes"]["birth_date"] is not None
        elif t == "PersonalDataErased":
            s.erased = True
        if s.placement and (t in CORRECTIONS or t not in NOT_ENTRIES):
            self._count(s, event)
        return s

    @staticmethod
    def _count(s: Quality, event: EventRecord) -> None:
        on = recorded_on(event.recorded_at)
        provider = (
            event.organisation if event.recorded_role == "caseworker" else s.placement["provider"]
        )
        delay = (on - event.effective_date).days
        key = (quarter_of(on), provider, s.placement["municipality"], delay)
        counts = s.counts.setdefault(key, [0, 0])
        counts[1 if event.type in CORRECTIONS else 0] += 1

    def missing(self, s: Quality) -> list[str]:
        absent = {
            "birth_date": not s.birth_date,
            "residence_valid_until": s.residence_status in TEMPORARY_STATUSES
            and not s.residence_expiry,
            "eligibility": not s.eligibility,
            "consent": not s.consent,
        }
        return [f for f in CORE_FIELDS if absent[f]]

    def rows(self, state: Quality, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        s = state
        if not s.placement:
            # A voided registration (a duplicate) counts nowhere.
            return {PARTICIPANTS.name: [], ENTRIES.name: []}
        entries = [
            (s.participant_id, quarter, provider, municipality, delay, n, c)
            for (quarter, provider, municipality, delay), (n, c) in s.counts.items()
        ]
        if s.erased:
            # The erased person's data is processed no more; the counts of what was
            # recorded hold nothing about the person and stay.
            return {PARTICIPANTS.name: [], ENTRIES.name: entries}
        row = PARTICIPANTS.row_of(
            {
                "participant_id": s.participant_id,
                **s.placement,
                "intake_date": s.intake_date,
                "exit_date": s.exit_date,
                "missing": self.missing(s),
            }
        )
        return {PARTICIPANTS.name: [row], ENTRIES.name: entries}


# ------------------------------------------------------------------ queries


async def missing_by_provider(
    conn: Any, start: date, end: date, municipality: str | None
) -> list[dict[str, Any]]:
    """Per provider: participants enrolled at some day of [start, end], those with
    any core field missing, and the count per missing field."""
    args: list[Any] = [start, end]
    where = "intake_date <= $2 AND (exit_date IS NULL OR exit_date >= $1)"
    if municipality is not None:
        args.append(municipality)
        where += " AND municipality = $3"
    sql = f"""
SELECT provider, municipality, count(*) AS participants,
       count(*) FILTER (WHERE cardinality(missing) > 0) AS with_missing,
       {", ".join(f"count(*) FILTER (WHERE '{f}' = ANY(missing)) AS {f}" for f in CORE_FIELDS)}
FROM {PARTICIPANTS.name} WHERE {where}
GROUP BY provider, municipality
"""
    return [dict(r) for r in await conn.fetch(sql, *args)]


async def entries_by_provider(
    conn: Any, quarter: str, municipality: str | None
) -> list[dict[str, Any]]:
    """Per provider and delay: entries and corrections recorded in the quarter."""
    args: list[Any] = [quarter]
    where = "quarter = $1"
    if municipality is not None:
        args.append(municipality)
        where += " AND municipality = $2"
    sql = f"""
SELECT provider, municipality, delay_days, sum(entries)::bigint AS entries,
       sum(corrections)::bigint AS corrections
FROM {ENTRIES.name} WHERE {where}
GROUP BY provider, municipality, delay_days
"""
    return [dict(r) for r in await conn.fetch(sql, *args)]
