"""Read model ``person_links``: participants a coordinator linked as the same person.

A ``DuplicatesLinked`` is recorded on both participants of a pair, so each
participant's rows list the others it was linked with (``linked_to``). The
monitoring report counts people (``persons_*``) by a person key: the smallest
participant id among everyone linked to a participant, directly or through others
(``reports.monitoring``), so that a person registered at two providers is one
person of the total while each provider's stays still count as its own.
No personal data: two pseudonymous ids per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lotse.projections.model import Crypto, Projection, Table
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_person_links",
    columns=(("participant_id", "uuid NOT NULL"), ("linked_to", "uuid NOT NULL")),
    primary_key=("participant_id", "linked_to"),
    indexes=("linked_to",),
)


@dataclass
class Links:
    participant_id: UUID
    linked_to: set[UUID] = field(default_factory=set)


class PersonLinks(Projection[Links]):
    name = "person_links"
    tables = (TABLE,)

    def empty(self, participant_id: UUID) -> Links:
        return Links(participant_id)

    def apply(self, state: Links, event: EventRecord, identifiers: dict[str, Any]) -> Links:
        if event.type == "DuplicatesLinked":
            state.linked_to.add(UUID(str(event.data["other_participant"])))
        return state

    def rows(self, state: Links, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        return {TABLE.name: [(state.participant_id, other) for other in sorted(state.linked_to)]}


def person_keys(links: list[tuple[UUID, UUID]]) -> dict[UUID, UUID]:
    """Each linked participant's person key: the smallest id of its linked group."""
    parent: dict[UUID, UUID] = {}

    def root(x: UUID) -> UUID:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: root(x) for x in list(parent)}
