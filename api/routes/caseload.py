"""Caseload lists, search and timelines, served from the read models through asyncpg.

Every query is scoped to the caller before it reaches the database: a case worker
sees the own provider, a coordinator the own municipality, an auditor the token's
scope; funders get no personal lists at all.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from lotse.api.deps import LogRefusedAccess, ReadAccessDep, ReadsDep, allowed
from lotse.api.problems import problem_responses
from lotse.api.readmodels import ReadModels
from lotse.domain.access import check_may_read_personal_data
from lotse.domain.errors import InvalidInputError
from lotse.projections.caseload import caseload_page, name_search, timeline_for

router = APIRouter(prefix="/participants", tags=["caseload"], dependencies=[LogRefusedAccess])

ORG_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
PROBLEMS = problem_responses(
    {
        401: "Missing or invalid token",
        403: "The role may not list participants",
        404: "Unknown participant, or not in the caller's scope",
        422: "Invalid parameter: the body names it",
        504: "The read model did not reach min_position in time",
    }
)


class ParticipantSummary(BaseModel):
    id: UUID
    version: int
    provider: str
    municipality: str
    status: Literal["active", "exited"]
    intake_date: date
    exit_date: date | None
    given_name: str | None = Field(description="null once erased")
    family_name: str | None
    gender: str
    age_band: str
    residence_status: str | None = Field(description="null for a referred provider")
    language_level: str | None
    open_modules: list[str] = Field(
        description="for a referred provider: the open stays of its referred modules only"
    )
    last_milestone: str | None = Field(description="null for a referred provider")
    last_effective_date: date | None = Field(description="null for a referred provider")
    restricted: bool
    personal_data_erased: bool
    assignees: list[str] | None = Field(
        default=None,
        description="User ids of the case workers assigned (null for a referred provider)",
    )
    referred_for: list[str] = Field(
        default_factory=list,
        description="Modules the participant was referred to the caller's provider for"
        " (empty for the own caseload): the caller then sees the core data only",
    )


class ParticipantPage(BaseModel):
    items: list[ParticipantSummary]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null on the last"
    )
    position: int = Field(description="The read model's position in the notification log")


class TimelineEntry(BaseModel):
    version: int
    position: int
    type: str
    effective_date: date
    recorded_at: datetime
    recorded_by: str
    recorded_role: str
    organisation: str
    summary: str
    corrects_version: int | None
    corrected_by: list[int]


class TimelinePublic(BaseModel):
    participant_id: UUID
    entries: list[TimelineEntry]


def encode_cursor(key: tuple[date, UUID]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([key[0].isoformat(), str(key[1])])).decode()


def decode_cursor(cursor: str) -> tuple[date, UUID]:
    try:
        day, pid = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        return date.fromisoformat(day), UUID(pid)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        msg = "cursor is not a cursor returned by this API"
        raise InvalidInputError(msg, field="cursor") from None


async def await_position(reads: ReadModels, names: tuple[str, ...], position: int | None) -> None:
    """Read-your-writes: wait briefly until the read models include ``position``."""
    if position is None:
        return
    if position > await reads.head():
        # No completed write has this position: waiting could never succeed.
        msg = "min_position is beyond the last recorded event: use the position a write returned"
        raise InvalidInputError(msg, field="min_position")
    if not await reads.wait_for(names, position):
        msg = f"the read model has not yet reached position {position}; retry shortly"
        raise HTTPException(504, msg)


MAY_READ = [allowed(check_may_read_personal_data)]


@router.get("", response_model=ParticipantPage, responses=PROBLEMS, dependencies=MAY_READ)
async def list_participants(
    reads: ReadsDep,
    access: ReadAccessDep,
    provider: Annotated[str | None, Query(pattern=ORG_ID)] = None,
    municipality: Annotated[str | None, Query(pattern=ORG_ID)] = None,
    status: Literal["active", "exited"] | None = None,
    module: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,16}$")] = None,
    q: Annotated[str | None, Query(min_length=2, max_length=100, description="Name search")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    min_position: Annotated[int | None, Query(ge=0, description="Wait for your own write")] = None,
    assigned_to: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f]+$",
            description="`me`, or a user id: the participants assigned to that case worker",
        ),
    ] = None,
) -> ParticipantPage:
    """List the caller's caseload, filtered and searched by name, page by page."""
    await await_position(reads, ("participants",), min_position)
    terms = name_search(reads.master, q)
    async with reads.pool.acquire() as conn:
        rows, next_key = await caseload_page(
            conn,
            reads.master,
            access.principal,
            provider=provider,
            municipality=municipality,
            status=status,
            module=module,
            name_terms=terms,
            after=decode_cursor(cursor) if cursor else None,
            limit=limit,
            assigned_to=access.principal.user if assigned_to == "me" else assigned_to,
        )
        positions = await reads.positions()
    fields = ParticipantSummary.model_fields
    items = [ParticipantSummary(**{k: row[k] for k in fields if k in row}) for row in rows]
    await access.record_many_async(item.id for item in items)
    return ParticipantPage(
        items=items,
        next_cursor=encode_cursor(next_key) if next_key else None,
        position=positions.get("participants", 0),
    )


@router.get(
    "/{participant_id}/timeline",
    response_model=TimelinePublic,
    responses=PROBLEMS,
    dependencies=MAY_READ,
)
async def read_timeline(
    participant_id: UUID,
    reads: ReadsDep,
    access: ReadAccessDep,
    min_position: Annotated[int | None, Query(ge=0, description="Wait for your own write")] = None,
) -> TimelinePublic:
    """Read a participant's audit trail: every event, who recorded it, what changed."""
    check_may_read_personal_data(access.principal)
    await await_position(reads, ("timeline",), min_position)
    async with reads.pool.acquire() as conn:
        rows = await timeline_for(conn, access.principal, participant_id)
    await access.record_async(participant_id)
    fields = TimelineEntry.model_fields
    return TimelinePublic(
        participant_id=participant_id,
        entries=[TimelineEntry(**{k: r[k] for k in fields}) for r in rows],
    )
