"""Referrals: the lead provider refers a participant to another provider for a module.

The receiving provider accepts, either side ends. What an accepted referral lets
the receiving provider see and record is decided in ``domain.access``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from lotse.api.deps import (
    CurrentUser,
    JourneysDep,
    LogRefusedAccess,
    ReadAccessDep,
    ReadsDep,
    RequestId,
    allowed,
)
from lotse.api.problems import problem_responses
from lotse.api.routes.caseload import await_position
from lotse.api.routes.participants import WRITE_RESPONSES, IdempotencyKey, etag, request_key
from lotse.api.schemas import (
    MilestoneRecorded,
    ReferralAcceptanceCreate,
    ReferralCreate,
    ReferralCreated,
    ReferralEndCreate,
)
from lotse.domain.access import (
    check_may_read_personal_data,
    check_may_record,
    may_see_restricted,
    personal_data_scope,
)
from lotse.projections.referrals import query_referrals

router = APIRouter(prefix="/participants", tags=["referrals"], dependencies=[LogRefusedAccess])
#: The referrals in the caller's scope, across participants.
listing = APIRouter(prefix="/referrals", tags=["referrals"], dependencies=[LogRefusedAccess])

REFERRAL = "/{participant_id}/referrals/{referral_id}"
ReferralId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


@router.post(
    "/{participant_id}/referrals",
    status_code=status.HTTP_201_CREATED,
    response_model=ReferralCreated,
    responses=WRITE_RESPONSES,
    dependencies=[allowed(check_may_record)],
)
def make_referral(
    participant_id: UUID,
    body: ReferralCreate,
    principal: CurrentUser,
    journeys: JourneysDep,
    request_id: RequestId,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ReferralCreated:
    """Refer the participant to another provider of the programme for one module."""
    result, referral_id = journeys.make_referral(
        principal,
        request_id,
        participant_id,
        provider=body.provider,
        module=body.module,
        effective_date=body.effective_date,
        request_key=request_key(
            principal,
            idempotency_key,
            "referral",
            f"/participants/{participant_id}/referrals",
            body,
        ),
    )
    response.headers["Location"] = f"/participants/{participant_id}/referrals/{referral_id}"
    response.headers["ETag"] = etag(result.version)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return ReferralCreated(
        referral_id=referral_id, version=result.version, position=result.position
    )


@router.post(
    f"{REFERRAL}/acceptance",
    status_code=status.HTTP_201_CREATED,
    response_model=MilestoneRecorded,
    responses=WRITE_RESPONSES,
    dependencies=[allowed(check_may_record)],
)
def accept_referral(
    participant_id: UUID,
    referral_id: ReferralId,
    body: ReferralAcceptanceCreate,
    principal: CurrentUser,
    journeys: JourneysDep,
    request_id: RequestId,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MilestoneRecorded:
    """Accept a referral: only the provider the participant was referred to."""
    path = f"/participants/{participant_id}/referrals/{referral_id}/acceptance"
    result = journeys.accept_referral(
        principal,
        request_id,
        participant_id,
        referral_id,
        effective_date=body.effective_date,
        request_key=request_key(principal, idempotency_key, "referral-acceptance", path, body),
    )
    response.headers["ETag"] = etag(result.version)
    return MilestoneRecorded(version=result.version, position=result.position)


@router.post(
    f"{REFERRAL}/ending",
    status_code=status.HTTP_201_CREATED,
    response_model=MilestoneRecorded,
    responses=WRITE_RESPONSES,
    dependencies=[allowed(check_may_record)],
)
def end_referral(
    participant_id: UUID,
    referral_id: ReferralId,
    body: ReferralEndCreate,
    principal: CurrentUser,
    journeys: JourneysDep,
    request_id: RequestId,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> MilestoneRecorded:
    """End a referral, with a reason: the lead or the receiving provider."""
    result = journeys.end_referral(
        principal,
        request_id,
        participant_id,
        referral_id,
        effective_date=body.effective_date,
        reason=body.reason.value,
        request_key=request_key(
            principal,
            idempotency_key,
            "referral-ending",
            f"/participants/{participant_id}/referrals/{referral_id}/ending",
            body,
        ),
    )
    response.headers["ETag"] = etag(result.version)
    return MilestoneRecorded(version=result.version, position=result.position)


class ReferralPublic(BaseModel):
    participant_id: UUID
    referral_id: str
    programme: str
    lead_provider: str = Field(description="The provider that leads the case now")
    municipality: str
    provider: str = Field(description="The receiving provider")
    module: str
    consent_version: str = Field(description="The consent version the referral rests on")
    status: Literal["made", "accepted", "ended"]
    made_on: date
    accepted_on: date | None
    ended_on: date | None
    end_reason: str | None


class ReferralList(BaseModel):
    items: list[ReferralPublic]
    position: int = Field(description="The read model's position in the notification log")


@listing.get(
    "",
    response_model=ReferralList,
    responses=problem_responses(
        {
            401: "Missing or invalid token",
            403: "The role may not list referrals",
            422: "Invalid parameter: the body names it",
            504: "The read model did not reach min_position in time",
        }
    ),
    dependencies=[allowed(check_may_read_personal_data)],
)
async def list_referrals(
    reads: ReadsDep,
    access: ReadAccessDep,
    status: Literal["made", "accepted", "ended"] | None = None,
    participant_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    min_position: Annotated[int | None, Query(ge=0, description="Wait for your own write")] = None,
) -> ReferralList:
    """List referrals: a provider's made and received ones, a coordinator's municipality's.

    Status ``made`` are those waiting for the receiving provider's acceptance.
    """
    provider, municipality = personal_data_scope(access.principal)
    await await_position(reads, ("referrals",), min_position)
    async with reads.pool.acquire() as conn:
        rows = await query_referrals(
            conn,
            provider=provider,
            municipality=municipality,
            status=status,
            participant_id=participant_id,
            limit=limit,
            include_restricted=may_see_restricted(access.principal),
        )
    positions = await reads.positions()
    items = [ReferralPublic(**{k: r[k] for k in ReferralPublic.model_fields}) for r in rows]
    await access.record_many_async(item.participant_id for item in items)
    return ReferralList(items=items, position=positions.get("referrals", 0))
