"""Startseite and Anmeldung: where a person lands, and how they sign in."""

from __future__ import annotations

import urllib.parse

from fastapi import Request
from starlette.responses import Response

from lotse.api.deps import RuntimeDep
from lotse.api.pages.navigation import OVERVIEW, start_path
from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SIGN_IN_PAGE, MaybeSignedIn, SignedIn
from lotse.api.sign_in import safe_next

router = page_router()

MAX_NEXT = 2000


@router.get("/")
async def start(request: Request, visitor: MaybeSignedIn) -> Response:
    """Signed in: the role's start page; otherwise the Anmeldung."""
    if visitor is None:
        return redirect(SIGN_IN_PAGE)
    return redirect(start_path(visitor.principal))


@router.get(OVERVIEW)
async def overview(request: Request, visitor: SignedIn) -> Response:
    return render(request, "overview.html")


@router.get(SIGN_IN_PAGE)
async def sign_in_page(
    request: Request,
    runtime: RuntimeDep,
    visitor: MaybeSignedIn,
    next: str | None = None,
    unsaved: str | None = None,
) -> Response:
    # Lenient on purpose: a mangled link still shows the Anmeldung, sending on to "/".
    next_path = safe_next(next if next is not None and len(next) <= MAX_NEXT else None)
    offered = runtime.sign_in.offered() if runtime.sign_in is not None else []
    issuers = [
        {
            "label": issuer.display_name or issuer.name,
            "query": urllib.parse.urlencode({"issuer": issuer.name, "next": next_path}),
        }
        for issuer in offered
    ]
    return render(
        request,
        "sign_in.html",
        {
            "issuers": issuers,
            "demo": runtime.settings.demo_sign_in,
            "demo_query": urllib.parse.urlencode({"next": next_path}),
            "unsaved": unsaved == "1",
            "expired": next_path != "/",
        },
    )
