"""Health of the service, its database and every read model."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from api.deps import ReadsDep, RuntimeDep, bearer
from api.tokens import TokenError, read_token
from domain.access import Role
from projections.parking import parked_events
from projections.schema import status as projection_status

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    responses={503: {"description": "Database unreachable, or a read model has parked events"}},
)
async def read_health(
    reads: ReadsDep,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> JSONResponse:
    """Say whether the service is ok, degraded (a read model parked an event) or down;
    with an admin's token also each read model's position, lag and parked events."""
    try:
        async with reads.pool.acquire() as conn:
            head, rows = await projection_status(conn)
            parked = await parked_events(conn)
    except Exception:
        return JSONResponse({"status": "down"}, status_code=503)
    degraded = any(r["error"] or r["parked"] for r in rows)
    body: dict[str, Any] = {"status": "degraded" if degraded else "ok"}
    # Without a token, or with anyone else's: up or down only. Positions, read models
    # and participant ids of parked events are for the operators.
    if _is_admin(runtime.settings.secret_key, credentials):
        body.update(
            database="reachable",
            head=head,
            projections=[
                {
                    "name": r["name"],
                    "generation": r["generation"],
                    "state": "stopped"
                    if r["error"]
                    else "degraded"
                    if r["parked"]
                    else r["status"],
                    "position": r["position"],
                    "lag": r["lag"],
                    "parked_positions": r["parked"],
                }
                for r in rows
            ],
            parked=[
                {
                    "read_model": p["name"],
                    "generation": p["generation"],
                    "position": p["position"],
                    "participant_id": str(p["originator_id"]),
                    "version": p["originator_version"],
                    "topic": p["topic"],
                    "error_type": p["error_type"],
                    "sqlstate": p["sqlstate"],
                    "parked_at": p["parked_at"].isoformat(),
                }
                for p in parked
            ],
        )
    return JSONResponse(body, status_code=503 if degraded else 200)


def _is_admin(secret: str, credentials: HTTPAuthorizationCredentials | None) -> bool:
    if credentials is None:
        return False
    try:
        return read_token(secret, credentials.credentials).role is Role.ADMIN
    except TokenError:
        return False
