"""Sign-in and sign-out in the browser (not part of the JSON API's schema).

``GET /auth/login?issuer=NAME[&next=/path]`` sends the browser to the
organisation's provider; the provider sends it back to ``/auth/callback``; a
session cookie is set and the browser goes on to ``next``. ``POST /auth/logout``
ends the session (CSRF token required) and, when the provider offers it, signs
out there too. ``GET /auth/session`` tells the pages who is signed in and the
CSRF token their forms carry.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException

from lotse.api.demo_users import demo_principals
from lotse.api.deps import RuntimeDep
from lotse.api.pages.names import organisation_name
from lotse.api.pages.rendering import render
from lotse.api.runtime import Runtime
from lotse.api.sessions import (
    SIGN_IN_COOKIE,
    check_csrf,
    clear_session_cookie,
    cookie_name,
    session_of,
    set_session_cookie,
)
from lotse.api.sign_in import SignIn, SignInError, safe_next
from lotse.domain.labels import label

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", include_in_schema=False)


def _sign_in(runtime: Runtime) -> SignIn:
    if runtime.sign_in is None:
        raise HTTPException(404, "sign-in is not configured")
    return runtime.sign_in


def _callback_url(request: Request) -> str:
    return str(request.url_for("sign_in_callback"))


@router.get("/login")
async def sign_in_start(
    request: Request,
    runtime: RuntimeDep,
    issuer: Annotated[str, Query(max_length=100)],
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> RedirectResponse:
    try:
        started = _sign_in(runtime).start(issuer, _callback_url(request), next)
    except SignInError as e:
        raise HTTPException(400, str(e)) from None
    response = RedirectResponse(started.authorization_url, status_code=303)
    response.set_cookie(
        SIGN_IN_COOKIE,
        started.state,
        max_age=600,
        path="/auth",
        secure=runtime.settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/callback", name="sign_in_callback")
async def sign_in_callback(
    request: Request,
    runtime: RuntimeDep,
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=4000)] = "",
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    if error is not None:
        raise HTTPException(401, "the organisation's sign-in service refused the sign-in")
    started_here = request.cookies.get(SIGN_IN_COOKIE, "")
    if not state or not code or not secrets.compare_digest(started_here, state):
        # A callback this browser did not start (login CSRF) or a forged state.
        raise HTTPException(401, "this sign-in was not started in this browser: sign in again")
    try:
        principal, issuer, next_path = _sign_in(runtime).finish(state, code, _callback_url(request))
    except SignInError as e:
        log.info("sign-in refused: %s", e)
        raise HTTPException(401, str(e)) from None
    assert runtime.sessions is not None
    session_id, _ = runtime.sessions.open(
        principal.user, principal.role.value, principal.organisation, issuer
    )
    log.info("signed in: role %s at %s", principal.role.value, principal.organisation)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, runtime, session_id)
    response.delete_cookie(SIGN_IN_COOKIE, path="/auth")
    return response


@router.get("/session")
async def current_session(request: Request, runtime: RuntimeDep) -> JSONResponse:
    session = session_of(runtime, dict(request.cookies))
    if session is None:
        raise HTTPException(401, "not signed in", {"WWW-Authenticate": "Bearer"})
    return JSONResponse(
        {
            "user": session.user,
            "role": session.role,
            "organisation": session.organisation,
            "csrf_token": session.csrf_token,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/logout")
async def sign_out(request: Request, runtime: RuntimeDep) -> RedirectResponse:
    session_id = request.cookies.get(cookie_name(runtime))
    session = session_of(runtime, dict(request.cookies))
    if session is None or session_id is None:
        response = RedirectResponse("/", status_code=303)
        clear_session_cookie(response, runtime)
        return response
    await check_csrf(request, session)
    assert runtime.sessions is not None
    runtime.sessions.end(session_id)
    after = str(request.base_url)
    elsewhere = runtime.sign_in.end_session_url(session.issuer, after) if runtime.sign_in else None
    response = RedirectResponse(elsewhere or "/", status_code=303)
    clear_session_cookie(response, runtime)
    return response


# ------------------------------------------------------------------ the demo

DEMO_FORM_COOKIE = "lotse-demo-form"


def _demo_only(runtime: Runtime) -> None:
    # Only `lotse demo` on the embedded database sets this (settings refuse it with
    # DATABASE_URL): nowhere else can anyone become a user by choosing a name.
    if not runtime.settings.demo_sign_in:
        raise HTTPException(404, "Not Found")


@router.get("/demo", response_class=HTMLResponse)
async def demo_sign_in_page(
    request: Request,
    runtime: RuntimeDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> HTMLResponse:
    _demo_only(runtime)
    form_token = secrets.token_urlsafe(24)
    choices = [
        {
            "role": label(p.role),
            "user": p.user,
            "organisation": organisation_name(runtime.journeys.configuration, p.organisation),
        }
        for p in demo_principals()
    ]
    response = render(
        request,
        "demo_sign_in.html",
        {"form_token": form_token, "choices": choices, "next_path": safe_next(next)},
    )
    response.set_cookie(
        DEMO_FORM_COOKIE, form_token, max_age=600, path="/auth", httponly=True, samesite="strict"
    )
    return response


@router.post("/demo")
async def demo_sign_in(request: Request, runtime: RuntimeDep) -> RedirectResponse:
    _demo_only(runtime)
    form = await request.form()
    given, expected = form.get("form_token"), request.cookies.get(DEMO_FORM_COOKIE, "")
    if not isinstance(given, str) or not expected or not secrets.compare_digest(given, expected):
        raise HTTPException(403, "the sign-in form has expired: load it again")
    choice = form.get("user")
    principals = demo_principals()
    if not isinstance(choice, str) or not choice.isdigit() or int(choice) >= len(principals):
        raise HTTPException(422, "choose one of the demo users")
    principal = principals[int(choice)]
    assert runtime.sessions is not None
    session_id, _ = runtime.sessions.open(
        principal.user, principal.role.value, principal.organisation, "demo"
    )
    next_path = form.get("next")
    response = RedirectResponse(
        safe_next(next_path if isinstance(next_path, str) else None), status_code=303
    )
    set_session_cookie(response, runtime, session_id)
    response.delete_cookie(DEMO_FORM_COOKIE, path="/auth")
    return response
