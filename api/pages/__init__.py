"""The web pages: German, server-rendered, on the same services as the JSON API.

How a page is built (read this before adding one):

- a module per page area (``home``, ``caseload``, ``participant``, ...) with a
  router from ``routing.page_router()``: errors become German error pages
  (``routing.page_for_error``), the routes stay out of the OpenAPI schema;
- the signed-in person comes from ``visitors.SignedIn`` (the browser session only;
  without one, a redirect to the Anmeldung; on a post the CSRF token is checked);
- the page answers with ``rendering.render(request, "x.html", {...})`` or, after a
  form post, ``rendering.redirect(path)``: both carry the security headers;
- templates in ``api/templates`` extend ``base.html``; every form carries
  ``<input type="hidden" name="csrf_token" value="{{ visitor.csrf_token }}">``;
  forms for a request schema come from ``forms.form_fields`` and
  ``_fields.html``'s ``field`` macro; codes are shown through ``domain.labels``;
- the navigation lists the pages a role may use (``navigation.NAVIGATION``);
- a page that shows a participant's data records it with ``api.deps.ReadAccess``
  (as the JSON routes do); a form that writes carries an ``idempotency_key``
  (generated into the page) and, for a participant, the ``version`` it showed;
  after the write it redirects with ``?stand=<position>`` and the next page waits
  for its read models (``freshness.catch_up``);
- register the router in ``install`` below (a fixed path before a ``{id}`` one);
- a browser's unknown path or wrong method (404, 405) gets the German page too
  (``routing.page_for_http_error``); JSON clients and the API's paths keep problem+json.

A page calls the same application service and read-side function as the JSON
route it mirrors; it never decides access itself.
"""

from __future__ import annotations

from collections.abc import Awaitable

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lotse.api.pages import (
    audit,
    caseload,
    courses,
    data_quality,
    dismissals,
    duplicates,
    entries,
    home,
    participant,
    privacy,
    registration,
    reports,
    users,
)
from lotse.api.pages.rendering import STATIC
from lotse.api.pages.routing import answers_with_page, api_prefixes, page_for_http_error

#: What a browser gets as a German page when no route answers it.
PAGE_STATUSES = frozenset({404, 405})


def install(app: FastAPI) -> None:
    """Mount the static files and include every page router (after the JSON API's)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # registration before participant: /teilnehmende/neu is not a participant's id.
    for router in (
        home.router,
        caseload.router,
        registration.router,
        participant.router,
        entries.router,
        dismissals.router,
        courses.router,
        reports.router,
        data_quality.router,
        audit.router,
        privacy.router,
        users.router,
        duplicates.router,
    ):
        app.include_router(router)

    answer_json = app.exception_handlers[HTTPException]
    prefixes: set[str] = set()

    async def unknown_path(request: Request, exc: Exception) -> Response:
        """A browser's unknown path or wrong method: the German page; JSON clients: problem+json."""
        assert isinstance(exc, HTTPException)
        if not prefixes:
            prefixes.update(api_prefixes(request.app))
        if exc.status_code in PAGE_STATUSES and answers_with_page(request, frozenset(prefixes)):
            return page_for_http_error(request, exc)
        answer = answer_json(request, exc)
        return await answer if isinstance(answer, Awaitable) else answer

    app.add_exception_handler(HTTPException, unknown_path)
