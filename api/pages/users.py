"""Benutzer: the user directory for administrators, as ``/users`` keeps it.

Who may sign in, with which role at which organisation, and who is waiting for
approval after a first sign-in. The same calls as the JSON routes
(``api/routes/users.py``): the list reads ``directory_rows`` (``GET /users``), a
person is rebuilt from their events with ``Directory.user_for_reading`` (``GET
/users/{id}``), and granting, withdrawing, deactivating and reactivating go
through ``Directory`` (``POST /users/{id}/...``), so the access policy decides
here as there: an organisation admin sees and changes only the own
organisation's people, and is never offered the administrator roles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.deps import RuntimeDep
from lotse.api.pages.forms_input import domain_error_message, form_text, shown_next_to_field
from lotse.api.pages.names import organisation_names
from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn, Visitor
from lotse.api.problems import status_for
from lotse.api.routes.users import directory_rows
from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role, check_may_administer_users
from lotse.domain.directory import Directory
from lotse.domain.errors import DomainError, InvalidInputError, UserNotFoundError
from lotse.domain.labels import DEACTIVATION_REASONS, role_label
from lotse.domain.user import User

router = page_router()

PATH = "/benutzer"
LIST_SIZE = 500
#: What the page says after each change (``?gespeichert=``).
SAVED = {
    "rolle": "Die Rolle ist vergeben.",
    "entzug": "Die Rolle ist entzogen.",
    "deaktiviert": "Der Zugang ist deaktiviert: Anmeldungen und Kalender-Abonnement enden.",
    "reaktiviert": "Der Zugang ist wieder aktiv.",
}


# ------------------------------------------------------------ view models


def state_text(*, active: bool, waiting: bool) -> str:
    if not active:
        return "deaktiviert"
    return "wartet auf Freigabe" if waiting else "aktiv"


def membership_text(role: str, member_of: str, organisations: Mapping[str, str]) -> str:
    return f"{role_label(role)} – {organisations.get(member_of, member_of)}"  # noqa: RUF001


def grantable_roles(visitor: Visitor) -> list[tuple[str, str]]:
    """The roles the caller may grant: an organisation admin never an administrator role."""
    withheld = (Role.ADMIN, Role.ORG_ADMIN) if visitor.principal.role == Role.ORG_ADMIN else ()
    return [(r.value, role_label(r.value)) for r in Role if r not in withheld]


def grantable_organisations(visitor: Visitor, runtime: Runtime) -> list[tuple[str, str]]:
    """Where the caller may grant a role: an organisation admin only at the own one."""
    names = organisation_names(runtime.configuration)
    principal = visitor.principal
    if principal.role == Role.ORG_ADMIN:
        own = principal.organisation
        return [(own, names.get(own, own))]
    return sorted(names.items(), key=lambda item: item[1])


def _user_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        msg = "no user with this id"
        raise UserNotFoundError(msg) from None


# ------------------------------------------------------------ pages


@router.get(PATH)
async def users_page(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    waiting_only = request.query_params.get("wartend") == "1"
    rows = await directory_rows(
        request.app.state.reads,
        visitor.principal,
        waiting=True if waiting_only else None,
        limit=LIST_SIZE,
    )
    names = organisation_names(runtime.configuration)
    people = [
        {
            "id": row["stream_id"],
            "user_id": row["user_id"],
            "state": state_text(active=row["active"], waiting=row["waiting"]),
            "waiting": row["waiting"] and row["active"],
            "memberships": [
                membership_text(role, org, names) for role, org in _memberships(row["memberships"])
            ],
        }
        for row in rows
    ]
    people.sort(key=lambda p: (not p["waiting"], p["user_id"]))
    return render(
        request,
        "users.html",
        {"people": people, "waiting_only": waiting_only, "limit": LIST_SIZE},
    )


def _memberships(raw: Any) -> list[tuple[str, str]]:
    return [(str(role), str(org)) for role, org in orjson.loads(raw)]


async def _user_page(
    request: Request,
    runtime: Runtime,
    visitor: Visitor,
    stream_id: UUID,
    *,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    directory = Directory(runtime.journeys)
    user: User = await run_in_threadpool(directory.user_for_reading, visitor.principal, stream_id)
    names = organisation_names(runtime.configuration)
    saved = SAVED.get(request.query_params.get("gespeichert", ""))
    return render(
        request,
        "user.html",
        {
            "user": user,
            "state": state_text(active=user.active, waiting=not user.memberships),
            "memberships": [
                {"role": role, "member_of": org, "text": membership_text(role, org, names)}
                for role, org in sorted(user.memberships)
            ],
            "roles": grantable_roles(visitor),
            "organisations": grantable_organisations(visitor, runtime),
            "reasons": list(DEACTIVATION_REASONS.items()),
            "notice": notice,
            "saved": None if notice else saved,
        },
        status_code=status_code,
    )


@router.get(PATH + "/{user_id}")
async def user_page(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, user_id: str
) -> Response:
    check_may_administer_users(visitor.principal)
    return await _user_page(request, runtime, visitor, _user_id(user_id))


#: One change of the directory: (directory, caller, request id, user's stream, form).
Change = Callable[[Directory, Principal, str, UUID, Any], object]


async def _change(
    request: Request,
    runtime: Runtime,
    visitor: Visitor,
    raw_id: str,
    saved: str,
    change: Change,
) -> Response:
    """Run one change of the directory; a refusal is shown at the head of the page."""
    principal = visitor.principal
    check_may_administer_users(principal)
    stream_id = _user_id(raw_id)
    form = await request.form()
    directory = Directory(runtime.journeys)
    try:
        await run_in_threadpool(
            change, directory, principal, request.state.request_id, stream_id, form
        )
    except DomainError as e:
        if not shown_next_to_field(e):
            raise
        return await _user_page(
            request,
            runtime,
            visitor,
            stream_id,
            notice=domain_error_message(e) + " Es wurde nichts gespeichert.",
            status_code=status_for(e),
        )
    return redirect(f"{PATH}/{stream_id}?gespeichert={saved}")


@router.post(PATH + "/{user_id}/rollen")
async def grant(request: Request, runtime: RuntimeDep, visitor: SignedIn, user_id: str) -> Response:
    return await _change(
        request,
        runtime,
        visitor,
        user_id,
        "rolle",
        lambda d, p, rid, sid, form: d.grant(p, rid, sid, *_membership(form)),
    )


@router.post(PATH + "/{user_id}/rollen/entzug")
async def withdraw(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, user_id: str
) -> Response:
    return await _change(
        request,
        runtime,
        visitor,
        user_id,
        "entzug",
        lambda d, p, rid, sid, form: d.withdraw(p, rid, sid, *_membership(form)),
    )


@router.post(PATH + "/{user_id}/deaktivierung")
async def deactivate(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, user_id: str
) -> Response:
    return await _change(
        request,
        runtime,
        visitor,
        user_id,
        "deaktiviert",
        lambda d, p, rid, sid, form: d.deactivate(p, rid, sid, _chosen(form, "reason")),
    )


@router.post(PATH + "/{user_id}/reaktivierung")
async def reactivate(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, user_id: str
) -> Response:
    return await _change(
        request,
        runtime,
        visitor,
        user_id,
        "reaktiviert",
        lambda d, p, rid, sid, _form: d.reactivate(p, rid, sid),
    )


def _membership(form: Any) -> tuple[str, str]:
    return _chosen(form, "role"), _chosen(form, "member_of")


def _chosen(form: Any, name: str) -> str:
    """A choice of the page's lists; anything else is refused as the API refuses it."""
    value = form_text(form, name)
    if name == "reason" and value not in DEACTIVATION_REASONS:
        msg = "choose a reason of the list"
        raise InvalidInputError(msg, field="reason")
    return value
