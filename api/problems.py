"""RFC 9457 problem details: every error leaves the API as application/problem+json.

Domain errors map to status codes here and only here. Bodies name the field or
the rule, never the submitted value: inputs may be personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import asyncpg
import psycopg
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import MapperDeserialisationError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lotse.api.schemas import MILESTONE_MODELS
from lotse.domain.application import DuplicateRequestError
from lotse.domain.errors import (
    AccessDeniedError,
    CourseNotFoundError,
    DomainError,
    InvalidInputError,
    ParticipantNotFoundError,
    ReferralNotFoundError,
    RuleViolationError,
    UserNotFoundError,
    VersionConflictError,
)
from lotse.domain.labels import rule_label, status_title
from lotse.storage.access_log import AccessLogUnavailableError
from lotse.storage.database import DatabaseUnavailableError

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying a read the access log could not record.
ACCESS_LOG_RETRY_AFTER = 5

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://lotse.readthedocs.io/problems/"

STATUS_OF: list[tuple[type[DomainError], int]] = [
    (DuplicateRequestError, 422),
    (InvalidInputError, 422),
    (RuleViolationError, 409),
    (ParticipantNotFoundError, 404),
    (CourseNotFoundError, 404),
    (ReferralNotFoundError, 404),
    (UserNotFoundError, 404),
    (VersionConflictError, 412),
    (AccessDeniedError, 403),
]

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Rule violated",
    412: "Precondition failed",
    413: "Content too large",
    422: "Invalid input",
    428: "Precondition required",
    500: "Internal error",
    503: "Service unavailable",
    504: "Timeout",
}

#: Errors that mean "the database cannot be reached now", on either side: the
#: write side's psycopg (as itself, or as the eventsourcing library wraps it;
#: ``PoolTimeout`` is a ``psycopg.OperationalError``), the read side's asyncpg,
#: and the socket (``OSError``; ``TimeoutError`` is one). They answer 503 with
#: ``Retry-After``, and are logged as one line with their type only.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    DatabaseUnavailableError,
    StoreOperationalError,
    StoreInterfaceError,
    psycopg.OperationalError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    OSError,
)
#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_SECONDS = 5


class BodyTooLargeError(StarletteHTTPException):
    """A streamed request body grew beyond the configured limit (see ``api.limits``)."""

    rule = "body-too-large"

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


def problem(
    status: int,
    detail: str,
    *,
    rule: str | None = None,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + rule if rule else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        # For people: the same problem in German, from the one vocabulary
        # (domain.labels). Clients written against ``detail`` keep working.
        "title_de": status_title(status),
        "detail_de": _detail_de(status, rule, field),
    }
    if rule:
        body["rule"] = rule
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _detail_de(status: int, rule: str | None, field: str | None) -> str:
    sentence = rule_label(rule) or f"{status_title(status)}."
    return f"{sentence} (Feld: {field})" if field else sentence


def status_for(error: DomainError) -> int:
    for cls, status in STATUS_OF:
        if isinstance(error, cls):
            return status
    return 400


#: pydantic messages that quote (part of) the submitted value, said without it.
_QUOTING_MESSAGES = {
    "uuid_parsing": "Input should be a valid UUID",
    "uuid_type": "Input should be a valid UUID",
    "uuid_version": "Input should be a UUID of another version",
}
#: Location markers pydantic adds itself (a dict key's error sits under "[key]").
_MARKERS = frozenset({"[key]"})
UNKNOWN_KEY = "*"


def safe_message(error: Mapping[str, Any]) -> str:
    """pydantic's message, unless it repeats what was submitted."""
    kind = str(error.get("type", ""))
    if kind in _QUOTING_MESSAGES:
        return _QUOTING_MESSAGES[kind]
    message = str(error.get("msg", "invalid"))
    submitted = error.get("input")
    if isinstance(submitted, str) and len(submitted) >= 3 and submitted in message:
        return "invalid value"
    return message


def field_path(loc: Iterable[Any], known: Callable[[str], bool]) -> str:
    """The location as a dotted field name; keys that are not field names become ``*``.

    A location holds the keys of the submitted JSON, and an unknown key (an extra
    field, a key of ``changes``) is submitted data: it is never repeated.
    """
    parts: list[str] = []
    for i, part in enumerate(loc):
        if i == 0 and part in ("body", "query", "path", "header", "cookie"):
            continue
        if isinstance(part, int):
            parts.append(str(part))
        elif isinstance(part, str) and (
            part in _MARKERS or known(part) or (not parts and part in MILESTONE_MODELS)
        ):
            parts.append(part)
        else:
            parts.append(UNKNOWN_KEY)
    # Discriminated unions insert the tag ("ModuleEntered") into the location.
    if parts and parts[0] in MILESTONE_MODELS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def known_names(openapi: Mapping[str, Any]) -> frozenset[str]:
    """Every parameter and property name the API publishes: safe to repeat in an error."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("properties", "patternProperties"):
                if isinstance(node.get(key), dict):
                    names.update(node[key])
            if node.get("in") in ("query", "path", "header", "cookie") and "name" in node:
                names.add(str(node["name"]))
                names.add(str(node["name"]).lower())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(openapi)
    return frozenset(names)


def _describe(error: Any, known: Callable[[str], bool]) -> dict[str, str]:
    field = field_path(tuple(error.get("loc", ())), known)
    if error.get("type") == "extra_forbidden":
        parent = field.rpartition(".")[0] or "body"
        return {"field": parent, "message": "holds a field that is not accepted"}
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        # pydantic's message quotes the submitted tag; name the allowed ones instead.
        ctx = error.get("ctx") or {}
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        prefix = f"{field}." if field != "body" else ""
        return {
            "field": prefix + discriminator,
            "message": f"must be one of: {ctx.get('expected_tags', 'the documented types')}",
        }
    return {"field": field, "message": safe_message(error)}


def install(app: FastAPI) -> None:
    names: set[str] = set()

    def known(name: str) -> bool:
        if not names:
            names.update(known_names(app.openapi()))
        return name in names

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return problem(status_for(exc), exc.message, rule=exc.rule, field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        refused = _refusal_before_input(request)
        if refused is not None:
            return refused
        # Drop pydantic's "input" and "ctx": they echo submitted (personal) data.
        errors = [_describe(e, known) for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem(422, detail, rule="invalid-input", field=first["field"], errors=errors)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A handler of its own, not the 500 one: Starlette re-raises what reaches
        # the 500 handler, and the server then logs a full traceback per request.
        log.warning(
            "database unavailable (%s): answered 503 (request %s)",
            type(exc).__name__,
            getattr(request.state, "request_id", "-"),
        )
        return problem(
            503,
            "the database cannot be reached just now; retry later",
            rule="database-unavailable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for error_class in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error_class, database_unavailable)

    @app.exception_handler(BodyTooLargeError)
    async def body_too_large(_: Request, exc: BodyTooLargeError) -> JSONResponse:
        return problem(413, str(exc.detail), rule=exc.rule, headers={"Connection": "close"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body FastAPI could not read
            refused = _refusal_before_input(request)
            if refused is not None:
                return refused
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(AccessLogUnavailableError)
    async def access_log_unavailable(
        request: Request, _: AccessLogUnavailableError
    ) -> JSONResponse:
        # The read succeeded but could not be logged: it is not answered (Art. 15 log).
        log.error(
            "read-access log unavailable in %s %s (request %s)",
            request.method,
            request.url.path,
            getattr(request.state, "request_id", "-"),
        )
        return problem(
            503,
            "the read could not be recorded in the read-access log, so it is not answered; "
            "retry shortly",
            rule="access-log-unavailable",
            headers={"Retry-After": str(ACCESS_LOG_RETRY_AFTER)},
        )

    @app.exception_handler(MapperDeserialisationError)
    async def record_integrity(request: Request, _: MapperDeserialisationError) -> JSONResponse:
        # A stored event does not decode or its sealed fields fail authentication
        # (ciphertext moved from another row): a tampering alarm, never a fallback.
        log.error(
            "stored record failed its integrity check in %s %s (request %s)",
            request.method,
            request.url.path,
            getattr(request.state, "request_id", "-"),
        )
        return problem(
            500,
            "a stored record of this participant failed its integrity check; it has been logged",
            rule="record-integrity",
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Log the type and where, not the message: messages may carry data.
        log.error(
            "unhandled %s in %s %s (request %s)",
            type(exc).__name__,
            request.method,
            request.url.path,
            getattr(request.state, "request_id", "-"),
        )
        return problem(
            500, "an unexpected error occurred; it has been logged", rule="internal-error"
        )


def _refusal_before_input(request: Request) -> JSONResponse | None:
    """401/403 first: a body that does not even parse must not outrank the role gate.

    FastAPI reads the JSON body before it solves any dependency, so the route's
    gate (``api.deps.allowed``) never ran; it is applied here instead.
    """
    from lotse.api.deps import refusal_before_input  # api.deps imports this module

    refused = refusal_before_input(request)
    if isinstance(refused, DomainError):
        return problem(status_for(refused), refused.message, rule=refused.rule)
    if isinstance(refused, StarletteHTTPException):
        headers = dict(refused.headers) if refused.headers else None
        return problem(refused.status_code, str(refused.detail), headers=headers)
    return None


def problem_responses(texts: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses, each answered as problem+json."""
    return {
        code: {"description": text, "content": {"application/problem+json": {}}}
        for code, text in texts.items()
    }
