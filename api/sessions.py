"""The browser's session cookie and its CSRF check, on top of ``storage.sessions``.

A request authenticates either with a bearer token (programs) or with the session
cookie (people in the browser), never both at once: a bearer token wins. A request
that changes something (POST, PUT, PATCH, DELETE) under a session must carry the
session's CSRF token, in the ``X-CSRF-Token`` header (scripts) or the
``csrf_token`` form field (HTML forms): a cookie alone, which any other site can
make the browser send, is never enough to write.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role
from lotse.storage.sessions import Session

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SIGN_IN_COOKIE = "lotse-sign-in"


def cookie_name(runtime: Runtime) -> str:
    # The __Host- prefix makes browsers refuse the cookie unless it is Secure, for
    # path / and without a Domain: no sibling site can set or overwrite it.
    return "__Host-lotse-session" if runtime.settings.session_cookie_secure else "lotse-session"


def cookies_of(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {k: m.value for k, m in jar.items()}


def session_of(runtime: Runtime, cookies: dict[str, str]) -> Session | None:
    session_id = cookies.get(cookie_name(runtime))
    if not session_id or runtime.sessions is None:
        return None
    settings = runtime.settings
    session = runtime.sessions.find(
        session_id,
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_absolute_hours),
    )
    if session is None:
        return None
    # The directory may have changed since sign-in: a deactivated person, or one
    # whose role was withdrawn, loses the session within seconds.
    standing = runtime.authentication.standing(session.user)
    if standing.known and (
        not standing.active or (session.role, session.organisation) not in standing.memberships
    ):
        runtime.sessions.end(session_id)
        return None
    return session


def principal_of(session: Session) -> Principal | None:
    try:
        return Principal(session.user, Role(session.role), session.organisation)
    except ValueError:
        return None  # a role that no longer exists: sign in again


async def check_csrf(request: Request, session: Session) -> None:
    if request.method not in UNSAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not given or not secrets.compare_digest(given, session.csrf_token):
        msg = "a change made with a session cookie needs the session's CSRF token"
        raise HTTPException(403, msg)


def set_session_cookie(response: Response, runtime: Runtime, session_id: str) -> None:
    response.set_cookie(
        cookie_name(runtime),
        session_id,
        max_age=runtime.settings.session_absolute_hours * 3600,
        path="/",
        secure=runtime.settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, runtime: Runtime) -> None:
    response.delete_cookie(
        cookie_name(runtime),
        path="/",
        secure=runtime.settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
