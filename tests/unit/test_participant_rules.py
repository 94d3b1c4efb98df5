"""The participant's rules, without a database."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from lotse.domain.configuration import Programme
from lotse.domain.errors import InvalidInputError, RuleViolationError
from tests.builders.journeys import ENV, TODAY, on, ready_for_modules, register

# ---------------------------------------------------------------- registration


def test_registration_records_statistical_facts_beside_identifiers(programme: Programme) -> None:
    p = register(programme)

    assert p.version == 1
    assert (p.birth_year, p.age_at_intake, p.status) == (2001, 19, "active")
    assert p.given_name == "Amina"


def test_birth_date_in_the_future_is_invalid(programme: Programme) -> None:
    with pytest.raises(InvalidInputError) as e:
        register(programme, birth_date=TODAY + timedelta(days=1))
    assert e.value.field == "birth_date"


def test_intake_date_in_the_future_is_invalid(programme: Programme) -> None:
    with pytest.raises(InvalidInputError) as e:
        register(programme, intake_date=TODAY + timedelta(days=1))
    assert e.value.field == "intake_date"


@pytest.mark.parametrize("birth_date", [date(2004, 3, 2), date(1993, 2, 28)])
def test_age_outside_18_to_27_needs_a_justification(programme: Programme, birth_date: date) -> None:
    with pytest.raises(RuleViolationError) as e:
        register(programme, birth_date=birth_date)
    assert e.value.field == "age_exception_reason"


def test_age_outside_range_is_accepted_with_a_justification(programme: Programme) -> None:
    p = register(
        programme, birth_date=date(1992, 1, 1), age_exception_reason="Schulbesuch unterbrochen"
    )

    assert p.age_at_intake == 29


def test_age_27_is_still_in_the_rule(programme: Programme) -> None:
    p = register(programme, birth_date=date(1993, 3, 2))

    assert p.age_at_intake == 27


def test_unknown_vocabulary_names_the_field(programme: Programme) -> None:
    with pytest.raises(InvalidInputError) as e:
        register(programme, residence_status="tourist")
    assert e.value.field == "residence_status"


# -------------------------------------------------------------- effective dates


def test_effective_date_in_the_future_is_invalid(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(InvalidInputError) as e:
        p.assess_language_level(
            envelope=ENV, today=TODAY, effective_date=TODAY + timedelta(days=1), level="A2"
        )
    assert e.value.field == "effective_date"


def test_effective_date_before_intake_is_refused(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(RuleViolationError) as e:
        p.assess_language_level(**on(-1), level="A2")
    assert e.value.rule == "date-before-intake"


# ---------------------------------------------------------------------- modules


def test_module_entry_needs_an_eligible_assessment(programme: Programme) -> None:
    p = register(programme)
    p.give_consent(**on(1), programme=programme, consent_version="2020-01")

    with pytest.raises(RuleViolationError) as e:
        p.enter_module(**on(2), programme=programme, module="F1")
    assert e.value.rule == "not-eligible"


def test_module_entry_is_refused_after_a_not_eligible_assessment(programme: Programme) -> None:
    p = register(programme)
    p.assess_eligibility(**on(1), programme=programme, eligible=False, target_group="other")
    p.give_consent(**on(1), programme=programme, consent_version="2020-01")

    with pytest.raises(RuleViolationError):
        p.enter_module(**on(2), programme=programme, module="F1")


def test_module_entry_needs_consent(programme: Programme) -> None:
    p = register(programme)
    p.assess_eligibility(**on(1), programme=programme, eligible=True, target_group="duldung")

    with pytest.raises(RuleViolationError) as e:
        p.enter_module(**on(2), programme=programme, module="F1")
    assert e.value.rule == "no-consent"


def test_withdrawn_consent_stops_module_entries(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.withdraw_consent(**on(2))

    with pytest.raises(RuleViolationError) as e:
        p.enter_module(**on(3), programme=programme, module="F1")
    assert e.value.rule == "consent-withdrawn"


def test_new_consent_after_withdrawal_allows_modules_again(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.withdraw_consent(**on(2))
    p.give_consent(**on(3), programme=programme, consent_version="2020-01")

    p.enter_module(**on(4), programme=programme, module="F1")

    assert "F1" in p.open_modules


def test_consent_must_name_a_configured_version(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(InvalidInputError) as e:
        p.give_consent(**on(1), programme=programme, consent_version="1999-01")
    assert e.value.field == "consent_version"


def test_an_open_module_cannot_be_entered_again(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.enter_module(**on(2), programme=programme, module="F4")

    with pytest.raises(RuleViolationError) as e:
        p.enter_module(**on(3), programme=programme, module="F4")
    assert e.value.rule == "module-already-open"


def test_a_module_can_be_entered_again_after_its_exit(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.enter_module(**on(2), programme=programme, module="F4")
    p.exit_module(**on(3), programme=programme, module="F4", reason="aborted_participant")

    p.enter_module(**on(4), programme=programme, module="F4")

    assert p.open_modules == {"F4": date(2021, 3, 5)}


def test_module_exit_needs_the_module_open(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(RuleViolationError) as e:
        p.exit_module(**on(2), programme=programme, module="F2", reason="completed")
    assert e.value.rule == "module-not-open"


def test_f5_is_not_a_participant_module(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(RuleViolationError) as e:
        p.enter_module(**on(2), programme=programme, module="F5")
    assert e.value.rule == "module-not-per-participant"


def test_unknown_module_code_is_invalid_input(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(InvalidInputError) as e:
        p.enter_module(**on(2), programme=programme, module="F9")
    assert e.value.field == "module"


def test_f2_is_closed_to_people_under_an_employment_ban(programme: Programme) -> None:
    p = register(programme)
    p.assess_eligibility(
        **on(1), programme=programme, eligible=True, target_group="duldung", employment_ban=True
    )
    p.give_consent(**on(1), programme=programme, consent_version="2020-01")

    with pytest.raises(RuleViolationError) as e:
        p.enter_module(**on(2), programme=programme, module="F2")
    assert e.value.rule == "employment-ban"


def test_eligible_is_refused_for_people_in_a_reception_centre(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(RuleViolationError):
        p.assess_eligibility(
            **on(1),
            programme=programme,
            eligible=True,
            target_group="duldung",
            lives_in_reception_centre=True,
        )


def test_course_attendance_needs_the_module_open(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(RuleViolationError):
        p.record_course_attendance(
            **on(2), programme=programme, module="F4", lesson_hours=Decimal(4)
        )


def test_attended_hours_cannot_exceed_held_hours(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.enter_module(**on(2), programme=programme, module="F4")

    with pytest.raises(InvalidInputError) as e:
        p.record_course_attendance(
            **on(3),
            programme=programme,
            module="F4",
            lesson_hours=Decimal(4),
            lesson_hours_attended=Decimal(5),
        )
    assert e.value.field == "lesson_hours_attended"


# ---------------------------------------------------- things that must be ongoing


@pytest.mark.parametrize(
    ("command", "kwargs"),
    [
        ("abort_apprenticeship", {"reason": "aborted_participant"}),
        ("complete_apprenticeship", {}),
        ("end_internship", {"reason": "completed"}),
        ("end_entry_qualification", {"reason": "completed"}),
        ("end_employment", {"reason": "other"}),
        ("complete_language_course", {"course_type": "jugendintegrationskurs"}),
    ],
)
def test_ending_something_needs_it_ongoing(
    programme: Programme, command: str, kwargs: dict[str, Any]
) -> None:
    p = register(programme)

    with pytest.raises(RuleViolationError) as e:
        getattr(p, command)(**on(5), **kwargs)
    assert e.value.rule == "not-ongoing"


def test_apprenticeship_started_then_aborted(programme: Programme) -> None:
    p = register(programme)
    p.start_apprenticeship(**on(10), occupation="Koch")

    p.abort_apprenticeship(**on(40), reason="aborted_employer")

    assert p.apprenticeship_since is None


def test_a_second_apprenticeship_cannot_start_while_one_is_ongoing(programme: Programme) -> None:
    p = register(programme)
    p.start_apprenticeship(**on(10), occupation="Koch")

    with pytest.raises(RuleViolationError):
        p.start_apprenticeship(**on(11), occupation="Elektroniker")


# ------------------------------------------------------------------------- exit


def test_exit_closes_open_modules_with_explicit_events(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.enter_module(**on(2), programme=programme, module="F1")
    p.enter_module(**on(2), programme=programme, module="F4")
    p.collect_events()

    p.exit(**on(30), reason="moved_away", destination="unknown")

    events = p.collect_events()
    assert [type(e).__name__ for e in events] == ["ModuleExited", "ModuleExited", "Exited"]
    assert {e.reason for e in events[:2]} == {"moved_away"}  # type: ignore[attr-defined]
    assert p.open_modules == {}
    assert p.status == "exited"


def test_after_exit_only_follow_ups_and_corrections_are_accepted(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.exit(**on(30), reason="completed", destination="apprenticeship")

    with pytest.raises(RuleViolationError) as e:
        p.assess_language_level(**on(31), level="B1")
    assert e.value.rule == "participant-exited"
    p.record_follow_up(**on(210), destination="apprenticeship", months_after_exit=6)
    p.correct_entry(
        **on(211),
        programme=programme,
        corrects_version=2,
        reason="Tippfehler",
        changes={"target_group": "gestattung"},
    )
    assert p.follow_ups == [(6, "apprenticeship")]


def test_follow_up_needs_an_exit(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(RuleViolationError) as e:
        p.record_follow_up(**on(200), destination="school", months_after_exit=6)
    assert e.value.rule == "not-exited"


# ------------------------------------------------------------------ corrections


def test_correction_changes_the_state_and_keeps_both_versions(programme: Programme) -> None:
    p = ready_for_modules(programme)
    p.enter_module(**on(2), programme=programme, module="F4")

    p.correct_entry(
        **on(3),
        programme=programme,
        corrects_version=4,
        reason="falscher Baustein",
        changes={"module": "F1"},
    )

    assert p.open_modules == {"F1": date(2021, 3, 3)}
    assert p._entries[4].module == "F1"  # type: ignore[attr-defined]
    assert p.corrections == 1


def test_correction_of_the_birth_date_recomputes_age(programme: Programme) -> None:
    p = register(programme)

    p.correct_entry(
        **on(1),
        programme=programme,
        corrects_version=1,
        reason="Pass",
        changes={"birth_date": date(2000, 1, 1)},
    )

    assert (p.birth_date, p.birth_year, p.age_at_intake) == (date(2000, 1, 1), 2000, 21)


def test_correction_must_reference_an_earlier_entry(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(RuleViolationError) as e:
        p.correct_entry(
            **on(1), programme=programme, corrects_version=7, reason="x", changes={"level": "A1"}
        )
    assert e.value.field == "corrects_version"


def test_correction_needs_a_reason(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(InvalidInputError) as e:
        p.correct_entry(
            **on(1), programme=programme, corrects_version=1, reason=" ", changes={"gender": "male"}
        )
    assert e.value.field == "reason"


def test_correction_cannot_reference_another_correction(programme: Programme) -> None:
    p = register(programme)
    p.correct_entry(
        **on(1), programme=programme, corrects_version=1, reason="x", changes={"gender": "male"}
    )

    with pytest.raises(RuleViolationError):
        p.correct_entry(
            **on(1), programme=programme, corrects_version=2, reason="x", changes={"reason": "y"}
        )


def test_correction_validates_the_new_value(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(InvalidInputError) as e:
        p.correct_entry(
            **on(1),
            programme=programme,
            corrects_version=1,
            reason="x",
            changes={"gender": "robot"},
        )
    assert e.value.field == "changes.gender"


def test_provider_is_changed_by_transfer_not_by_correction(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(RuleViolationError):
        p.correct_entry(
            **on(1),
            programme=programme,
            corrects_version=1,
            reason="x",
            changes={"provider": "vhs-warendorf"},
        )


def test_transfer_moves_the_participant_to_another_provider(programme: Programme) -> None:
    p = register(programme)

    p.transfer(**on(20), to_provider="awo-duesseldorf", to_municipality="duesseldorf")

    assert (p.provider, p.municipality) == ("awo-duesseldorf", "duesseldorf")


# ----------------------------------------------------------------------- erasure


def test_erasure_forgets_identifiers_and_keeps_statistics(programme: Programme) -> None:
    p = register(programme)

    assert p.erase_personal_data(
        envelope=ENV, today=TODAY, mode="shred", reason_code="participant_request"
    )

    assert (p.given_name, p.family_name, p.birth_date) == (None, None, None)
    assert (p.birth_year, p.gender) == (2001, "female")
    assert not p.erase_personal_data(
        envelope=ENV, today=TODAY, mode="shred", reason_code="participant_request"
    )


def test_restricted_participants_accept_no_milestones(programme: Programme) -> None:
    p = register(programme)
    p.erase_personal_data(
        envelope=ENV, today=TODAY, mode="restrict", reason_code="participant_request"
    )

    with pytest.raises(RuleViolationError) as e:
        p.assess_language_level(**on(3), level="A1")
    assert e.value.rule == "processing-restricted"
