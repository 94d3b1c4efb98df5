"""Corrections and voids in a participant's history: what the journey was, as corrected.

``EntryCorrected`` names an earlier entry and the fields it changes. Read models of
the journey's state see the corrected entry in place of the original, exactly as
the aggregate folds it; the audit trail sees the entries as they were recorded.

``EntryVoided`` names an earlier entry that was recorded in error: read models of
the journey's state do not see it at all (it leaves every figure, billing
included). Voiding the registration (version 1) voids the record as a whole (a
duplicate registration): no entry of it is seen, so the participant counts
nowhere. The audit trail keeps every entry, marked as voided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from lotse.projections.records import EventRecord

Identifiers = dict[str, Any]


def substitute_corrections(
    history: Sequence[tuple[EventRecord, Identifiers]],
) -> list[tuple[EventRecord, Identifiers]]:
    """The history with each corrected entry replaced by its corrected version.

    Mirrors the aggregate: corrections change the entry they name; the correction
    events themselves stay in the sequence (they count, and they are the last
    milestone when they are the last event).
    """
    entries: list[tuple[EventRecord, Identifiers]] = []
    index: dict[int, int] = {}
    voided: set[int] = set()
    for event, identifiers in history:
        if event.type == "EntryVoided":
            voided.add(event.data["voids_version"])
        if event.type == "EntryCorrected" and event.data["corrects_version"] in index:
            at = index[event.data["corrects_version"]]
            original, original_ids = entries[at]
            changes = dict(event.data["changes"])
            corrected_ids = dict(original_ids)
            for key, value in identifiers.items():
                if key.startswith("changes."):
                    corrected_ids[key.removeprefix("changes.")] = value
                    changes.pop(key.removeprefix("changes."), None)
            effective = changes.pop("effective_date", original.effective_date)
            entries[at] = (
                replace(original, data={**original.data, **changes}, effective_date=effective),
                corrected_ids,
            )
        if event.type not in NOT_ENTRIES:
            index[event.version] = len(entries)
        entries.append((event, identifiers))
    if not voided:
        return entries
    if 1 in voided:
        # A void registration: nothing of the record is part of any journey.
        return [(e, ids) for e, ids in entries if e.type in NOT_ENTRIES]
    return [(e, ids) for e, ids in entries if e.type in NOT_ENTRIES or e.version not in voided]


#: Events that are not entries of the journey: corrections, voids, erasure.
NOT_ENTRIES = frozenset({"EntryCorrected", "EntryVoided", "PersonalDataErased"})


def registration_voided(history: Sequence[tuple[EventRecord, Identifiers]]) -> bool:
    return any(e.type == "EntryVoided" and e.data["voids_version"] == 1 for e, _ in history)
