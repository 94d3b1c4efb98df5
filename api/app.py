"""The FastAPI application: routers, error mapping, request ids, lifespan."""

from __future__ import annotations

import gc
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lotse.api import pages, problems
from lotse.api.limits import BodyGuard
from lotse.api.routes import (
    audit,
    caseload,
    catalogue,
    courses,
    duplicates,
    imports,
    participants,
    referrals,
    reports,
    sign_in,
    system,
    users,
    worklist,
)
from lotse.api.runtime import Runtime, build_runtime, open_read_models
from lotse.api.settings import Settings, load_settings

log = logging.getLogger("lotse.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
PATH_LOGGED = 300  # characters of a path kept in the access log

DESCRIPTION = """
Lotse records every step of a participant's path through a publicly funded
integration programme as an immutable event. Errors are RFC 9457
`application/problem+json`; writes accept `Idempotency-Key` and `If-Match`.
"""


class RequestContext:
    """Gives every request an id (``X-Request-ID``, echoed back) and logs it.

    A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's
    ``BaseHTTPMiddleware`` runs the app in an extra task with memory streams for
    the body, which cost a measurable share of the CPU on the write path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s",
                    access_line(
                        scope.get("method", "-"),
                        scope.get("path", "-"),
                        status,
                        (time.perf_counter() - started) * 1000,
                        request_id,
                    ),
                )


def access_line(method: str, path: str, status: int, ms: float, request_id: str) -> str:
    """One access-log line as JSON, so nothing a client sent can start another line.

    The path is the decoded one (``%0A`` is a newline by then); JSON escapes every
    control character and, ASCII only, the Unicode line separators too. The path
    only, never the query string: it may carry search terms (names).
    """
    entry = {
        "method": method[:16],
        "path": path[:PATH_LOGGED],
        "status": status,
        "ms": round(ms, 1),
        "request_id": request_id,
    }
    return json.dumps(entry, ensure_ascii=True, separators=(",", ":"))


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the runtime (database, application) is opened in the lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or build_runtime(settings or load_settings(), serving=True)
        current: Runtime = app.state.runtime
        reads = await open_read_models(current)
        app.state.reads = reads
        # Everything built at start (routes, schemas, configuration) lives as long
        # as the process: moved out of the collector's generations, later full
        # collections no longer scan it, which shortens their pauses (tail latency).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await reads.close()
            if owned:
                current.close()

    app = FastAPI(title="Lotse", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    if runtime is not None:
        app.state.runtime = runtime
    problems.install(app)

    # Added first, so it runs inside RequestContext: refusals carry a request id and are logged.
    app.add_middleware(BodyGuard)
    app.add_middleware(RequestContext)

    app.include_router(catalogue.router)
    app.include_router(participants.router)
    app.include_router(caseload.router)
    app.include_router(courses.router)
    app.include_router(referrals.router)
    app.include_router(referrals.listing)
    app.include_router(system.router)
    app.include_router(audit.router)
    app.include_router(reports.router)
    app.include_router(sign_in.router)
    app.include_router(users.router)
    app.include_router(worklist.router)
    app.include_router(duplicates.router)
    app.include_router(imports.router)
    # The web pages (German, for people in a browser) under /: after the API's routes.
    pages.install(app)
    return app
