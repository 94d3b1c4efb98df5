"""The user directory: administrators add people, grant and withdraw roles, deactivate.

``admin`` administers everyone; ``org_admin`` the people with a role at its own
organisation (and those waiting for approval), and never grants administrator
roles. Every change is an event (``domain.user``); the list reads the ``users``
read model, a single user is rebuilt from its events (with name and e-mail).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from lotse.api.deps import CurrentUser, JourneysDep, ReadsDep, RequestId, allowed
from lotse.api.problems import problem_responses
from lotse.api.readmodels import ReadModels
from lotse.api.routes.caseload import await_position
from lotse.api.schemas import Code, Line, Name, Strict
from lotse.domain.access import (
    ALL_ORGANISATIONS,
    Principal,
    Role,
    check_may_administer_users,
)
from lotse.domain.directory import Directory
from lotse.domain.user import User
from lotse.projections.users import query_users

router = APIRouter(prefix="/users", tags=["users"])
ADMINISTER = allowed(check_may_administer_users)

RESPONSES = problem_responses(
    {
        401: "Missing or invalid token",
        403: "The role may not administer users, or not at this organisation",
        404: "Unknown user, or not one the caller administers",
        409: "A rule of the directory forbids this: the body names it",
        422: "Invalid input: the body names the field",
    }
)


async def get_directory(journeys: JourneysDep) -> Directory:
    return Directory(journeys)


DirectoryDep = Annotated[Directory, Depends(get_directory)]


class MembershipBody(Strict):
    role: Role
    member_of: Code = Field(description="The organisation the role is held at")


class UserCreate(Strict):
    issuer: Code = Field(description="The issuer's name in issuers.toml")
    subject: Line = Field(description="The person's subject (sub) at that issuer")
    display_name: Name
    email: Name
    memberships: list[MembershipBody] = Field(default_factory=list, max_length=20)


class DeactivationCreate(Strict):
    reason: Code = Field(examples=["left-organisation"])


class UserView(BaseModel):
    id: UUID
    user_id: str
    issuer: str
    display_name: str | None
    email: str | None
    active: bool
    memberships: list[MembershipBody]
    version: int


class UserListItem(BaseModel):
    id: UUID
    user_id: str
    issuer: str
    active: bool
    waiting: bool = Field(description="No role yet: waiting for an administrator's approval")
    memberships: list[MembershipBody]
    version: int


#: Request schemas of the directory's events (for the event catalogue's check).
USER_MODELS: dict[str, type[BaseModel]] = {
    "UserAdded": UserCreate,
    "MembershipGranted": MembershipBody,
    "MembershipWithdrawn": MembershipBody,
    "UserDeactivated": DeactivationCreate,
    "UserReactivated": Strict,
}


def view(user: User) -> UserView:
    return UserView(
        id=user.id,
        user_id=user.user_id,
        issuer=user.issuer,
        display_name=user.display_name,
        email=user.email,
        active=user.active,
        memberships=[
            MembershipBody(role=Role(r), member_of=o) for r, o in sorted(user.memberships)
        ],
        version=user.version,
    )


@router.get("", dependencies=[ADMINISTER], responses=RESPONSES)
async def list_users(
    principal: CurrentUser,
    reads: ReadsDep,
    waiting: bool | None = None,
    min_position: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[UserListItem]:
    await await_position(reads, ("users",), min_position)
    rows = await directory_rows(reads, principal, waiting=waiting, limit=limit)
    return [_item(r) for r in rows]


async def directory_rows(
    reads: ReadModels, principal: Principal, *, waiting: bool | None, limit: int
) -> list[dict[str, Any]]:
    """The users read model's rows the caller administers (``GET /users``, the
    Benutzer page): an admin everyone, an organisation admin its organisation's
    people and those waiting for approval."""
    check_may_administer_users(principal)
    organisation = None if principal.role == Role.ADMIN else principal.organisation
    if organisation == ALL_ORGANISATIONS:
        organisation = None
    async with reads.pool.acquire() as conn:
        return await query_users(conn, organisation=organisation, waiting=waiting, limit=limit)


def _item(row: dict[str, Any]) -> UserListItem:
    return UserListItem(
        id=row["stream_id"],
        user_id=row["user_id"],
        issuer=row["issuer"],
        active=row["active"],
        waiting=row["waiting"],
        memberships=[
            MembershipBody(role=Role(r), member_of=o) for r, o in orjson.loads(row["memberships"])
        ],
        version=row["version"],
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, dependencies=[ADMINISTER], responses=RESPONSES
)
def add_user(
    body: UserCreate, principal: CurrentUser, request_id: RequestId, directory: DirectoryDep
) -> UserView:
    user = directory.add(
        principal,
        request_id,
        issuer=body.issuer,
        subject=body.subject,
        display_name=body.display_name,
        email=body.email,
        memberships=[(m.role.value, m.member_of) for m in body.memberships],
    )
    return view(user)


@router.get("/{user_id}", dependencies=[ADMINISTER], responses=RESPONSES)
def read_user(user_id: UUID, principal: CurrentUser, directory: DirectoryDep) -> UserView:
    return view(directory.user_for_reading(principal, user_id))


@router.post(
    "/{user_id}/memberships",
    status_code=status.HTTP_201_CREATED,
    dependencies=[ADMINISTER],
    responses=RESPONSES,
)
def grant_membership(
    user_id: UUID,
    body: MembershipBody,
    principal: CurrentUser,
    request_id: RequestId,
    directory: DirectoryDep,
) -> UserView:
    return view(directory.grant(principal, request_id, user_id, body.role.value, body.member_of))


@router.post(
    "/{user_id}/memberships/withdrawal",
    status_code=status.HTTP_201_CREATED,
    dependencies=[ADMINISTER],
    responses=RESPONSES,
)
def withdraw_membership(
    user_id: UUID,
    body: MembershipBody,
    principal: CurrentUser,
    request_id: RequestId,
    directory: DirectoryDep,
) -> UserView:
    return view(directory.withdraw(principal, request_id, user_id, body.role.value, body.member_of))


@router.post(
    "/{user_id}/deactivation",
    status_code=status.HTTP_201_CREATED,
    dependencies=[ADMINISTER],
    responses=RESPONSES,
)
def deactivate_user(
    user_id: UUID,
    body: DeactivationCreate,
    principal: CurrentUser,
    request_id: RequestId,
    directory: DirectoryDep,
) -> UserView:
    return view(directory.deactivate(principal, request_id, user_id, body.reason))


@router.post(
    "/{user_id}/reactivation",
    status_code=status.HTTP_201_CREATED,
    dependencies=[ADMINISTER],
    responses=RESPONSES,
)
def reactivate_user(
    user_id: UUID, principal: CurrentUser, request_id: RequestId, directory: DirectoryDep
) -> UserView:
    return view(directory.reactivate(principal, request_id, user_id))
