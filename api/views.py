"""Turn domain objects into API models (the domain knows nothing of the API)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from lotse.api.schemas import (
    FollowUpPublic,
    HistoryEntry,
    OpenModule,
    ParticipantPublic,
    RecordedBy,
)
from lotse.domain.envelope import ENVELOPE_FIELDS
from lotse.domain.participant import Participant
from lotse.storage.mapper import ERASED


def participant_public(p: Participant) -> ParticipantPublic:
    return ParticipantPublic(
        id=p.id,
        version=p.version,
        programme=p.programme,
        provider=p.provider,
        municipality=p.municipality,
        status=p.status,
        intake_date=p.intake_date,
        period_start=p.period_start,
        periods=p.periods,
        given_name=p.given_name,
        family_name=p.family_name,
        birth_date=p.birth_date,
        birth_year=p.birth_year,
        age_at_intake=p.age_at_intake,
        gender=p.gender,
        nationality=p.nationality,
        residence_status=p.residence_status,
        residence_valid_until=p.residence_valid_until,
        eligible=p.eligible,
        target_group=p.target_group,
        eligibility_rule_version=p.eligibility_rule_version,
        consent_version=p.consent_version,
        consent_withdrawn=p.consent_withdrawn,
        language_level=p.language_level,
        open_modules=[OpenModule(module=m, since=d) for m, d in sorted(p.open_modules.items())],
        language_courses=sorted(p.language_courses),
        certificates=list(p.certificates),
        internship_since=p.internship_since,
        entry_qualification_since=p.entry_qualification_since,
        apprenticeship_since=p.apprenticeship_since,
        employment_since=p.employment_since,
        employment_type=p.employment_type,
        coaching_contacts=p.coaching_contacts,
        coaching_minutes=p.coaching_minutes,
        exit_date=p.exit_date,
        exit_reason=p.exit_reason,
        exit_destination=p.exit_destination,
        follow_ups=[FollowUpPublic(months_after_exit=m, destination=d) for m, d in p.follow_ups],
        corrections=p.corrections,
        personal_data_erased=p.personal_data_erased,
        restricted=p.restricted,
        last_milestone=p.last_milestone,
        last_effective_date=p.last_effective_date,
    )


def event_data(event: Participant.Event) -> dict[str, Any]:
    return {
        k: v for k, v in vars(event).items() if k not in ENVELOPE_FIELDS and not k.startswith("_")
    }


def history_entry(event: Participant.Event) -> HistoryEntry:
    return HistoryEntry(
        version=event.originator_version,
        type=type(event).__name__,
        effective_date=event.effective_date,
        recorded_at=event.timestamp,
        recorded_by=RecordedBy(user=event.recorded_by, role=event.recorded_role),
        organisation=event.organisation,
        request_id=event.request_id,
        data=event_data(event),
        erased_fields=list(getattr(event, ERASED, [])),
    )


def history_entries(
    events: Sequence[Participant.Event], *, as_of: date | None = None
) -> list[HistoryEntry]:
    """The history with each correction linked to the entry it corrects.

    With ``as_of``, only entries whose effective date (as corrected by the
    corrections in ``events``) is on or before that day, with their corrections.
    """
    corrected_by: dict[int, list[int]] = {}
    voided_by: dict[int, int] = {}
    effective: dict[int, date] = {}
    for e in events:
        if isinstance(e, Participant.EntryVoided):
            voided_by[e.voids_version] = e.originator_version
        elif isinstance(e, Participant.EntryCorrected):
            corrected_by.setdefault(e.corrects_version, []).append(e.originator_version)
            if "effective_date" in e.changes:
                effective[e.corrects_version] = e.changes["effective_date"]
        else:
            effective[e.originator_version] = effective.get(e.originator_version, e.effective_date)
    shown: list[HistoryEntry] = []
    for e in events:
        version = e.originator_version
        corrects = e.corrects_version if isinstance(e, Participant.EntryCorrected) else None
        day = effective.get(corrects if corrects is not None else version, e.effective_date)
        if as_of is not None and day > as_of:
            continue
        entry = history_entry(e)
        entry.corrected_by = corrected_by.get(version, [])
        entry.corrects_version = corrects
        entry.voided_by = voided_by.get(version)
        if isinstance(e, Participant.EntryVoided):
            entry.voids_version = e.voids_version
        shown.append(entry)
    return shown
