"""Request bodies: authenticate first, then a size limit, then strict JSON.

A body costs memory and CPU before any route code runs: FastAPI reads and parses
it while it resolves the route's parameters, which is also when the token is
checked. Measured before this guard: an unauthenticated 100 MB body took the API
from 99 to 399 MB, and a malformed unauthenticated body got 422, not 401. So, for
a request that carries a body, ``BodyGuard``

1. checks the bearer token of a route that needs one *before reading any of the
   body* (401 problem+json with ``WWW-Authenticate``), and leaves the principal in
   the scope state, where ``api.deps.get_principal`` takes it (one check, one path);
   a role the route's gate refuses gets its 403 from the route, before any check
   of the body below;
2. refuses a body above ``LOTSE_MAX_BODY_BYTES`` with 413: by ``Content-Length``
   without reading it, or, for a chunked body, as soon as the chunks read exceed it;
3. refuses a JSON body that is not UTF-8 (``invalid-encoding``) or repeats a key
   in one object (``duplicate-key``), with 422: Python's and FastAPI's parsers would
   silently keep the last value, so two readers of one body could see two requests.

A plain ASGI middleware, like ``api.app.RequestContext``: Starlette's
``BaseHTTPMiddleware`` streams the body through an extra task.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lotse.api import problems
from lotse.api.deps import (
    PRINCIPAL,
    SESSION,
    authenticate,
    authenticate_session,
    bearer_token,
    get_principal,
    log_refusal,
    log_refused_access,
)
from lotse.api.sessions import cookies_of
from lotse.domain.access import Principal
from lotse.domain.errors import AccessDeniedError

_JSON_SUBTYPE = "json"
#: The upload of ``api.routes.imports``, whose limit is ``max_import_bytes``.
IMPORTS_PATH = "/imports"

log = logging.getLogger(__name__)


class DuplicateKeyError(ValueError):
    """A JSON object repeats a key."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        msg = "a JSON object repeats a key"
        raise DuplicateKeyError(msg)
    return found


def check_strict_json(body: bytes) -> None:
    """Refuse (``BodyRefusedError``) a body that is not UTF-8 or repeats a key.

    Any other malformation is left to FastAPI's own parser, which names its
    position as before. The decoded value is not kept: FastAPI parses again, and
    for the small bodies of this API that costs microseconds.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        msg = "the body must be JSON encoded as UTF-8"
        raise BodyRefusedError(422, msg, rule="invalid-encoding") from None
    try:
        json.loads(text, object_pairs_hook=_unique_keys)
    except DuplicateKeyError:
        # The key is not named: it came from the client and may be anything.
        msg = "an object in the JSON body repeats a key; each key may appear once"
        raise BodyRefusedError(422, msg, rule="duplicate-key") from None
    except (ValueError, RecursionError):
        return  # malformed: FastAPI reports it (422 json_invalid / 400)


class BodyRefusedError(Exception):
    def __init__(self, status: int, detail: str, *, rule: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.rule = rule


def _is_json(content_type: bytes | None) -> bool:
    """Does FastAPI parse a body of this type as JSON (no type, or application/*json)?"""
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
    main, _, sub = media.partition("/")
    return main == "application" and (sub == _JSON_SUBTYPE or sub.endswith("+" + _JSON_SUBTYPE))


def _needs_principal(dependant: Dependant | None) -> bool:
    """Does the route (its dependencies, or theirs) ask for the caller's principal?"""
    pending = [dependant] if dependant is not None else []
    while pending:
        found = pending.pop()
        if found.call is get_principal:
            return True
        pending.extend(found.dependencies)
    return False


class _Route:
    """A route as the guard needs it: how to match it, and what it asks of a body."""

    __slots__ = ("checks", "context", "logs_refusals", "pattern", "protected", "takes_body")

    def __init__(self, context: RouteContext) -> None:
        self.context = context
        pattern = getattr(context, "path_regex", None) if context.methods else None
        self.pattern: re.Pattern[str] | None = pattern
        dependant: Dependant | None = getattr(context, "dependant", None)
        self.protected = _needs_principal(dependant)
        self.takes_body = getattr(context, "body_field", None) is not None
        self.logs_refusals = dependant is not None and any(
            d.call is log_refused_access for d in dependant.dependencies
        )
        # The role gate of ``api.deps.allowed``: its policy checks need only the principal.
        self.checks: list[Callable[[Principal], None]] = [
            d.call.policy_check  # type: ignore[union-attr]
            for d in (dependant.dependencies if dependant is not None else ())
            if hasattr(d.call, "policy_check")
        ]

    def admits(self, principal: Principal) -> bool:
        try:
            for check in self.checks:
                check(principal)
        except AccessDeniedError:
            return False
        return True


class BodyGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._by_method: dict[str, list[_Route]] = {}
        self._any_method: list[_Route] = []
        self._known: int = -1

    def _route_for(self, scope: Scope) -> _Route | None:
        routes: list[BaseRoute] = scope["app"].routes
        if len(routes) != self._known:  # built once, after every router is included
            self._index(routes)
        # Only the routes of this method are tried (three for a POST, not thirty),
        # by their path pattern alone: this runs before every write.
        path = _route_path(scope)
        for entry in self._by_method.get(scope["method"], self._any_method):
            if entry.pattern is not None:
                if entry.pattern.match(path):
                    return entry
            elif entry.context.matches(scope)[0] == Match.FULL:
                return entry
        return None

    def _index(self, routes: list[BaseRoute]) -> None:
        # Flattened through included routers, in FastAPI's order of matching.
        entries = [_Route(c) for c in iter_route_contexts(routes)]
        methods = {m for e in entries for m in (getattr(e.context, "methods", None) or ())}
        self._any_method = [e for e in entries if not getattr(e.context, "methods", None)]
        self._by_method = {
            method: [
                e
                for e in entries
                if method in (getattr(e.context, "methods", None) or ())
                or not getattr(e.context, "methods", None)
            ]
            for method in methods
        }
        self._known = len(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        chunked = False
        content_type: bytes | None = None
        authorization: bytes | None = None
        cookie: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
                    chunked = True  # unknown length: count what arrives
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
            elif name == b"authorization":
                authorization = value
            elif name == b"cookie":
                cookie = value
        if not chunked and not length:
            await self.app(scope, receive, send)  # no body: nothing to guard
            return

        runtime = scope["app"].state.runtime
        route = self._route_for(scope)
        strict = route is not None and route.takes_body and _is_json(content_type)
        if route is not None and route.protected:
            header = authorization.decode("latin-1") if authorization is not None else None
            token = bearer_token(header)
            try:
                if token is None and cookie is not None:
                    # A browser session: the route's dependency checks its CSRF token.
                    principal, session = authenticate_session(
                        runtime, cookies_of(cookie.decode("latin-1"))
                    )
                    scope.setdefault("state", {})[SESSION] = session
                else:
                    principal = authenticate(runtime, token)
            except HTTPException as e:
                if route.logs_refusals:
                    _record_refusal(scope, route, runtime, e.status_code)
                await _refuse(scope, receive, send, e.status_code, str(e.detail), None, e.headers)
                return
            except problems.DATABASE_UNAVAILABLE as e:
                # Authentication asks the directory (deactivations) and the session
                # store: an outage there is a 503 like anywhere else, not a 500.
                log.warning("database unavailable (%s) while authenticating: 503", type(e).__name__)
                await _refuse(
                    scope,
                    receive,
                    send,
                    503,
                    "the database cannot be reached just now; retry later",
                    "database-unavailable",
                    {"Retry-After": str(problems.RETRY_AFTER_SECONDS)},
                )
                return
            scope.setdefault("state", {})[PRINCIPAL] = principal
            if strict and not route.admits(principal):
                strict = False  # the route's role gate answers 403 before any input check

        limit: int = runtime.settings.max_body_bytes
        if scope["method"] == "POST" and _route_path(scope) == IMPORTS_PATH:
            # An import file is a spreadsheet, not a JSON body: its own, larger limit.
            limit = runtime.settings.max_import_bytes
        if length is not None and length > limit:
            await _refuse(scope, receive, send, *_too_large(limit))
            return
        if strict:
            body = await _read_at_most(receive, limit)
            if body is None:
                await _refuse(scope, receive, send, *_too_large(limit))
                return
            try:
                check_strict_json(body)
            except BodyRefusedError as e:
                await _refuse(scope, receive, send, e.status, e.detail, e.rule, None)
                return
            await self.app(scope, _replay(body, receive), send)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Pass a body the app streams itself (forms, uploads) through a counter."""
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise problems.BodyTooLargeError(_too_large(limit)[1])
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except problems.BodyTooLargeError:
            if started:
                raise
            await _refuse(scope, receive, send, *_too_large(limit))


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _record_refusal(scope: Scope, route: _Route, runtime: Any, status: int) -> None:
    """Log a refusal in the read-access log, as ``log_refused_access`` does on the route."""
    found = route.pattern.match(_route_path(scope)) if route.pattern is not None else None
    as_routed = {
        **scope,
        "path_params": found.groupdict() if found else {},
        "route": SimpleNamespace(path=route.context.path),
    }
    log_refusal(Request(as_routed), runtime, None, status)


def _too_large(limit: int) -> tuple[int, str, str, None]:
    error = problems.BodyTooLargeError(f"the request body is larger than {limit} bytes")
    return 413, str(error.detail), error.rule, None


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it is longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks)
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()  # after the body: wait for the disconnect
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    rule: str | None,
    headers: Mapping[str, str] | None,
) -> None:
    response = problems.problem(status, detail, rule=rule, headers=dict(headers or {}))
    if status in (401, 413):
        # The body is left unread (or half read): close, rather than have the
        # server read and discard the rest to reach the next request.
        response.headers["Connection"] = "close"
    await response(scope, receive, send)
