"""Bitemporal replay: what was true on day D, as it was known at time K.

Every event has two times: ``effective_date`` (when it happened in the world) and
``timestamp`` (when it was recorded, UTC). An auditor asks "which modules was she
in on 30 June 2021, according to what had been entered by 15 July 2021?" — late
entries recorded after K must not count, and neither may corrections recorded
after K, while corrections known by K apply even to entries made long before.

The state is the aggregate's own fold (``Participant._refold``) over a chosen set
of entries, so the rules of ``evolve`` live in exactly one place:

1. keep the events recorded at or before ``known_at``;
2. substitute the corrections among them into the entries they correct (a
   correction can move an entry's effective date, so this comes first), and take
   the entries voided by then out (a voided registration voids the whole record);
3. keep the entries whose (corrected) effective date is on or before ``as_of``;
4. fold them, in version order, into a fresh participant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, datetime

from lotse.domain.errors import ParticipantNotFoundError
from lotse.domain.participant import Participant
from lotse.domain.vocabulary import ErasureMode


@dataclasses.dataclass(frozen=True)
class Replayed:
    """A participant as of a day, as known at a time, and what went into it."""

    participant: Participant
    counted_versions: list[int]
    """Versions of the entries folded into the state."""
    applied_corrections: list[int]
    """Versions of the corrections known at ``known_at`` and applied."""
    known_version: int
    """The participant's version as it was at ``known_at``."""


def known_events(
    events: Iterable[Participant.Event], known_at: datetime | None
) -> list[Participant.Event]:
    """Events recorded at or before ``known_at`` (all of them when it is None)."""
    return [e for e in events if known_at is None or e.timestamp <= known_at]


def replay(
    events: Iterable[Participant.Event],
    *,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> Replayed:
    """Rebuild the participant from its history; see the module docstring.

    Raises ``ParticipantNotFoundError`` when the participant was not yet registered
    on ``as_of`` or not yet recorded at ``known_at``: there was nobody to show.
    """
    known = sorted(known_events(events, known_at), key=lambda e: e.originator_version)
    entries: dict[int, Participant.Event] = {}
    corrections: list[int] = []
    voided: set[int] = set()
    erasures: list[Participant.PersonalDataErased] = []
    for event in known:
        if isinstance(event, Participant.EntryCorrected):
            original = entries.get(event.corrects_version)
            if original is not None:
                entries[event.corrects_version] = dataclasses.replace(original, **event.changes)
                corrections.append(event.originator_version)
        elif isinstance(event, Participant.EntryVoided):
            voided.add(event.voids_version)
            if event.voids_version != 1:
                entries.pop(event.voids_version, None)
        elif isinstance(event, Participant.PersonalDataErased):
            erasures.append(event)
        else:
            entries[event.originator_version] = event
    counted = {
        version: entry
        for version, entry in entries.items()
        if as_of is None or entry.effective_date <= as_of
    }
    registered = counted.get(1)
    if not isinstance(registered, Participant.Registered):
        msg = "the participant was not registered on as_of, or not yet recorded at known_at"
        raise ParticipantNotFoundError(msg, rule="not-yet-registered")

    # A shell of the aggregate, filled by the aggregate's own fold.
    participant = Participant.__new__(Participant)
    participant.__base_init__(
        originator_id=registered.originator_id,
        originator_version=known[-1].originator_version,
        timestamp=registered.timestamp,
    )
    participant._reset()
    participant._entries = dict(counted)
    participant.corrections = len(corrections)
    participant.voided_versions = voided
    participant.registration_voided = 1 in voided
    for erasure in erasures:
        if erasure.mode == ErasureMode.RESTRICT:
            participant.restricted = True
        else:
            participant.personal_data_erased = True
            participant.restricted = False
    participant._refold()
    last = max(counted.values(), key=lambda e: e.originator_version)
    participant.last_milestone = type(last).__name__
    participant.modified_on = known[-1].timestamp
    return Replayed(
        participant=participant,
        counted_versions=sorted(counted),
        applied_corrections=corrections,
        known_version=known[-1].originator_version,
    )
