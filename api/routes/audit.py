"""Auditors: verify the log's integrity, read the signed checkpoints and the public key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from lotse.api.deps import CurrentUser, RuntimeDep, allowed
from lotse.api.problems import problem_responses
from lotse.api.runtime import Runtime
from lotse.api.schemas import CheckpointPublic, ProblemPublic, VerificationPublic
from lotse.domain.access import check_may_audit
from lotse.domain.errors import InvalidInputError
from lotse.storage.checkpoints import SigningKeyError, key_id, public_key_text
from lotse.storage.verification import VerificationReport, run_verification

# Every route here is for auditors and admins; the gate runs before any parameter check.
router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[allowed(check_may_audit)])

RESPONSES = problem_responses(
    {
        401: "Missing or invalid token",
        403: "Only auditors and admins verify the log",
        422: "Invalid input: the body names the field",
    }
)


def verification_public(report: VerificationReport) -> VerificationPublic:
    problems = [
        ProblemPublic(
            position=p.position, kind=p.kind, detail=p.detail, checkpoint_id=p.checkpoint_id
        )
        for p in sorted(report.problems, key=lambda p: p.position)
    ]
    return VerificationPublic(
        ok=report.ok,
        verified=report.verified,
        head=report.head,
        checkpoints_checked=report.checkpoints_checked,
        started_after=report.started_after,
        first_problem=problems[0] if problems else None,
        problems=problems,
    )


@router.get("/verify", response_model=VerificationPublic, responses=RESPONSES)
async def verify_log(
    principal: CurrentUser,
    runtime: RuntimeDep,
    from_checkpoint: Annotated[
        int | None, Query(ge=1, description="Start at this signed checkpoint")
    ] = None,
) -> VerificationPublic:
    """Recompute the hash chain and check every signed checkpoint; report the first problem."""
    check_may_audit(principal)
    return verification_public(await verify_chain(runtime, from_checkpoint))


async def verify_chain(runtime: Runtime, from_checkpoint: int | None = None) -> VerificationReport:
    """The one verification of the log: ``GET /audit/verify`` and the Prüfung page."""
    checkpoints = runtime.checkpoints
    assert checkpoints is not None
    try:
        public_key = checkpoints.public_key
    except SigningKeyError:
        public_key = None
    if from_checkpoint is not None and checkpoints.get(from_checkpoint) is None:
        msg = "from_checkpoint names no checkpoint"
        raise InvalidInputError(msg, field="from_checkpoint")
    return await run_verification(runtime.database.url, public_key, from_checkpoint=from_checkpoint)


@router.get("/checkpoints", response_model=list[CheckpointPublic], responses=RESPONSES)
def list_checkpoints(principal: CurrentUser, runtime: RuntimeDep) -> list[CheckpointPublic]:
    """The signed checkpoints, oldest first."""
    check_may_audit(principal)
    assert runtime.checkpoints is not None
    return [CheckpointPublic(**c.as_json()) for c in runtime.checkpoints.all()]


@router.get("/checkpoints/newest", response_model=CheckpointPublic, responses=RESPONSES)
def read_newest_checkpoint(principal: CurrentUser, runtime: RuntimeDep) -> CheckpointPublic:
    """The newest signed checkpoint: what a witness countersigns (see the README, Auditors)."""
    check_may_audit(principal)
    assert runtime.checkpoints is not None
    newest = runtime.checkpoints.newest()
    if newest is None:
        msg = "no checkpoint has been signed yet"
        raise HTTPException(404, detail=msg)
    return CheckpointPublic(**newest.as_json())


@router.get("/public-key", responses=RESPONSES)
def read_public_key(principal: CurrentUser, runtime: RuntimeDep) -> dict[str, str]:
    """The Ed25519 public key that checks the checkpoints (ed25519:base64url) and its id."""
    check_may_audit(principal)
    assert runtime.checkpoints is not None
    key = runtime.checkpoints.public_key
    return {"public_key": public_key_text(key), "key_id": key_id(key)}
