"""Participants: registration, milestones, current state, history, erasure."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from lotse.api.corrections import coerce_changes, plain
from lotse.api.deps import (
    CurrentUser,
    JourneysDep,
    LogRefusedAccess,
    ReadAccessDep,
    RequestId,
    RuntimeDep,
    allowed,
)
from lotse.api.problems import problem, problem_responses
from lotse.api.schemas import (
    AccessLogEntryPublic,
    AccessLogPublic,
    EntryCorrectedCreate,
    EntryVoidedCreate,
    ErasureCreate,
    ErasurePublic,
    HistoryPublic,
    MilestoneCreate,
    MilestoneRecorded,
    ParticipantCreate,
    ParticipantCreated,
    ParticipantPublic,
    ParticipantStatePublic,
)
from lotse.api.views import history_entries, participant_public
from lotse.domain.access import (
    Principal,
    check_may_erase,
    check_may_read_access_log,
    check_may_read_personal_data,
    check_may_record,
    check_may_record_milestones,
    check_may_record_or_void,
    check_may_void,
    idempotency_scope,
)
from lotse.domain.application import Journeys, RequestKey
from lotse.domain.errors import (
    InvalidInputError,
)
from lotse.storage.key_scrub import KeyScrubber
from lotse.storage.recorder import LotseRecorder

# Every refused attempt on a participant endpoint goes to the read-access log.
router = APIRouter(prefix="/participants", tags=["participants"], dependencies=[LogRefusedAccess])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key and body return the original response",
    ),
]
AsOf = Annotated[
    date | None,
    Query(description="Count only events whose effective date is on or before this day"),
]
KnownAt = Annotated[
    datetime | None,
    Query(
        description="Count only what had been recorded by this time (ISO 8601 with time zone)",
    ),
]
Purpose = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        max_length=200,
        description="Why you read this participant's data; kept in the read-access log",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The version you last saw, as an ETag: "7"'),
]
_ETAG = re.compile(r'^(?:W/)?"(\d{1,18})"$')

PROBLEM_RESPONSES = problem_responses(
    {
        401: "Missing or invalid token",
        403: "The role may not do this",
        404: "Unknown participant, or not in the caller's scope",
        422: "Invalid input: the body names the field",
    }
)
WRITE_RESPONSES = {
    **PROBLEM_RESPONSES,
    **problem_responses(
        {
            400: "The body cannot be parsed as JSON",
            409: "A rule of the journey forbids this",
            412: "If-Match is stale",
        }
    ),
}


def scrub_keys(journeys: Journeys) -> bool:
    """Rewrite the key table so that no destroyed key survives in an old row version."""
    recorder = journeys.recorder
    if not isinstance(recorder, LotseRecorder):
        return True
    return KeyScrubber(recorder.datastore, recorder.datastore.schema).scrub().done


def etag(version: int) -> str:
    return f'"{version}"'


def request_key(
    principal: Principal, key: str | None, operation: str, path: str, body: BaseModel
) -> RequestKey | None:
    if key is None:
        return None
    canonical = json.dumps(
        {"path": path, "body": body.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
    )
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    return RequestKey(
        scope=idempotency_scope(principal), key=key, fingerprint=fingerprint, operation=operation
    )


def expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    found = _ETAG.match(if_match.strip())
    if not found:
        msg = 'If-Match must be a version as returned in ETag, e.g. "7"'
        raise InvalidInputError(msg, field="If-Match")
    return int(found.group(1))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ParticipantCreated,
    responses=WRITE_RESPONSES,
    dependencies=[allowed(check_may_record)],
)
def register_participant(
    body: ParticipantCreate,
    principal: CurrentUser,
    journeys: JourneysDep,
    request_id: RequestId,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ParticipantCreated:
    """Register a participant at intake (Erstgespräch) with a provider."""
    details = {k: plain(v) for k, v in body.model_dump(exclude={"programme", "provider"}).items()}
    result = journeys.register(
        principal,
        request_id,
        programme=body.programme,
        provider=body.provider,
        request_key=request_key(principal, idempotency_key, "register", "/participants", body),
        **details,
    )
    response.headers["Location"] = f"/participants/{result.participant_id}"
    response.headers["ETag"] = etag(result.version)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return ParticipantCreated(
        id=result.participant_id,
        version=result.version,
        position=result.position,
        possible_duplicate=result.possible_duplicate is not None,
        duplicate_scope=result.possible_duplicate,
    )


def check_known_at(known_at: datetime | None) -> datetime | None:
    if known_at is not None and known_at.tzinfo is None:
        msg = "known_at must carry a time zone, e.g. 2022-07-01T12:00:00Z"
        raise InvalidInputError(msg, field="known_at")
    return known_at


# Each route's role gate runs before its parameters are validated (``api.deps.allowed``).
MAY_READ = [allowed(check_may_read_personal_data)]


@router.get(
    "/{participant_id}",
    response_model=ParticipantPublic,
    responses=PROBLEM_RESPONSES,
    dependencies=MAY_READ,
)
def read_participant(
    participant_id: UUID,
    journeys: JourneysDep,
    access: ReadAccessDep,
    response: Response,
    purpose: Purpose = None,
) -> ParticipantPublic:
    """Read a participant's current state, rebuilt from the events."""
    participant = journeys.participant_for_reading(access.principal, participant_id)
    access.record(participant_id)
    response.headers["ETag"] = etag(participant.version)
    return participant_public(participant)


@router.get(
    "/{participant_id}/state",
    response_model=ParticipantStatePublic,
    responses=PROBLEM_RESPONSES,
    dependencies=MAY_READ,
)
def read_participant_state(
    participant_id: UUID,
    journeys: JourneysDep,
    access: ReadAccessDep,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    purpose: Purpose = None,
) -> ParticipantStatePublic:
    """Rebuild a participant's state as of a day, as it was known at a time (time travel)."""
    check_known_at(known_at)
    replayed = journeys.state_for_reading(
        access.principal, participant_id, as_of=as_of, known_at=known_at
    )
    access.record(participant_id)
    public = participant_public(replayed.participant)
    return ParticipantStatePublic(
        **public.model_dump(),
        as_of=as_of,
        known_at=known_at,
        counted_versions=replayed.counted_versions,
        applied_corrections=replayed.applied_corrections,
    )


@router.get(
    "/{participant_id}/history",
    response_model=HistoryPublic,
    responses=PROBLEM_RESPONSES,
    dependencies=MAY_READ,
)
def read_history(
    participant_id: UUID,
    journeys: JourneysDep,
    access: ReadAccessDep,
    response: Response,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    purpose: Purpose = None,
) -> HistoryPublic:
    """Read every recorded event of a participant, in order, with its envelope.

    With ``known_at`` only what had been recorded by then; with ``as_of`` only
    entries effective by then (corrections are shown with the entry they correct).
    A provider the participant was referred to, or that had the case before a
    transfer, reads the entries it recorded itself and no others.
    """
    check_known_at(known_at)
    # Referred and former providers read the entries they recorded, no others.
    participant, events = journeys.history_for_reading(access.principal, participant_id, known_at)
    access.record(participant_id)
    response.headers["ETag"] = etag(participant.version)
    return HistoryPublic(
        participant_id=participant_id,
        as_of=as_of,
        known_at=known_at,
        events=history_entries(events, as_of=as_of),
    )


@router.get(
    "/{participant_id}/access-log",
    response_model=AccessLogPublic,
    responses=PROBLEM_RESPONSES,
    dependencies=[allowed(check_may_read_access_log)],
)
def read_access_log(
    participant_id: UUID, principal: CurrentUser, runtime: RuntimeDep
) -> AccessLogPublic:
    """Who read this participant's data, when, where and why (Art. 15 GDPR)."""
    rows = runtime.journeys.access_log_of(principal, participant_id)
    return AccessLogPublic(
        participant_id=participant_id,
        entries=[AccessLogEntryPublic.model_validate(row) for row in rows],
    )


@router.post(
    "/{participant_id}/milestones",
    status_code=status.HTTP_201_CREATED,
    response_model=MilestoneRecorded,
    responses=WRITE_RESPONSES,
    dependencies=[allowed(check_may_record_or_void)],
)
def record_milestone(
    participant_id: UUID,
    body: MilestoneCreate,
    principal: CurrentUser,
    journeys: JourneysDep,
    request_id: RequestId,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> Response:
    """Record a milestone (module entry, consent, apprenticeship, exit, correction, void, ...)."""
    # The gate lets coordinators in to void entries: any other milestone is refused
    # before the body is looked at any further.
    if isinstance(body, EntryVoidedCreate):
        check_may_void(principal)
    else:
        check_may_record_milestones(principal)
    expected = expected_version(if_match)
    data = {k: plain(v) for k, v in body.model_dump(exclude={"type", "effective_date"}).items()}
    if isinstance(body, EntryCorrectedCreate):
        # The gate refused roles that may not correct.
        entry = journeys.entry_to_correct(principal, participant_id, body.corrects_version)
        data["changes"] = coerce_changes(type(entry).__name__, body.changes)
    result = journeys.record_milestone(
        principal,
        request_id,
        participant_id,
        body.type,
        body.effective_date,
        expected_version=expected,
        request_key=request_key(
            principal,
            idempotency_key,
            "milestone",
            f"/participants/{participant_id}/milestones",
            body,
        ),
        **data,
    )
    # The body is encoded here, not by FastAPI's response_model machinery (which
    # re-validates the model and then encodes it): this is the hottest route, and
    # that step was a tenth of its CPU. ``response_model`` still documents it.
    body_out = MilestoneRecorded(version=result.version, position=result.position)
    headers = {"ETag": etag(result.version)}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        content=body_out.model_dump_json(),
        status_code=status.HTTP_201_CREATED,
        media_type="application/json",
        headers=headers,
    )


ERASURE_RESPONSES = {
    **WRITE_RESPONSES,
    **problem_responses(
        {
            503: "The erasure is recorded, but a copy of the key is still readable in the "
            "database: repeat the request after Retry-After to finish it",
        }
    ),
}
#: Seconds a client should wait before repeating an erasure that could not be finished.
SCRUB_RETRY_AFTER = 10


@router.post(
    "/{participant_id}/erasure",
    response_model=ErasurePublic,
    responses=ERASURE_RESPONSES,
    dependencies=[allowed(check_may_erase)],
)
def erase_participant(
    participant_id: UUID,
    body: ErasureCreate,
    principal: CurrentUser,
    journeys: JourneysDep,
    request_id: RequestId,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ErasurePublic | JSONResponse:
    """Erase (crypto-shred) or restrict a participant's personal data (Art. 17 GDPR).

    A shredding answers 200 only once no copy of the destroyed key is left in the
    database's tables (old row versions included); otherwise 503 with Retry-After:
    the erasure is recorded, and repeating the request finishes the scrub.
    """
    result, changed = journeys.erase(
        principal,
        request_id,
        participant_id,
        mode=body.mode,
        reason_code=body.reason,
        request_key=request_key(
            principal, idempotency_key, "erasure", f"/participants/{participant_id}/erasure", body
        ),
    )
    if body.mode == "shred" and not scrub_keys(journeys):
        return problem(
            503,
            "the erasure is recorded and the key destroyed, but an older database transaction "
            "may still hold a readable copy of it: repeat the request to finish the erasure",
            rule="erasure-not-final",
            headers={"Retry-After": str(SCRUB_RETRY_AFTER)},
        )
    response.headers["ETag"] = etag(result.version)
    if not changed:
        detail = "nothing to do: the personal data was already erased or restricted"
    elif body.mode == "shred":
        detail = "personal data erased: the participant's key was destroyed"
    else:
        detail = "processing restricted: only auditors may read; shredding follows at retention end"
    return ErasurePublic(
        participant_id=participant_id,
        mode=body.mode,
        changed=changed,
        detail=detail,
        version=result.version,
    )
