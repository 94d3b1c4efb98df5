"""Who is due for shredding at the retention end: a query on the write side's tables.

Funding law keeps records until the programme's retention end (Art. 17(3)(b) GDPR);
after it, every participant whose data key still exists must be shredded, restricted
ones included. The candidates are found without loading every aggregate: SQL picks
the ``Registered``, ``CaseTransferred`` and ``PersonalDataErased`` events of
participants whose key is not destroyed yet, and the read side's decoder (which
upcasts, like every reader) reads their statistical fields: programme, the latest
municipality and whether erasure was requested as a restriction. Which programmes
are due is decided by the caller from the configuration, so this module holds no
policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from lotse.domain.participant import Participant
from lotse.domain.vocabulary import ErasureMode
from lotse.storage.recorder import LotseRecorder
from lotse.storage.upcasting import stored_topics


@dataclass(frozen=True)
class RetentionCandidate:
    """A participant whose key still exists, with where it belongs (no personal data)."""

    participant_id: UUID
    programme: str
    municipality: str
    restricted: bool
    """Erasure was requested as a restriction; the shredding is still owed."""


def _candidates_statement(events_table: str, keys_table: str) -> str:
    # Only the events that say where a participant belongs, of participants whose
    # key still exists; their fields are read through the one decoder that upcasts
    # (``projections.records.decode``), never straight out of the stored JSON.
    return (
        "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state"
        f" FROM {events_table} e"
        f" JOIN {keys_table} k"
        "  ON k.participant_id = e.originator_id AND k.destroyed_at IS NULL"
        " WHERE e.topic = ANY(%(topics)s)"
        " ORDER BY e.originator_id, e.originator_version"
    )


def due_for_shredding(
    recorder: LotseRecorder, programmes: Sequence[str]
) -> list[RetentionCandidate]:
    """Participants of these (retention-expired) programmes whose key is not destroyed."""
    from lotse.projections.records import decode  # the read side's one decoding path

    if not programmes:
        return []
    statement = _candidates_statement(recorder.events_table, recorder.keys.table)
    topics = [
        topic
        for cls in (
            Participant.Registered,
            Participant.CaseTransferred,
            Participant.PersonalDataErased,
        )
        for topic in stored_topics(cls)
    ]
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(statement, {"topics": topics})  # type: ignore[arg-type]
        rows = curs.fetchall()
    found: dict[UUID, dict[str, Any]] = {}
    for row in rows:
        event = decode(
            row["notification_id"],
            UUID(str(row["originator_id"])),
            row["originator_version"],
            row["topic"],
            bytes(row["state"]),
        )
        data = event.data
        if event.type == "Registered":
            found[event.participant_id] = {
                "programme": data["programme"],
                "municipality": data["municipality"],
                "restricted": False,
            }
        elif event.participant_id in found:
            current = found[event.participant_id]
            if event.type == "CaseTransferred":
                current["municipality"] = data["to_municipality"]
            elif data.get("mode") == ErasureMode.RESTRICT.value:
                current["restricted"] = True
    wanted = set(programmes)
    candidates = [
        RetentionCandidate(
            participant_id=pid,
            programme=str(c["programme"]),
            municipality=str(c["municipality"]),
            restricted=bool(c["restricted"]),
        )
        for pid, c in found.items()
        if c["programme"] in wanted
    ]
    return sorted(candidates, key=lambda c: (c.programme, c.municipality, str(c.participant_id)))
