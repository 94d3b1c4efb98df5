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


def may_read_ad_hoc_reports(principal: Principal) -> bool:
    """Reports at any moment, stored runs and their change lists.

    Two ad-hoc cut-offs one event apart single out that event's person, so only the
    roles that may read the participants' records anyway get them; the others
    (funders) read published releases at fixed cut-offs.
    """
    return principal.role != Role.FUNDER


def check_may_read_ad_hoc_reports(principal: Principal) -> None:
    if not may_read_ad_hoc_reports(principal):
        msg = "this role receives published releases only: GET /reports/releases"
        raise AccessDeniedError(msg, rule="published-releases-only")


def may_replay_reports(principal: Principal) -> bool:
    """Reports recomputed by replaying the whole log (seconds each): audit work only."""
    return principal.role in (Role.AUDITOR, Role.ADMIN)


def check_may_replay_reports(principal: Principal) -> None:
    if not may_replay_reports(principal):
        msg = "only auditors and admins may replay reports over the log"
        raise AccessDeniedError(msg, rule="replay-auditors-only")


def may_publish_release(principal: Principal, municipality: str | None) -> bool:
    """Admins publish any release; a coordinator those of the own municipality only."""
    if principal.role == Role.ADMIN:
        return True
    return principal.role == Role.COORDINATOR and municipality == principal.organisation


def check_may_publish_release(principal: Principal, municipality: str | None) -> None:
    if not may_publish_release(principal, municipality):
        msg = "only admins, and coordinators for their own municipality, publish releases"
        raise AccessDeniedError(msg, rule="release-publishers-only")
