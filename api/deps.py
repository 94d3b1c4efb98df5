"""Dependencies, declared once as ``Annotated`` aliases and used as plain parameters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException

from lotse.api.problems import status_for
from lotse.api.readmodels import ReadModels
from lotse.api.runtime import Runtime
from lotse.api.sessions import check_csrf, principal_of, session_of
from lotse.api.tokens import TokenError
from lotse.domain.access import Principal
from lotse.domain.application import Journeys
from lotse.domain.errors import AccessDeniedError, DomainError, ParticipantNotFoundError
from lotse.storage.access_log import PURPOSE_MAX, AccessEntry, AccessLogUnavailableError
from lotse.storage.sessions import Session

log = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, description="A token from `lotse token create`")

# The dependencies below are ``async`` although they do not await: FastAPI runs a
# plain ``def`` dependency in the thread pool, and the hops to and from a worker
# thread (several per request) cost more CPU under load than the work itself.
# They only read request state and check a token's HMAC, which never blocks.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_reads(request: Request) -> ReadModels:
    reads: ReadModels = request.app.state.reads
    return reads


async def get_journeys(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Journeys:
    return runtime.journeys


#: Where ``api.limits.BodyGuard`` leaves the principal it authenticated (scope state).
PRINCIPAL = "principal"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


#: Where ``api.limits.BodyGuard`` leaves the browser session it authenticated.
SESSION = "session"


async def get_principal(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    # A request with a body was authenticated before its body was read.
    state = request.scope.get("state")
    known = state.get(PRINCIPAL) if state else None
    session = state.get(SESSION) if state else None
    if isinstance(known, Principal):
        principal = known
    elif credentials is not None:
        return authenticate(runtime, credentials.credentials)
    else:
        principal, session = authenticate_session(runtime, dict(request.cookies))
    if isinstance(session, Session):
        await check_csrf(request, session)
    return principal


def authenticate_session(runtime: Runtime, cookies: dict[str, str]) -> tuple[Principal, Session]:
    """The principal of the browser's live session, or 401 (as for a missing token)."""
    session = session_of(runtime, cookies)
    principal = principal_of(session) if session is not None else None
    if session is None or principal is None:
        msg = "a bearer token is required (Authorization: Bearer ...), or sign in"
        raise HTTPException(401, msg, CHALLENGE)
    return principal, session


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, as ``HTTPBearer`` reads it."""
    scheme, token = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and token) or scheme.lower() != "bearer":
        return None
    return token


def authenticate(runtime: Runtime, token: str | None) -> Principal:
    """The principal of a bearer token, or 401: the one check every request passes."""
    if token is None:
        msg = "a bearer token is required (Authorization: Bearer ...)"
        raise HTTPException(401, msg, CHALLENGE)
    try:
        return runtime.authentication.principal(token)
    except TokenError as e:
        raise HTTPException(401, str(e), CHALLENGE) from None


async def get_request_id(request: Request) -> str:
    request_id: str = request.state.request_id
    return request_id


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Check = Callable[[Principal], None]


# ------------------------------------------------------------- the role gate


def allowed(check: Check) -> DependsParam:
    """A route dependency that refuses a role before its input is looked at.

    ``check`` is a policy function of ``domain.access`` that decides from the
    principal alone (``check_may_record``, ``check_may_audit``, ...). FastAPI
    solves a route's dependencies before it validates path, query and body
    parameters, so a role that may not call the route gets 403 (and a caller
    without a token 401) even when the body is malformed. A body that is not
    JSON at all fails before any dependency runs; ``refusal_before_input``
    applies the same gate there.
    """

    async def gate(principal: CurrentUser) -> None:
        check(principal)

    gate.policy_check = check  # type: ignore[attr-defined]
    gate.__name__ = f"allowed_{check.__name__}"
    dependency: DependsParam = Depends(gate)
    return dependency


def refusal_before_input(request: Request) -> Exception | None:
    """The 401 or 403 the route's gate gives, for a request whose input did not parse.

    The validation error handler asks this first, so an unreadable body never
    tells a caller without the right more than a 401 or 403 would.
    """
    route: Any = request.scope.get("route")
    dependencies = getattr(getattr(route, "dependant", None), "dependencies", ())
    checks = [d.call.policy_check for d in dependencies if hasattr(d.call, "policy_check")]
    if not checks:
        return None
    runtime: Runtime = request.app.state.runtime
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    principal: Principal | None = None
    try:
        principal = authenticate(
            runtime, token.strip() if scheme.lower() == "bearer" and token.strip() else None
        )
        for check in checks:
            check(principal)
    except (HTTPException, AccessDeniedError) as e:
        if any(d.call is log_refused_access for d in dependencies):
            # As ``log_refused_access`` would have, had the input parsed.
            log_refusal(request, runtime, principal, 401 if principal is None else 403)
        return e
    return None


def log_refusal(
    request: Request, runtime: Runtime, principal: Principal | None, status: int
) -> None:
    if runtime.access_log is None:
        return
    who = (
        (principal.user, principal.role.value, principal.organisation)
        if principal
        else ("-", "-", "-")
    )
    raw = request.path_params.get("participant_id")
    try:
        participant_id = UUID(str(raw)) if raw is not None else None
    except ValueError:
        participant_id = None
    runtime.access_log.record(access_entry(request, *who, participant_id, status))


ReadsDep = Annotated[ReadModels, Depends(get_reads)]
JourneysDep = Annotated[Journeys, Depends(get_journeys)]
CurrentUser = Annotated[Principal, Depends(get_principal)]
RequestId = Annotated[str, Depends(get_request_id)]


# ------------------------------------------------------------ read-access log


class ReadAccess:
    """Records this request's reads of personal data in the read-access log, durably.

    Routes that return a participant's personal data call ``record(participant_id)``
    (``record_many`` for lists and search results) after the read succeeded and
    before they return: it returns once the entries are committed. If they cannot
    be stored it raises ``AccessLogUnavailableError``, answered as 503, and the
    data read is never sent. ``async`` routes await ``record_async`` /
    ``record_many_async`` instead, which wait without blocking the event loop.
    Refused attempts (401/403/404) are recorded by ``LogRefusedAccess`` on the
    router, so routes need not handle them.
    """

    def __init__(self, runtime: Runtime, request: Request, principal: Principal) -> None:
        self.log = runtime.access_log
        self.principal = principal
        self.request = request

    def record(self, participant_id: UUID, outcome: int = 200) -> None:
        self.record_many([participant_id], outcome)

    def record_many(self, participant_ids: Iterable[UUID], outcome: int = 200) -> None:
        if self.log is None:
            return
        if _in_event_loop():
            msg = "an async route must await record_many_async: this call would block the loop"
            raise RuntimeError(msg)
        self.log.record_many(self._entries(participant_ids, outcome))

    async def record_async(self, participant_id: UUID, outcome: int = 200) -> None:
        await self.record_many_async([participant_id], outcome)

    async def record_many_async(self, participant_ids: Iterable[UUID], outcome: int = 200) -> None:
        if self.log is None:
            return
        await self.log.record_many_async(self._entries(participant_ids, outcome))

    def _entries(self, participant_ids: Iterable[UUID], outcome: int) -> list[AccessEntry]:
        p = self.principal
        return [
            access_entry(self.request, p.user, p.role.value, p.organisation, pid, outcome)
            for pid in participant_ids
        ]


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def access_entry(
    request: Request,
    user: str,
    role: str,
    organisation: str,
    participant_id: UUID | None,
    outcome: int,
) -> AccessEntry:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    purpose = request.headers.get("X-Purpose") or None
    return AccessEntry(
        user=user,
        role=role,
        organisation=organisation,
        participant_id=participant_id,
        endpoint=f"{request.method} {path}",
        purpose=purpose[:PURPOSE_MAX] if purpose else None,
        outcome=outcome,
        request_id=getattr(request.state, "request_id", "-"),
        at=datetime.now(UTC),
    )


async def log_refused_access(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AsyncIterator[None]:
    """Router dependency: record refused attempts (401, 403, 404) in the read-access log."""
    try:
        yield
    except (HTTPException, DomainError) as e:
        status = e.status_code if isinstance(e, HTTPException) else status_for(e)
        runtime: Runtime = request.app.state.runtime
        # Refusals only: "not registered yet on as_of" is a 404 too, but no refusal.
        refused = isinstance(e, HTTPException | AccessDeniedError) or (
            isinstance(e, ParticipantNotFoundError) and e.rule == "participant-not-found"
        )
        if refused and status in (401, 403, 404) and runtime.access_log is not None:
            user, role, organisation = "-", "-", "-"
            if credentials is not None:
                try:
                    p = runtime.authentication.principal(credentials.credentials)
                    user, role, organisation = p.user, p.role.value, p.organisation
                except TokenError:
                    user = "invalid-token"
            raw = request.path_params.get("participant_id")
            try:
                participant_id = UUID(str(raw)) if raw is not None else None
            except ValueError:
                participant_id = None
            entry = access_entry(request, user, role, organisation, participant_id, status)
            try:
                await runtime.access_log.record_many_async([entry])
            except AccessLogUnavailableError:
                # A refusal discloses nothing: it is still answered, and the failure logged.
                log.error("a refused attempt could not be stored in the read-access log")
        raise


async def get_read_access(
    runtime: RuntimeDep, request: Request, principal: CurrentUser
) -> ReadAccess:
    return ReadAccess(runtime, request, principal)


ReadAccessDep = Annotated[ReadAccess, Depends(get_read_access)]
#: Add to a router's ``dependencies`` to log refused attempts on its endpoints.
LogRefusedAccess = Depends(log_refused_access)
