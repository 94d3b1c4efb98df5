"""Wiedervorlage on the pages: what is due, from the one read-side function of the due list.

``projections.due_list.due_list`` answers ``GET /worklist`` and ``lotse worklist``;
the caseload page and the participant's page call it too, with the caller's
principal, so scope, rules and due dates are the same everywhere. Overdue items
come first (the list is ordered by due date). What is shown is recorded in the
read-access log by the page that shows it, as the JSON route does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from lotse.api.readmodels import ReadModels
from lotse.api.runtime import Runtime
from lotse.domain.access import Principal
from lotse.domain.configuration import Configuration
from lotse.domain.labels import label
from lotse.domain.vocabulary import WorklistKind
from lotse.projections.caseload import names_of
from lotse.projections.due_list import due_list

#: The caseload's window: the JSON route's default (``GET /worklist``).
CASELOAD_DAYS = 14
#: A participant's page shows what is due within a year (and what is overdue).
PARTICIPANT_DAYS = 365
#: At most this many items on the caseload page; the rest is behind "weitere".
SHOWN = 50


@dataclass(frozen=True)
class DueItem:
    participant_id: UUID
    kind: str
    title: str
    due_date: date
    overdue: bool
    name: str = ""


def kind_title(configuration: Configuration, item: dict[str, object]) -> str:
    """The kind in German; a module the programme closes, with its name."""
    title = label(WorklistKind(str(item["kind"])))
    module = item.get("module")
    if module:
        programme = configuration.programmes.get(str(item.get("programme")))
        found = programme.module(str(module)) if programme else None
        title += f" ({module} - {found.name})" if found else f" ({module})"
    return title


async def due_items(
    reads: ReadModels,
    runtime: Runtime,
    principal: Principal,
    *,
    days: int,
    participant: UUID | None = None,
    assigned_to: str | None = None,
    limit: int = SHOWN,
) -> tuple[list[DueItem], bool]:
    """The caller's open items (of one participant, or with names for a list); more left?"""
    configuration = runtime.configuration
    async with reads.pool.acquire() as conn:
        found = await due_list(
            conn,
            configuration,
            principal,
            today=runtime.journeys.clock(),
            due_within_days=days,
            assigned_to=assigned_to,
            participant=participant,
            limit=limit + 1,
        )
        rows = found.items[:limit]
        names = (
            {}
            if participant is not None
            else await names_of(
                conn, reads.master, principal, list({r["participant_id"] for r in rows})
            )
        )
    items = [
        DueItem(
            participant_id=r["participant_id"],
            kind=r["kind"],
            title=kind_title(configuration, r),
            due_date=r["due_date"],
            overdue=r["overdue"],
            name=names.get(r["participant_id"], ""),
        )
        for r in rows
    ]
    return items, len(found.items) > limit
