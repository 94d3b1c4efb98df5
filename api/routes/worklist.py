"""The due list (Wiedervorlage): ``GET /worklist``, scoped by the access policy.

Dismissing an item is a milestone (``WorklistItemDismissed`` at
``POST /participants/{id}/milestones``), also reachable as
``POST /participants/{id}/worklist/dismissals``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from lotse.api.deps import (
    CurrentUser,
    JourneysDep,
    LogRefusedAccess,
    ReadAccessDep,
    ReadsDep,
    RequestId,
    RuntimeDep,
    access_entry,
    allowed,
)
from lotse.api.problems import problem_responses
from lotse.api.routes.caseload import await_position
from lotse.api.routes.participants import WRITE_RESPONSES
from lotse.api.schemas import Day, MilestoneRecorded, Strict
from lotse.domain.access import (
    Principal,
    Role,
    check_may_read_personal_data,
    check_may_record_milestones,
)
from lotse.domain.errors import AccessDeniedError
from lotse.domain.labels import VOCABULARY
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
    responses=WRITE_RESPONSES,
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


# ------------------------------------------------------------ calendar feed


class CalendarFeedCreated(BaseModel):
    url: str = Field(description="Subscribe to this URL in a calendar program; keep it secret")
    token: str = Field(description="The feed's token (also in the URL); shown once")


@router.post(
    "/worklist/calendar-feeds",
    status_code=status.HTTP_201_CREATED,
    response_model=CalendarFeedCreated,
    responses=PROBLEMS,
    dependencies=MAY_READ,
)
def create_calendar_feed(principal: CurrentUser, runtime: RuntimeDep) -> CalendarFeedCreated:
    """A personal feed of the caller's due list (iCalendar); ends the caller's earlier feed."""
    assert runtime.calendar_feeds is not None
    token = runtime.calendar_feeds.create(
        principal.user, principal.role.value, principal.organisation
    )
    return CalendarFeedCreated(url=f"/worklist.ics?token={token}", token=token)


@router.delete(
    "/worklist/calendar-feeds",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=PROBLEMS,
    dependencies=MAY_READ,
)
def revoke_calendar_feeds(principal: CurrentUser, runtime: RuntimeDep) -> Response:
    """End the caller's calendar feeds: their URLs answer 404 from now on."""
    assert runtime.calendar_feeds is not None
    runtime.calendar_feeds.revoke(principal.user, principal.role.value, principal.organisation)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


ICS_PROBLEMS = problem_responses(
    {
        403: "The feed's user is deactivated, or no longer holds the feed's role",
        404: "Unknown or revoked feed token",
        422: "Invalid parameter: the body names it",
    }
)


@router.get(
    "/worklist.ics",
    responses={
        200: {"content": {"text/calendar": {}}, "description": "The due list as iCalendar"},
        **ICS_PROBLEMS,
    },
)
async def read_calendar_feed(
    request: Request,
    reads: ReadsDep,
    runtime: RuntimeDep,
    token: Annotated[str, Query(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")],
    due_within_days: Annotated[int, Query(ge=0, le=MAX_DUE_WITHIN_DAYS)] = 90,
) -> Response:
    """The due list of the feed's user as all-day events, with pseudonymous references only.

    Calendar programs send no bearer token: the feed's random token is the credential.
    It is refused once revoked, and the user's standing in the directory is checked on
    every request (a deactivated user's feed answers 403).
    """
    assert runtime.calendar_feeds is not None
    async with reads.pool.acquire() as conn:
        feed = await runtime.calendar_feeds.find(conn, token)
        if feed is None:
            raise HTTPException(404, "no calendar feed with this token (unknown or revoked)")
        standing = await asyncio.to_thread(runtime.authentication.standing, feed.user)
        if not standing.active:
            msg = "the feed's user is deactivated in Lotse's directory"
            raise AccessDeniedError(msg, rule="user-deactivated")
        if standing.known and (feed.role, feed.organisation) not in standing.memberships:
            msg = "the feed's user no longer holds the role the feed was created for"
            raise AccessDeniedError(msg, rule="role-withdrawn")
        principal = Principal(feed.user, Role(feed.role), feed.organisation)
        today = runtime.journeys.clock()
        found = await due_list(
            conn,
            runtime.configuration,
            principal,
            today=today,
            due_within_days=due_within_days,
        )
    if runtime.access_log is not None:
        ids = dict.fromkeys(item["participant_id"] for item in found.items)
        entries = [
            access_entry(request, feed.user, feed.role, feed.organisation, pid, 200) for pid in ids
        ]
        await runtime.access_log.record_many_async(entries)
    return Response(
        content=to_icalendar(found.items, today),
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, no-store"},
    )


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def to_icalendar(items: list[dict[str, Any]], today: date) -> str:
    """RFC 5545: one all-day VEVENT per item; the summary names the kind and the
    participant's pseudonymous id, never a name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    labels = VOCABULARY[WorklistKind]
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Lotse//Wiedervorlage//DE",
        "CALSCALE:GREGORIAN",
        "X-WR-CALNAME:Lotse Wiedervorlage",
    ]
    for item in items:
        due: date = item["due_date"]
        kind = item["kind"]
        pid = str(item["participant_id"])
        overdue = " (überfällig)" if item["overdue"] else ""
        module = f" {item['module']}" if item["module"] else ""
        lines += [
            "BEGIN:VEVENT",
            f"UID:{pid}-{kind}-{due:%Y%m%d}@lotse",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{due:%Y%m%d}",
            f"DTEND;VALUE=DATE:{due + timedelta(days=1):%Y%m%d}",
            "SUMMARY:" + _ics_text(f"{labels[kind]}{module}{overdue}"),
            "DESCRIPTION:" + _ics_text(f"Teilnehmende {pid}, fällig {due:%d.%m.%Y}"),
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with a space (RFC 5545 3.1)."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for ch in line:
        encoded = ch.encode()
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts)
