"""Possible duplicates across providers: candidate pairs for coordinators, decisions.

Registration (``POST /participants``) tells the case worker only whether a
possible duplicate exists and where (their municipality, elsewhere). The pairs
themselves, participant ids and placement, never names, are listed here for the
coordinator of the municipality, and for the admin (the programme's data
protection role) also across municipalities (``domain.access.may_review_pair``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from lotse.api.deps import (
    CurrentUser,
    JourneysDep,
    LogRefusedAccess,
    RequestId,
    RuntimeDep,
    allowed,
)
from lotse.api.problems import problem_responses
from lotse.api.routes.participants import PROBLEM_RESPONSES, WRITE_RESPONSES
from lotse.api.runtime import Runtime
from lotse.api.schemas import DuplicateDecisionCreate
from lotse.domain.access import (
    Principal,
    check_may_record,
    check_may_review_duplicates,
    may_review_pair,
)

router = APIRouter(tags=["duplicates"], dependencies=[LogRefusedAccess])

State = Literal["open", "linked", "dismissed"]


class DuplicatePair(BaseModel):
    participant_a: UUID
    participant_b: UUID
    provider_a: str
    provider_b: str
    municipality_a: str
    municipality_b: str
    since: datetime = Field(description="When the pair first shared a pseudonym")
    state: State


class DuplicatesPublic(BaseModel):
    pairs: list[DuplicatePair]


class DuplicateDecided(BaseModel):
    participant_a: UUID
    participant_b: UUID
    decision: Literal["linked", "dismissed"]
    versions: dict[str, int] = Field(description="Each participant's new version")
    position: int


class DuplicateCheck(BaseModel):
    possible_duplicate: bool
    duplicate_scope: Literal["municipality", "elsewhere"] | None


@router.get(
    "/duplicates",
    response_model=DuplicatesPublic,
    responses=problem_responses(
        {
            401: "Missing or invalid token",
            403: "Only coordinators and the admin",
            422: "Invalid parameter: the body names it",
        }
    ),
    dependencies=[allowed(check_may_review_duplicates)],
)
def list_duplicates(
    principal: CurrentUser,
    runtime: RuntimeDep,
    state: Annotated[list[State] | None, Query(description="Default: every state")] = None,
) -> DuplicatesPublic:
    """Candidate pairs the caller reviews: ids, providers, municipality, since, state."""
    return DuplicatesPublic(pairs=reviewable_pairs(runtime, principal, state))


def reviewable_pairs(
    runtime: Runtime, principal: Principal, state: list[State] | None = None
) -> list[DuplicatePair]:
    """The pairs ``principal`` reviews (``may_review_pair``), oldest first; the page too."""
    check_may_review_duplicates(principal)
    assert runtime.duplicates is not None
    wanted = set(state or ("open", "linked", "dismissed"))
    pairs: list[DuplicatePair] = []
    for p in runtime.duplicates.pairs():
        if not may_review_pair(principal, p.municipality_a, p.municipality_b):
            continue
        found = runtime.journeys.duplicate_decision(p.a, p.b) or "open"
        if found not in wanted:
            continue
        pairs.append(
            DuplicatePair(
                participant_a=p.a,
                participant_b=p.b,
                provider_a=p.provider_a,
                provider_b=p.provider_b,
                municipality_a=p.municipality_a,
                municipality_b=p.municipality_b,
                since=p.since,
                state=found,  # type: ignore[arg-type]
            )
        )
    return pairs


@router.post(
    "/duplicates/decisions",
    status_code=status.HTTP_201_CREATED,
    response_model=DuplicateDecided,
    responses=WRITE_RESPONSES,
    dependencies=[allowed(check_may_review_duplicates)],
)
def decide_duplicates(
    body: DuplicateDecisionCreate,
    principal: CurrentUser,
    journeys: JourneysDep,
    request_id: RequestId,
) -> DuplicateDecided:
    """Link a pair (the same person: counted once) or dismiss it with a reason code.

    One event on each participant (``DuplicatesLinked`` / ``DuplicatesDismissed``),
    both in one transaction. A pair decided before answers 409; an id the caller
    may not review, or no candidate pair, 404, whether or not the participant exists.
    """
    first, second = journeys.decide_duplicate(
        principal,
        request_id,
        body.participant_a,
        body.participant_b,
        linked=body.decision == "linked",
        reason=body.reason,
    )
    return DuplicateDecided(
        participant_a=first.participant_id,
        participant_b=second.participant_id,
        decision=body.decision,
        versions={
            str(first.participant_id): first.version,
            str(second.participant_id): second.version,
        },
        position=first.position,
    )


@router.post(
    "/participants/{participant_id}/duplicate-check",
    response_model=DuplicateCheck,
    responses=PROBLEM_RESPONSES,
    dependencies=[allowed(check_may_record)],
)
def check_duplicates(
    participant_id: UUID, principal: CurrentUser, journeys: JourneysDep
) -> DuplicateCheck:
    """Check a participant again on demand (its pseudonyms recomputed): where, never whose.

    For the roles that register (the pseudonyms are written again); the participant
    must be one the caller reads in full.
    """
    participant = journeys.participant_for_reading(principal, participant_id)
    scope = journeys.recheck_duplicates(participant)
    return DuplicateCheck(possible_duplicate=scope is not None, duplicate_scope=scope)
