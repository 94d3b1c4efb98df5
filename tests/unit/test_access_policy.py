"""The access policy's decisions, without a database (the HTTP matrix is in tests/e2e)."""

from __future__ import annotations

import pytest

from lotse.domain.access import (
    Principal,
    Role,
    check_may_read_reports,
    check_may_record,
    idempotency_scope,
    may_read_run,
    may_see_changed_participant,
    run_within_scope,
)
from lotse.domain.configuration import load_configuration
from lotse.domain.errors import AccessDeniedError

CONFIG = load_configuration()

CASEWORKER = Principal("u", Role.CASEWORKER, "caritas-ahlen")
COORDINATOR = Principal("u", Role.COORDINATOR, "warendorf")
AUDITOR = Principal("u", Role.AUDITOR, "warendorf")
AUDITOR_ALL = Principal("u", Role.AUDITOR, "*")
FUNDER = Principal("u", Role.FUNDER, "bezirksregierung-arnsberg")
ADMIN = Principal("u", Role.ADMIN, "ops")


@pytest.mark.parametrize(
    ("principal", "statewide", "municipality", "own_provider", "other_provider"),
    [
        (CASEWORKER, False, False, True, False),
        (COORDINATOR, False, True, True, True),
        (AUDITOR, False, True, True, True),
        (AUDITOR_ALL, True, True, True, True),
        (FUNDER, True, True, True, True),
        (ADMIN, True, True, True, True),
    ],
)
def test_a_run_is_read_only_within_the_callers_scope(
    principal: Principal,
    statewide: bool,
    municipality: bool,
    own_provider: bool,
    other_provider: bool,
) -> None:
    def within(m: str | None, p: str | None) -> bool:
        return run_within_scope(principal, CONFIG, m, p)

    assert within(None, None) is statewide
    assert within("warendorf", None) is municipality
    assert within(None, "caritas-ahlen") is own_provider
    assert within(None, "vhs-warendorf") is other_provider
    assert within("koeln", None) is (statewide)
    assert within(None, "caritas-koeln") is (statewide)


def test_funders_read_no_evidence_run_and_no_unsuppressed_run() -> None:
    def readable(suppressed: bool, evidence: bool) -> bool:
        return may_read_run(
            FUNDER,
            CONFIG,
            municipality=None,
            provider=None,
            suppressed=suppressed,
            evidence=evidence,
        )

    assert readable(True, False)
    assert not readable(True, True)
    assert not readable(False, False)


def test_a_changed_participant_is_named_only_if_in_scope_now() -> None:
    assert may_see_changed_participant(CASEWORKER, "caritas-ahlen", "warendorf")
    assert not may_see_changed_participant(CASEWORKER, "vhs-warendorf", "warendorf")
    assert may_see_changed_participant(COORDINATOR, "vhs-warendorf", "warendorf")
    assert not may_see_changed_participant(FUNDER, "caritas-ahlen", "warendorf")
    assert not may_see_changed_participant(ADMIN, None, None)


def test_idempotency_claims_are_scoped_by_user_role_and_organisation() -> None:
    scopes = {
        idempotency_scope(Principal("m.schulz", Role.CASEWORKER, "caritas-ahlen")),
        idempotency_scope(Principal("m.schulz", Role.CASEWORKER, "diakonie-duesseldorf")),
        idempotency_scope(Principal("m.schulz", Role.ADMIN, "caritas-ahlen")),
        # Separators inside the parts cannot make two callers collide.
        idempotency_scope(Principal("a:b", Role.ADMIN, "c")),
        idempotency_scope(Principal("a", Role.ADMIN, "b:c")),
    }

    assert len(scopes) == 5


@pytest.mark.parametrize("principal", [COORDINATOR, AUDITOR, AUDITOR_ALL, FUNDER])
def test_only_case_workers_and_admins_record(principal: Principal) -> None:
    with pytest.raises(AccessDeniedError):
        check_may_record(principal)


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (CASEWORKER, True),
        (COORDINATOR, True),
        (AUDITOR, True),
        (FUNDER, True),
        (ADMIN, True),
        (Principal("u", Role.ORG_ADMIN, "caritas-ahlen"), False),
    ],
)
def test_reports_are_for_the_roles_that_read_records_and_for_funders(
    principal: Principal, allowed: bool
) -> None:
    if allowed:
        check_may_read_reports(principal)
    else:
        with pytest.raises(AccessDeniedError):
            check_may_read_reports(principal)
