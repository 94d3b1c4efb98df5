"""Who is looking at a page: the person of the browser's session, or a sign-in first.

Pages accept the session cookie only, never a bearer token: a page is for a
person in a browser, and a token pasted into a browser would make every form a
cross-site target. A request without a live session is sent to the Anmeldung
with ``next`` set to the path it asked for (a path of this site only, so the
sign-in can never redirect elsewhere). A form post whose session expired is told
plainly that its entry was not saved (``unsaved=1``); we do not keep entries
across a sign-in, because they may hold personal data of a session that ended.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from lotse.api.deps import get_runtime
from lotse.api.runtime import Runtime
from lotse.api.sessions import UNSAFE_METHODS, check_csrf, principal_of, session_of
from lotse.api.sign_in import safe_next
from lotse.domain.access import Principal
from lotse.storage.sessions import Session

SIGN_IN_PAGE = "/anmeldung"


@dataclass(frozen=True)
class Visitor:
    """The signed-in person a page is rendered for."""

    principal: Principal
    session: Session

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


class SignInRequiredError(Exception):
    """No live session: the page route answers with a redirect to the Anmeldung."""

    def __init__(self, next_path: str, *, unsaved: bool) -> None:
        super().__init__("sign in first")
        self.next_path = next_path
        self.unsaved = unsaved

    def location(self) -> str:
        query = {"next": safe_next(self.next_path)}
        if self.unsaved:
            query["unsaved"] = "1"
        return f"{SIGN_IN_PAGE}?{urllib.parse.urlencode(query)}"


def _return_path(request: Request) -> str:
    """Where to go after signing in: the page asked for; for a post, the page it came from.

    A post's own address only takes posts, so without the page it came from (the
    ``Referer``, which browsers send to this site under ``same-origin``) it is the
    start page. The path only: a query string may hold search terms.
    """
    if request.method in UNSAFE_METHODS:
        parts = urllib.parse.urlsplit(request.headers.get("referer", ""))
        return safe_next(parts.path) if parts.netloc == request.url.netloc else "/"
    return safe_next(request.url.path)


def current_visitor(request: Request, runtime: Runtime) -> Visitor | None:
    session = session_of(runtime, dict(request.cookies))
    principal = principal_of(session) if session is not None else None
    if session is None or principal is None:
        return None
    visitor = Visitor(principal, session)
    request.state.visitor = visitor
    return visitor


async def signed_in(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Visitor:
    """Page dependency: the signed-in person; on a post also its CSRF token checked."""
    visitor = current_visitor(request, runtime)
    if visitor is None:
        raise SignInRequiredError(_return_path(request), unsaved=request.method in UNSAFE_METHODS)
    # A cookie alone, which any other site can make the browser send, never writes.
    await check_csrf(request, visitor.session)
    return visitor


async def maybe_signed_in(
    request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Visitor | None:
    """For pages anyone may see (Anmeldung): the person, if signed in."""
    return current_visitor(request, runtime)


SignedIn = Annotated[Visitor, Depends(signed_in)]
MaybeSignedIn = Annotated[Visitor | None, Depends(maybe_signed_in)]
