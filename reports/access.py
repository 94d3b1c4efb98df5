"""Who may run which report for which scope, and who sees unsuppressed figures.

- Funders (and any role without the right to personal data): published releases
  only (``reports.releases``; ``domain.access.may_read_ad_hoc_reports``), never an
  ad-hoc report, a stored run or a change list.
- Coordinators: their own municipality. Case workers: their own provider's figures.
  Auditors: their scope (a municipality, or ``*``). Admins: everything.
- Unsuppressed figures, evidence rows and participant ids in change lists: the roles
  that may read those participants' records anyway (everyone but funders), and
  only when asked for (suppression is on by default).
"""

from __future__ import annotations

from domain.access import ALL_ORGANISATIONS, Principal, Role
from domain.configuration import Configuration
from domain.errors import AccessDeniedError, InvalidInputError


def report_scope(
    principal: Principal,
    config: Configuration,
    municipality: str | None,
    provider: str | None,
) -> tuple[str | None, str | None]:
    """The (municipality, provider) the report covers; refuses what the caller may not see."""
    if municipality is not None and municipality not in config.municipalities:
        msg = "municipality is not a configured municipality"
        raise InvalidInputError(msg, field="municipality", rule="unknown-municipality")
    if provider is not None and provider not in config.providers:
        msg = "provider is not a configured provider"
        raise InvalidInputError(msg, field="provider", rule="unknown-provider")
    if provider is not None:
        own = config.providers[provider].municipality
        if municipality is not None and municipality != own:
            msg = "provider does not belong to municipality"
            raise InvalidInputError(msg, field="provider")
        municipality = None  # the provider fixes it
    role, org = principal.role, principal.organisation
    if role == Role.CASEWORKER:
        if provider not in (None, org) or (
            municipality is not None and municipality != config.municipality_of(org)
        ):
            msg = "case workers receive reports for their own provider only"
            raise AccessDeniedError(msg)
        return None, org
    confined = (
        org
        if role == Role.COORDINATOR or (role == Role.AUDITOR and org != ALL_ORGANISATIONS)
        else None
    )
    if confined is not None:
        if municipality not in (None, confined) or (
            provider is not None and config.providers[provider].municipality != confined
        ):
            msg = f"the role {role.value} receives reports for its own municipality only"
            raise AccessDeniedError(msg)
        return (None, provider) if provider else (confined, None)
    return municipality, provider


def may_see_unsuppressed(principal: Principal) -> bool:
    return principal.role != Role.FUNDER


def check_unsuppressed(principal: Principal) -> None:
    if not may_see_unsuppressed(principal):
        msg = "funders receive published figures only: small counts are always suppressed"
        raise AccessDeniedError(msg, field="unsuppressed")
