"""Health of the service, its database and every read model."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lotse.api.deps import ReadsDep, RuntimeDep
from lotse.api.runtime import Runtime
from lotse.api.tokens import TokenError
from lotse.domain.access import may_read_operations
from lotse.projections.parking import parked_events
from lotse.projections.schema import status as projection_status

router = APIRouter(tags=["system"])

#: How long /health waits for the database before it says ``down``.
HEALTH_TIMEOUT_SECONDS = 3.0


@router.get(
    "/health",
    responses={503: {"description": "Database unreachable, or a read model has parked events"}},
)
async def read_health(reads: ReadsDep, runtime: RuntimeDep, request: Request) -> JSONResponse:
    """Say whether the service is ok, degraded (a read model parked an event) or down;
    with an admin's bearer token also each read model's position, lag and parked events."""
    # The token is optional here, so it is read by hand: a security dependency would
    # declare it required in the OpenAPI document, and monitors call without one.
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS), reads.pool.acquire() as conn:
            head, rows = await projection_status(conn)
            parked = await parked_events(conn)
    except Exception:
        return JSONResponse({"status": "down"}, status_code=503)
    degraded = any(r["error"] or r["parked"] for r in rows)
    body: dict[str, Any] = {"status": "degraded" if degraded else "ok"}
    # Without a token, or with anyone else's: up or down only. Positions, read models
    # and participant ids of parked events are for the operators.
    if scheme.lower() == "bearer" and _is_admin(runtime, token.strip()):
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


def _is_admin(runtime: Runtime, token: str) -> bool:
    try:
        return may_read_operations(runtime.authentication.principal(token))
    except TokenError:
        return False
