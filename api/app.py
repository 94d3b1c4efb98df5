"""The FastAPI application: routers, error mapping, request ids, lifespan."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from api import problems
from api.readmodels import ReadModels, runs_projector_in_process
from api.routes import audit, caseload, catalogue, participants, system
from api.runtime import Runtime, build_runtime
from api.settings import Settings, load_settings
from storage.keys import MasterKey

log = logging.getLogger("lotse.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

DESCRIPTION = """
Lotse records every step of a participant's path through a publicly funded
integration programme as an immutable event. Errors are RFC 9457
`application/problem+json`; writes accept `Idempotency-Key` and `If-Match`.
"""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; the runtime (database, application) is opened in the lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        app.state.runtime = runtime or build_runtime(settings or load_settings())
        current: Runtime = app.state.runtime
        master = MasterKey.from_text(current.settings.master_key)
        reads = await ReadModels.open(current.database.url, master)
        app.state.reads = reads
        if runs_projector_in_process():
            reads.start_runner()
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

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        request.state.request_id = request_id
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        # The path only: query strings may carry search terms (names).
        log.info(
            "%s %s %d %.1fms %s",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            request_id,
        )
        return response

    app.include_router(catalogue.router)
    app.include_router(participants.router)
    app.include_router(caseload.router)
    app.include_router(system.router)
    app.include_router(audit.router)
    return app
