"""The due list (Wiedervorlage): ``GET /worklist``, scoped by the access policy.

Dismissing an item is a milestone (``WorklistItemDismissed`` at
``POST /participants/{id}/milestones``), also reachable as
``POST /participants/{id}/worklist/dismissals``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from lotse.api.deps import (
    CurrentUser,
    JourneysDep,
    LogRefusedAccess,
    ReadAccessDep,
    ReadsDep,
    RequestId,
    RuntimeDep,
    allowed,
)
from lotse.api.problems import problem_responses
from lotse.api.routes.caseload import await_position
from lotse.api.schemas import Day, MilestoneRecorded, Strict
from lotse.domain.access import check_may_read_personal_data, check_may_record_milestones
from lotse.domain.vocabulary import WorklistDismissalReason, WorklistKind
from lotse.projections.due_list import MAX_DUE_WITHIN_DAYS, due_list

router = APIRouter(tags=["worklist"], dependencies=[LogRefusedAccess])

PROBLEMS = problem_responses(
    {
        401: "Missing or invalid token",
        403: "The role receives no personal data (funders)",
        404: "Unknown participant, or not in the caller's scope",
        422: "Invalid parameter: the body names it",
        504: "The read model did not reach min_position in time",
    }
)


class Responsible(BaseModel):
    assignees: list[str] = Field(description="User ids of the assigned case workers (CaseAssigned)")
    provider: str = Field(description="The lead provider: responsible when nobody is assigned")


class DoneBy(BaseModel):
    event: str
    version: int
    on: date


class Dismissed(BaseModel):
    reason: WorklistDismissalReason
    by: str = Field(description="User id of who dismissed it")
    version: int
    on: date


class WorklistItem(BaseModel):
    kind: WorklistKind
    due_date: date
    overdue: bool
    participant_id: UUID
    programme: str
    state: Literal["open", "done", "dismissed"]
    module: str | None = Field(description="module_closed_by_programme: the module")
    responsible: Responsible
    municipality: str
    done_by: DoneBy | None
    dismissed: Dismissed | None


class WorklistPublic(BaseModel):
    items: list[WorklistItem]
    until: date = Field(description="Items due on or before this day (overdue ones included)")
    rules_versions: dict[str, str] = Field(
        description="Per programme, the version of the [worklist] rules applied"
    )
    position: int = Field(description="The read model's position in the notification log")


MAY_READ = [allowed(check_may_read_personal_data)]


@router.get("/worklist", response_model=WorklistPublic, responses=PROBLEMS, dependencies=MAY_READ)
async def read_worklist(
    reads: ReadsDep,
    runtime: RuntimeDep,
    access: ReadAccessDep,
    due_within_days: Annotated[int, Query(ge=0, le=MAX_DUE_WITHIN_DAYS)] = 14,
    kind: Annotated[list[WorklistKind] | None, Query()] = None,
    state: Annotated[
        list[Literal["open", "done", "dismissed", "all"]] | None,
        Query(description="Default: open"),
    ] = None,
    provider: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = None,
    assigned_to: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f]+$",
            description="`me`, or a user id: the items of that case worker's participants",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
    min_position: Annotated[int | None, Query(ge=0, description="Wait for your own write")] = None,
) -> WorklistPublic:
    """What is due within ``due_within_days`` days (and overdue), for the caller's scope."""
    await await_position(reads, ("worklist", "participants"), min_position)
    principal = access.principal
    async with reads.pool.acquire() as conn:
        found = await due_list(
            conn,
            runtime.configuration,
            principal,
            today=runtime.journeys.clock(),
            due_within_days=due_within_days,
            kinds=[k.value for k in kind] if kind else None,
            states=list(state) if state else None,
            assigned_to=principal.user if assigned_to == "me" else assigned_to,
            provider=provider,
            limit=limit,
        )
        positions = await reads.positions()
    items = [WorklistItem(**item) for item in found.items]
    await access.record_many_async(dict.fromkeys(item.participant_id for item in items))
    return WorklistPublic(
        items=items,
        until=found.until,
        rules_versions=found.rules_versions,
        position=min(positions.get("worklist", 0), positions.get("participants", 0)),
    )


class DismissalCreate(Strict):
    """Take an item off the due list: the kind and due date it was shown with."""

    effective_date: Day
    kind: WorklistKind
    due_date: Day
    reason: WorklistDismissalReason


@router.post(
    "/participants/{participant_id}/worklist/dismissals",
    status_code=status.HTTP_201_CREATED,
    response_model=MilestoneRecorded,
    responses=PROBLEMS,
    dependencies=[allowed(check_may_record_milestones)],
)
def dismiss_item(
    participant_id: UUID,
    body: DismissalCreate,
    principal: CurrentUser,
    journeys: JourneysDep,
    request_id: RequestId,
) -> MilestoneRecorded:
    """Dismiss a due-list item with a reason (the milestone ``WorklistItemDismissed``)."""
    result = journeys.record_milestone(
        principal,
        request_id,
        participant_id,
        "WorklistItemDismissed",
        body.effective_date,
        kind=body.kind.value,
        due_date=body.due_date,
        reason=body.reason.value,
    )
    return MilestoneRecorded(version=result.version, position=result.position)
