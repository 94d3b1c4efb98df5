"""Health of the service, its database and every read model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ReadsDep
from projections.schema import status as projection_status

router = APIRouter(tags=["system"])


@router.get(
    "/health", responses={503: {"description": "Database unreachable or a read model stopped"}}
)
async def read_health(reads: ReadsDep) -> JSONResponse:
    """Report database reachability and each read model's position, the head and the lag."""
    try:
        async with reads.pool.acquire() as conn:
            head, rows = await projection_status(conn)
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    projections: list[dict[str, Any]] = [
        {
            "name": r["name"],
            "generation": r["generation"],
            "state": "stopped" if r["error"] else r["status"],
            "position": r["position"],
            "lag": r["lag"],
            "error": r["error"],
            "error_position": r["error_position"],
        }
        for r in rows
    ]
    stopped = any(p["state"] == "stopped" for p in projections)
    body = {
        "status": "degraded" if stopped else "ok",
        "database": "reachable",
        "head": head,
        "projections": projections,
    }
    return JSONResponse(body, status_code=503 if stopped else 200)
