"""Referrals to other providers, and what they let the receiving provider do, without a database."""

from __future__ import annotations

from datetime import date

import pytest

from lotse.domain import access
from lotse.domain.access import Principal, Role, Visibility
from lotse.domain.configuration import Programme, Provider
from lotse.domain.envelope import Envelope
from lotse.domain.errors import (
    AccessDeniedError,
    ParticipantNotFoundError,
    ReferralNotFoundError,
    RuleViolationError,
)
from lotse.domain.participant import Participant
from tests.builders.journeys import on, ready_for_modules, register

VHS = Provider("vhs-warendorf", "Volkshochschule Warendorf", "warendorf")
KIM_ONLY = Provider("kim-warendorf", "KIM Warendorf", "warendorf", programmes=("kim",))
VHS_CW = Principal("lehrerin-1", Role.CASEWORKER, "vhs-warendorf")
VHS_ENV = Envelope("lehrerin-1", "caseworker", "vhs-warendorf", "req-2")


def referred(programme: Programme, module: str = "F4") -> tuple[Participant, str]:
    p = ready_for_modules(programme)
    referral_id = p.make_referral(**on(2), programme=programme, receiving=VHS, module=module)
    p.accept_referral(**{**on(3), "envelope": VHS_ENV}, referral_id=referral_id)
    return p, referral_id


def modules_of(p: Participant, principal: Principal) -> frozenset[str]:
    return access.referred_modules(
        principal, access.accepted_referrals(p.referrals.values()), p.status == "active"
    )


# ------------------------------------------------------------------- the rules


def test_a_referral_rests_on_the_consent_in_force(programme: Programme) -> None:
    p = ready_for_modules(programme)

    referral_id = p.make_referral(**on(2), programme=programme, receiving=VHS, module="F4")

    made = p.referrals[referral_id]
    assert (made.provider, made.module, made.consent_version) == ("vhs-warendorf", "F4", "2020-01")
    assert not made.accepted


def test_a_referral_without_consent_is_refused(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(RuleViolationError) as e:
        p.make_referral(**on(2), programme=programme, receiving=VHS, module="F4")

    assert e.value.rule == "no-consent"
    assert p.referrals == {}


def test_a_referral_to_a_provider_of_another_programme_is_refused(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(RuleViolationError) as e:
        p.make_referral(**on(2), programme=programme, receiving=KIM_ONLY, module="F4")

    assert (e.value.rule, e.value.field) == ("provider-not-in-programme", "provider")


def test_a_referral_to_the_lead_provider_itself_is_refused(programme: Programme) -> None:
    p = ready_for_modules(programme)
    own = Provider("caritas-ahlen", "Caritas", "warendorf")

    with pytest.raises(RuleViolationError) as e:
        p.make_referral(**on(2), programme=programme, receiving=own, module="F4")

    assert e.value.rule == "same-provider"


def test_a_second_open_referral_to_the_same_provider_and_module_is_refused(
    programme: Programme,
) -> None:
    p, _ = referred(programme)

    with pytest.raises(RuleViolationError) as e:
        p.make_referral(**on(4), programme=programme, receiving=VHS, module="F4")

    assert e.value.rule == "referral-already-open"


def test_a_referral_is_accepted_once_and_not_before_it_was_made(programme: Programme) -> None:
    p = ready_for_modules(programme)
    referral_id = p.make_referral(**on(5), programme=programme, receiving=VHS, module="F4")

    with pytest.raises(RuleViolationError) as early:
        p.accept_referral(**on(4), referral_id=referral_id)
    p.accept_referral(**on(6), referral_id=referral_id)
    with pytest.raises(RuleViolationError) as again:
        p.accept_referral(**on(7), referral_id=referral_id)

    assert early.value.rule == "date-before-referral"
    assert again.value.rule == "referral-already-accepted"
    assert p.referrals[referral_id].accepted_on == date(2021, 3, 7)


def test_an_unknown_referral_is_not_found(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(ReferralNotFoundError):
        p.accept_referral(**on(3), referral_id="no-such-referral")


def test_an_ended_referral_grants_nothing_and_cannot_end_twice(programme: Programme) -> None:
    p, referral_id = referred(programme)

    p.end_referral(**on(10), referral_id=referral_id, reason="completed")
    with pytest.raises(RuleViolationError) as e:
        p.end_referral(**on(11), referral_id=referral_id, reason="completed")

    assert e.value.rule == "referral-ended"
    assert modules_of(p, VHS_CW) == frozenset()


def test_withdrawing_consent_ends_the_referrals_resting_on_it(programme: Programme) -> None:
    p, referral_id = referred(programme)

    p.withdraw_consent(**on(8))

    assert p.referrals[referral_id].end_reason == "consent_withdrawn"
    assert [type(e).__name__ for e in p.collect_events()][-2:] == [
        "ReferralEnded",
        "ConsentWithdrawn",
    ]


def test_a_referral_can_still_be_ended_after_the_exit(programme: Programme) -> None:
    p, referral_id = referred(programme)
    p.exit(**on(20), reason="completed", destination="apprenticeship")

    p.end_referral(**on(21), referral_id=referral_id, reason="completed")

    assert p.referrals[referral_id].ended


# ------------------------------------------------------------ the access policy


def test_a_referral_grants_nothing_once_the_participant_exited(programme: Programme) -> None:
    p, _ = referred(programme)

    p.exit(**on(20), reason="completed", destination="apprenticeship")

    assert modules_of(p, VHS_CW) == frozenset()


def test_an_accepted_referral_grants_its_module_to_the_receiving_provider_only(
    programme: Programme,
) -> None:
    p, _ = referred(programme)
    other = Principal("coach-9", Role.CASEWORKER, "diakonie-duesseldorf")

    assert modules_of(p, VHS_CW) == {"F4"}
    assert modules_of(p, other) == frozenset()


def test_a_referral_waiting_for_acceptance_grants_nothing(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.make_referral(**on(2), programme=programme, receiving=VHS, module="F4")

    assert modules_of(p, VHS_CW) == frozenset()


@pytest.mark.parametrize(
    ("milestone", "module", "allowed"),
    [
        ("ModuleEntered", "F4", True),
        ("ModuleExited", "F4", True),
        ("CourseAttendanceRecorded", "F4", True),
        ("ModuleEntered", "F2", False),
        ("CoachingContactLogged", None, False),
        ("ResidenceStatusChanged", None, False),
        ("Exited", None, False),
    ],
)
def test_a_referred_provider_records_only_the_events_of_its_module(
    milestone: str, module: str | None, allowed: bool
) -> None:
    assert access.may_record_as_referred(milestone, module, {"F4"}) is allowed


def test_coaching_contacts_belong_to_a_referral_for_f1() -> None:
    assert access.may_record_as_referred("CoachingContactLogged", None, {"F1"})


def test_a_referred_provider_is_refused_another_module_naming_the_rule() -> None:
    with pytest.raises(AccessDeniedError) as e:
        access.check_may_record_for(VHS_CW, "caritas-ahlen", {"F4"}, "ModuleEntered", "F2")

    assert e.value.rule == "referral-module-only"


def test_a_provider_without_referral_does_not_see_the_participant() -> None:
    with pytest.raises(ParticipantNotFoundError):
        access.check_may_record_for(VHS_CW, "caritas-ahlen", set(), "ModuleEntered", "F4")


@pytest.mark.parametrize(
    ("referred_for", "recorded_here", "expected"),
    [
        ({"F4"}, False, Visibility.REFERRAL),
        (set(), True, Visibility.OWN_ENTRIES),
        (set(), False, Visibility.NONE),
    ],
)
def test_visibility_of_another_providers_participant(
    referred_for: set[str], recorded_here: bool, expected: Visibility
) -> None:
    seen = access.visibility(
        VHS_CW, "caritas-ahlen", "warendorf", referred=referred_for, recorded_here=recorded_here
    )

    assert seen is expected


def test_the_full_state_is_refused_to_a_referred_provider_naming_the_rule() -> None:
    with pytest.raises(AccessDeniedError) as e:
        access.check_full_read(Visibility.REFERRAL)

    assert e.value.rule == "referral-core-data-only"


def test_core_data_hides_sensitive_fields_and_other_modules() -> None:
    row = {
        "participant_id": "p",
        "given_name": "Amina",
        "birth_year": 2001,
        "residence_status": "duldung",
        "nationality": "AF",
        "target_group": "duldung",
        "employment_type": "svp",
        "open_modules": ["F1", "F4"],
    }

    shown = access.core_data(row, {"F4"})

    assert (shown["given_name"], shown["birth_year"], shown["open_modules"]) == (
        "Amina",
        2001,
        ["F4"],
    )
    assert shown["residence_status"] is None
    assert shown["nationality"] is None
    assert shown["target_group"] is None
    assert shown["employment_type"] is None


def test_a_provider_serves_its_own_participants_and_those_referred_to_it_for_the_module(
    programme: Programme,
) -> None:
    p, _ = referred(programme)
    accepted = access.accepted_referrals(p.referrals.values())

    assert access.serves("caritas-ahlen", p.provider, accepted, "F2")
    assert access.serves("vhs-warendorf", p.provider, accepted, "F4")
    assert not access.serves("vhs-warendorf", p.provider, accepted, "F2")
    assert not access.serves("caritas-koeln", p.provider, accepted, "F4")


def test_a_provider_without_programmes_delivers_every_programme() -> None:
    assert VHS.delivers("durchstarten")
    assert not KIM_ONLY.delivers("durchstarten")
