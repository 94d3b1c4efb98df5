"""Who is due for shredding at the retention end: a query on the write side's tables.

Funding law keeps records until the programme's retention end (Art. 17(3)(b) GDPR);
after it, every participant whose data key still exists must be shredded, restricted
ones included. The candidates are found in SQL, not by loading every aggregate:
``Registered`` events keep ``programme`` and ``municipality`` in clear (they are
statistical), the latest ``CaseTransferred`` names the current municipality, and the
key table says whose key is not destroyed yet. Which programmes are due is decided by
the caller from the configuration, so this module holds no policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.participant import Participant
from domain.vocabulary import ErasureMode
from storage.recorder import LotseRecorder


@dataclass(frozen=True)
class RetentionCandidate:
    """A participant whose key still exists, with where it belongs (no personal data)."""

    participant_id: UUID
    programme: str
    municipality: str
    restricted: bool
    """Erasure was requested as a restriction; the shredding is still owed."""


def _candidates_statement(events_table: str, keys_table: str) -> str:
    # ``state`` is the JSON the mapper wrote; the statistical fields read here are
    # never sealed (see domain.classification). The lateral lookups use the primary
    # key (originator_id, originator_version), so only the Registered rows are scanned.
    return (
        "SELECT e.originator_id AS participant_id,"
        " r.doc ->> 'programme' AS programme,"
        " COALESCE(t.to_municipality, r.doc ->> 'municipality') AS municipality,"
        " EXISTS ("
        f"  SELECT 1 FROM {events_table} x"
        "   WHERE x.originator_id = e.originator_id AND x.topic = %(erased)s"
        "   AND convert_from(x.state, 'UTF8')::jsonb ->> 'mode' = %(restrict)s"
        " ) AS restricted"
        f" FROM {events_table} e"
        f" JOIN {keys_table} k"
        "  ON k.participant_id = e.originator_id AND k.destroyed_at IS NULL"
        " CROSS JOIN LATERAL (SELECT convert_from(e.state, 'UTF8')::jsonb AS doc) r"
        " LEFT JOIN LATERAL ("
        "  SELECT convert_from(c.state, 'UTF8')::jsonb ->> 'to_municipality' AS to_municipality"
        f"  FROM {events_table} c"
        "  WHERE c.originator_id = e.originator_id AND c.topic = %(transferred)s"
        "  ORDER BY c.originator_version DESC LIMIT 1"
        " ) t ON true"
        " WHERE e.topic = %(registered)s AND e.originator_version = 1"
        " AND r.doc ->> 'programme' = ANY(%(programmes)s)"
        " ORDER BY programme, municipality, participant_id"
    )


def due_for_shredding(
    recorder: LotseRecorder, programmes: Sequence[str]
) -> list[RetentionCandidate]:
    """Participants of these (retention-expired) programmes whose key is not destroyed."""
    if not programmes:
        return []
    statement = _candidates_statement(recorder.events_table, recorder.keys.table)
    parameters = {
        "registered": get_topic(Participant.Registered),
        "transferred": get_topic(Participant.CaseTransferred),
        "erased": get_topic(Participant.PersonalDataErased),
        "restrict": ErasureMode.RESTRICT.value,
        "programmes": list(programmes),
    }
    with recorder.datastore.transaction(commit=False) as curs:
        curs.execute(statement, parameters)  # type: ignore[arg-type]
        rows = curs.fetchall()
    return [
        RetentionCandidate(
            participant_id=UUID(str(row["participant_id"])),
            programme=str(row["programme"]),
            municipality=str(row["municipality"]),
            restricted=bool(row["restricted"]),
        )
        for row in rows
    ]
