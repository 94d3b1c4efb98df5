"""Who may see and change which participant: the access policy in one place.

Providers are separate data controllers: a case worker sees only the caseload of
the own provider, a coordinator the participants of the own municipality, an
auditor those in the token's scope, a funder no personal data at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.errors import AccessDeniedError

ALL_ORGANISATIONS = "*"


class Role(StrEnum):
    CASEWORKER = "caseworker"
    COORDINATOR = "coordinator"
    FUNDER = "funder"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user acting in a role for an organisation."""

    user: str
    role: Role
    organisation: str


def check_may_record(principal: Principal) -> None:
    """Only case workers (and admins) record milestones; everyone else reads."""
    if principal.role not in (Role.CASEWORKER, Role.ADMIN):
        msg = f"the role {principal.role.value} may not record milestones"
        raise AccessDeniedError(msg)


def check_may_read_personal_data(principal: Principal) -> None:
    if principal.role == Role.FUNDER:
        msg = "funders receive aggregated reports only, never personal data"
        raise AccessDeniedError(msg)


def may_see(principal: Principal, provider: str, municipality: str) -> bool:
    """Is the participant (now with ``provider`` in ``municipality``) in scope?"""
    match principal.role:
        case Role.CASEWORKER:
            return principal.organisation == provider
        case Role.COORDINATOR:
            return principal.organisation == municipality
        case Role.AUDITOR:
            return principal.organisation in (ALL_ORGANISATIONS, municipality)
        case Role.ADMIN:
            return True
        case _:
            return False


def may_write(principal: Principal, provider: str) -> bool:
    return principal.role == Role.ADMIN or (
        principal.role == Role.CASEWORKER and principal.organisation == provider
    )


def check_may_erase(principal: Principal) -> None:
    if principal.role not in (Role.COORDINATOR, Role.ADMIN):
        msg = "only the coordinator of the participant's municipality or an admin may erase"
        raise AccessDeniedError(msg)


# ------------------------------------------------------------------- courses
# Courses (domain/course.py) belong to the provider that holds them, in the
# provider's municipality. Funders receive aggregated reports only.


def may_manage_course(principal: Principal, provider: str) -> bool:
    """Schedule a course, hold sessions, enrol, record attendance: the provider's staff."""
    return principal.role == Role.ADMIN or (
        principal.role == Role.CASEWORKER and principal.organisation == provider
    )


def may_read_course(principal: Principal, provider: str, municipality: str) -> bool:
    """The provider's case workers, the municipality's coordinators, auditors in scope."""
    return principal.role != Role.FUNDER and may_see(principal, provider, municipality)


def check_may_read_courses(principal: Principal) -> None:
    """Course lists name participants by pseudonym: never for funders."""
    if principal.role == Role.FUNDER:
        msg = "funders receive aggregated reports only, never course lists"
        raise AccessDeniedError(msg)


def check_may_manage_courses(principal: Principal) -> None:
    if principal.role not in (Role.CASEWORKER, Role.ADMIN):
        msg = f"the role {principal.role.value} may not record courses"
        raise AccessDeniedError(msg)
