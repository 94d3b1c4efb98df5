"""RFC 9457 problem details: every error leaves the API as application/problem+json.

Domain errors map to status codes here and only here. Bodies name the field or
the rule, never the submitted value: inputs may be personal data.
"""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import MapperDeserialisationError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.application import DuplicateRequestError
from domain.errors import (
    AccessDeniedError,
    DomainError,
    InvalidInputError,
    ParticipantNotFoundError,
    ReferralNotFoundError,
    RuleViolationError,
    VersionConflictError,
)
from domain.labels import rule_label, status_title

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://lotse.readthedocs.io/problems/"

STATUS_OF: list[tuple[type[DomainError], int]] = [
    (DuplicateRequestError, 422),
    (InvalidInputError, 422),
    (RuleViolationError, 409),
    (ParticipantNotFoundError, 404),
    (ReferralNotFoundError, 404),
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
    422: "Invalid input",
    428: "Precondition required",
    500: "Internal error",
    504: "Timeout",
}


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


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # Discriminated unions insert the tag ("ModuleEntered") into the location.
    if parts and parts[0][:1].isupper() and not parts[0].isupper():
        parts = parts[1:]
    return ".".join(parts) or "body"


def _describe(error: Any) -> dict[str, str]:
    field = _field_path(tuple(error.get("loc", ())))
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        # pydantic's message quotes the submitted tag; name the allowed ones instead.
        ctx = error.get("ctx") or {}
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        prefix = f"{field}." if field != "body" else ""
        return {
            "field": prefix + discriminator,
            "message": f"must be one of: {ctx.get('expected_tags', 'the documented types')}",
        }
    return {"field": field, "message": str(error.get("msg", "invalid"))}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return problem(status_for(exc), exc.message, rule=exc.rule, field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        refused = _refusal_before_input(request)
        if refused is not None:
            return refused
        # Drop pydantic's "input" and "ctx": they echo submitted (personal) data.
        errors = [_describe(e) for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem(422, detail, rule="invalid-input", field=first["field"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body FastAPI could not read
            refused = _refusal_before_input(request)
            if refused is not None:
                return refused
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), headers=headers)

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
    from api.deps import refusal_before_input  # api.deps imports this module

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
