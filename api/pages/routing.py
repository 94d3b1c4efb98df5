"""Page routes: errors become German pages, never problem+json.

``PageRouter`` is an ``APIRouter`` whose routes (``PageRoute``) catch what the
application raises and answer with the error page (``error.html``) in German,
under the page headers: 404 for a participant that does not exist *or* is not in
the caller's scope (the same page, word for word, so it reveals nothing), 403
with the rule the role runs into, 409 for a rule of the journey or a stale page,
503 when the database or the read-access log cannot be reached. A page that can
show a refusal next to the field it concerns (a form) catches the error itself
and re-renders the form; what reaches this layer is shown as a page of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from eventsourcing.persistence import MapperDeserialisationError
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.visitors import SignInRequiredError, current_visitor
from lotse.api.problems import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, status_for
from lotse.domain.errors import (
    AccessDeniedError,
    CourseNotFoundError,
    DomainError,
    ParticipantNotFoundError,
    ReferralNotFoundError,
    UserNotFoundError,
    VersionConflictError,
)
from lotse.domain.labels import rule_label
from lotse.storage.access_log import AccessLogUnavailableError

log = logging.getLogger(__name__)

NOT_FOUND = (
    ParticipantNotFoundError,
    CourseNotFoundError,
    ReferralNotFoundError,
    UserNotFoundError,
)

#: What each error page says, beyond its title (``domain.labels.status_title``).
MESSAGES = {
    400: "Die Anfrage konnte nicht gelesen werden.",
    403: "Ihre Rolle darf diese Seite oder diesen Schritt nicht verwenden.",
    404: "Diese Seite oder diesen Eintrag gibt es nicht, oder er gehört nicht zu Ihrem"
    " Zuständigkeitsbereich.",
    405: "Diese Adresse nimmt nur abgeschickte Formulare entgegen. Bitte öffnen Sie die"
    " Seite über die Navigation.",
    409: "Eine Regel des Programms verbietet diesen Schritt.",
    413: "Die Eingabe ist zu groß.",
    422: "Die Eingabe ist ungültig.",
    500: "Ein unerwarteter Fehler ist aufgetreten; er wurde protokolliert.",
    503: "Lotse ist gerade nicht erreichbar. Bitte versuchen Sie es in einigen Minuten erneut.",
}
CSRF_REFUSED = (
    "Das Formular ist abgelaufen oder stammt nicht von dieser Seite. Es wurde nichts"
    " gespeichert. Bitte laden Sie die Seite neu und versuchen Sie es erneut."
)
STALE = (
    "Diese Seite ist veraltet: Inzwischen wurde bei dieser Person etwas anderes erfasst."
    " Ihre Eingabe wurde nicht gespeichert. Bitte laden Sie die Seite neu und prüfen Sie,"
    " ob der Schritt noch nötig ist."
)


def error_page(
    request: Request,
    status: int,
    message: str | None = None,
    *,
    reload: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "error.html",
        {
            "status": status,
            "message": message or MESSAGES.get(status, MESSAGES[400]),
            # Reloading means asking for the page again: only a page that was asked for.
            "reload": reload and request.method == "GET",
        },
        status_code=status,
        headers=headers,
    )


def page_for_error(request: Request, error: Exception) -> Response:
    """The German error page for what a page's handler (or its dependencies) raised."""
    if isinstance(error, SignInRequiredError):
        return redirect(error.location())
    if isinstance(error, NOT_FOUND):
        # Unknown and out of scope alike: the rule is not named, nothing differs.
        return error_page(request, 404)
    if isinstance(error, VersionConflictError):
        return error_page(request, 409, STALE, reload=True)
    if isinstance(error, AccessDeniedError):
        return error_page(
            request, 403, rule_label(error.rule) if error.rule != "forbidden" else None
        )
    if isinstance(error, DomainError):
        status = status_for(error)
        return error_page(request, status, rule_label(error.rule))
    if isinstance(error, RequestValidationError):
        # Only path and query parameters are declared on pages: a malformed id is
        # a page that does not exist.
        return error_page(request, 404)
    if isinstance(error, HTTPException):
        if error.status_code == 403:
            return error_page(request, 403, CSRF_REFUSED)
        return error_page(request, error.status_code)
    if isinstance(error, (*DATABASE_UNAVAILABLE, AccessLogUnavailableError)):
        log.warning("page answered 503 (%s)", type(error).__name__)
        return error_page(request, 503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(error, MapperDeserialisationError):
        log.error("stored record failed its integrity check (page %s)", request.url.path)
        return error_page(request, 500, rule_label("record-integrity"))
    # The type and where, not the message: messages may carry data.
    log.error("unhandled %s in page %s %s", type(error).__name__, request.method, request.url.path)
    return error_page(request, 500)


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as e:  # answered as a page, or re-raised unchanged
                return page_for_error(request, e)

        return page


def page_router(**kwargs: Any) -> APIRouter:
    """A router for pages: German error pages, outside the OpenAPI schema."""
    return APIRouter(route_class=PageRoute, include_in_schema=False, **kwargs)


# ------------------------------------------------------------- outside the pages
#
# An unknown path, or a method a path does not take, never reaches a route: the
# application's handler answers it. A browser gets the German page for it; a JSON
# client (and any request for a path of the JSON API) keeps problem+json.

_HTML = ("text/html", "application/xhtml+xml")


def _quality(part: str) -> tuple[str, float]:
    media, *params = (p.strip() for p in part.split(";"))
    q = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
    return media.lower(), q


def wants_page(accept: str) -> bool:
    """Does the Accept header prefer HTML (a browser) to JSON?"""
    html = json = 0.0
    for part in accept.split(",")[:50]:
        media, q = _quality(part)
        if media in _HTML:
            html = max(html, q)
        elif "json" in media:
            json = max(json, q)
    return html > 0 and html > json


def api_prefixes(app: Any) -> frozenset[str]:
    """The first path segments of the JSON API (the paths of its OpenAPI schema)."""
    return frozenset(path.strip("/").split("/", 1)[0] for path in app.openapi()["paths"])


def answers_with_page(request: Request, prefixes: frozenset[str]) -> bool:
    first = request.url.path.strip("/").split("/", 1)[0]
    return first not in prefixes and wants_page(request.headers.get("accept", ""))


def page_for_http_error(request: Request, error: HTTPException) -> Response:
    """The German page for an unknown path (404) or a method the path does not take (405)."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None and getattr(request.state, "visitor", None) is None:
        # The navigation of a signed-in person; without a session, none.
        try:
            current_visitor(request, runtime)
        except Exception:  # an error page shows even when sessions fail
            log.warning("error page without the visitor's session")
    headers = dict(error.headers) if error.headers else None
    return error_page(request, error.status_code, headers=headers)
