"""Referrals: the lead provider refers a participant to another provider for a module.

The receiving provider accepts, either side ends. What an accepted referral lets
the receiving provider see and record is decided in ``domain.access``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response, status

from api.deps import CurrentUser, JourneysDep, LogRefusedAccess, RequestId, allowed
from api.routes.participants import WRITE_RESPONSES, IdempotencyKey, etag, request_key
from api.schemas import (
    MilestoneRecorded,
    ReferralAcceptanceCreate,
    ReferralCreate,
    ReferralCreated,
    ReferralEndCreate,
)
from domain.access import check_may_record

router = APIRouter(prefix="/participants", tags=["referrals"], dependencies=[LogRefusedAccess])

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
