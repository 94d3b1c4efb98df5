"""Corrections keep the journey consistent, voids take entries out, re-entry starts a
new period: the participant's rules, without a database."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from lotse.domain.access import Principal, Role, check_may_void_entry
from lotse.domain.configuration import Programme
from lotse.domain.envelope import Envelope
from lotse.domain.errors import InvalidInputError, RuleViolationError
from lotse.domain.participant import Participant
from lotse.domain.timetravel import replay
from tests.builders.journeys import AMINA

TODAY = date(2022, 6, 1)
INTAKE = date(2021, 3, 1)
ENV = Envelope("coach-1", "caseworker", "caritas-ahlen", "req-1")


def day(n: int) -> date:
    return INTAKE + timedelta(days=n)


def on(n: int, envelope: Envelope = ENV) -> dict[str, Any]:
    return {"envelope": envelope, "today": TODAY, "effective_date": day(n)}


def in_f4(programme: Programme) -> Participant:
    """Registered, eligible, consented, in F4 from day 10 with 4 lesson hours on day 20."""
    p = Participant.register(
        envelope=ENV,
        today=TODAY,
        programme=programme,
        provider="caritas-ahlen",
        municipality="warendorf",
        intake_date=INTAKE,
        **AMINA,
    )
    p.assess_eligibility(**on(1), programme=programme, eligible=True, target_group="duldung")
    p.give_consent(**on(1), programme=programme, consent_version="2020-01")
    p.enter_module(**on(10), programme=programme, module="F4")  # version 4
    p.record_course_attendance(  # version 5
        **on(20), programme=programme, module="F4", lesson_hours=Decimal(4)
    )
    return p


def correct(p: Participant, programme: Programme, version: int, **changes: Any) -> None:
    p.correct_entry(
        **on(70),
        programme=programme,
        corrects_version=version,
        reason="Tippfehler",
        changes=changes,
    )


def void(p: Participant, programme: Programme, version: int) -> None:
    p.void_entry(**on(70), programme=programme, voids_version=version, reason="doppelt erfasst")


# ------------------------------------------------------------- corrections


def test_a_correction_that_makes_a_stay_end_before_it_starts_is_refused(
    programme: Programme,
) -> None:
    p = in_f4(programme)
    p.exit_module(**on(40), programme=programme, module="F4", reason="completed")  # v6
    p.collect_events()

    with pytest.raises(RuleViolationError) as e:
        correct(p, programme, 6, effective_date=day(5))

    assert (e.value.rule, e.value.field) == ("date-before-module-entry", "changes")
    assert (p.version, p.collect_events()) == (6, [])


def test_moving_a_module_entry_after_its_exit_is_refused(programme: Programme) -> None:
    p = in_f4(programme)
    p.exit_module(**on(40), programme=programme, module="F4", reason="completed")

    with pytest.raises(RuleViolationError) as e:
        correct(p, programme, 4, effective_date=day(50))

    # The attendance on day 20 is the first entry that breaks.
    assert e.value.rule == "date-before-module-entry"
    assert "entry 5" in e.value.message


def test_correcting_the_f4_stay_away_refuses_the_lesson_hours_billed_to_f4(
    programme: Programme,
) -> None:
    p = in_f4(programme)

    with pytest.raises(RuleViolationError) as e:
        correct(p, programme, 4, module="F1")

    assert e.value.rule == "module-not-open"


def test_a_correction_moving_an_entry_before_the_intake_is_refused(programme: Programme) -> None:
    p = in_f4(programme)

    with pytest.raises(RuleViolationError) as e:
        correct(p, programme, 5, effective_date=INTAKE - timedelta(days=3))

    assert e.value.rule == "date-before-intake"


def test_a_later_intake_date_that_leaves_entries_before_it_is_refused(
    programme: Programme,
) -> None:
    p = in_f4(programme)

    with pytest.raises(RuleViolationError) as e:
        correct(p, programme, 1, intake_date=day(15))

    assert e.value.rule == "date-before-intake"


def test_a_consistent_correction_is_accepted_and_applied(programme: Programme) -> None:
    p = in_f4(programme)

    correct(p, programme, 4, effective_date=day(12))

    assert p.open_modules == {"F4": day(12)}


# ------------------------------------------------------------------- voids


def test_a_voided_entry_leaves_the_state_and_the_history_keeps_it(programme: Programme) -> None:
    p = in_f4(programme)

    void(p, programme, 5)

    assert p.lesson_hours == {}
    assert p.voided_versions == {5}
    events = p.collect_events()
    assert [type(e).__name__ for e in events][-2:] == ["CourseAttendanceRecorded", "EntryVoided"]


def test_voiding_a_module_entry_with_hours_in_its_stay_is_refused(programme: Programme) -> None:
    p = in_f4(programme)

    with pytest.raises(RuleViolationError) as e:
        void(p, programme, 4)

    assert (e.value.rule, e.value.field) == ("module-not-open", "voids_version")


def test_voiding_a_module_entry_voids_the_stay_as_a_whole(programme: Programme) -> None:
    p = in_f4(programme)
    void(p, programme, 5)  # v6: the hours first
    p.exit_module(**on(40), programme=programme, module="F4", reason="completed")  # v7

    void(p, programme, 4)

    voids = [e for e in p.collect_events() if isinstance(e, Participant.EntryVoided)]
    assert [v.voids_version for v in voids] == [5, 7, 4]
    assert p.open_modules == {}
    assert p.voided_versions == {4, 5, 7}


def test_voiding_the_exit_voids_the_module_exits_recorded_with_it(programme: Programme) -> None:
    p = in_f4(programme)
    p.exit(**on(40), reason="completed", destination="apprenticeship")  # v6 ModuleExited, v7

    void(p, programme, 7)

    assert p.status == "active"
    assert p.open_modules == {"F4": day(10)}


def test_voiding_the_exit_keeps_module_exits_recorded_before_it(programme: Programme) -> None:
    p = in_f4(programme)
    p.exit_module(**on(30), programme=programme, module="F4", reason="completed")  # v6
    p.exit(**on(40), reason="completed", destination="apprenticeship")  # v7, nothing open

    void(p, programme, 7)

    assert (p.status, p.open_modules, p.voided_versions) == ("active", {}, {7})


def test_voiding_an_exit_with_a_follow_up_after_it_is_refused(programme: Programme) -> None:
    p = in_f4(programme)
    p.exit(**on(40), reason="completed", destination="apprenticeship")
    p.record_follow_up(**on(45), destination="apprenticeship", months_after_exit=6)

    with pytest.raises(RuleViolationError) as e:
        void(p, programme, 7)

    assert e.value.rule == "not-exited"


def test_voiding_the_stay_end_of_an_exited_participant_is_refused(programme: Programme) -> None:
    p = in_f4(programme)
    p.exit(**on(40), reason="completed", destination="apprenticeship")  # v6, v7

    with pytest.raises(RuleViolationError) as e:
        void(p, programme, 6)

    assert e.value.rule == "module-open-at-exit"


def test_a_duplicate_registration_is_voided_as_a_whole(programme: Programme) -> None:
    p = in_f4(programme)

    void(p, programme, 1)

    assert p.status == "voided"
    with pytest.raises(RuleViolationError) as e:
        p.log_coaching_contact(**on(71), minutes=30, mode="phone")
    assert e.value.rule == "registration-voided"


def test_an_entry_cannot_be_voided_twice(programme: Programme) -> None:
    p = in_f4(programme)
    void(p, programme, 5)

    with pytest.raises(RuleViolationError) as e:
        void(p, programme, 5)

    assert e.value.rule == "already-voided"


def test_a_void_must_name_an_entry(programme: Programme) -> None:
    p = in_f4(programme)

    with pytest.raises(RuleViolationError) as e:
        void(p, programme, 99)

    assert (e.value.rule, e.value.field) == ("unknown-version", "voids_version")


def test_a_case_worker_never_voids_an_entry_of_another_provider() -> None:
    caseworker = Principal("coach-2", Role.CASEWORKER, "vhs-warendorf")
    coordinator = Principal("ki-1", Role.COORDINATOR, "warendorf")

    with pytest.raises(RuleViolationError) as e:
        check_may_void_entry(caseworker, "caritas-ahlen")

    assert e.value.rule == "entry-of-another-provider"
    check_may_void_entry(coordinator, "caritas-ahlen")  # the coordinator may
    check_may_void_entry(caseworker, "vhs-warendorf")  # and so may the recorder


def test_the_bitemporal_replay_leaves_voided_entries_out(programme: Programme) -> None:
    p = in_f4(programme)
    void(p, programme, 5)
    events = p.collect_events()

    replayed = replay(events)

    assert replayed.participant.lesson_hours == {}
    assert 5 not in replayed.counted_versions


# ---------------------------------------------------------------- re-entry


def exited(programme: Programme) -> Participant:
    p = in_f4(programme)
    p.exit(**on(40), reason="completed", destination="apprenticeship")
    return p


def test_re_entry_while_still_active_is_refused(programme: Programme) -> None:
    p = in_f4(programme)

    with pytest.raises(RuleViolationError) as e:
        p.reenter(**on(50), intake_date=day(50))

    assert e.value.rule == "participant-active"


def test_re_entry_before_the_exit_is_refused(programme: Programme) -> None:
    p = exited(programme)

    with pytest.raises(RuleViolationError) as e:
        p.reenter(**on(35), intake_date=day(35))

    assert (e.value.rule, e.value.field) == ("date-before-exit", "intake_date")


def test_re_entry_intake_must_be_its_effective_date(programme: Programme) -> None:
    p = exited(programme)

    with pytest.raises(InvalidInputError) as e:
        p.reenter(**on(60), intake_date=day(61))

    assert e.value.field == "intake_date"


def test_a_new_period_needs_its_own_eligibility_and_consent(programme: Programme) -> None:
    p = exited(programme)
    p.reenter(**on(60), intake_date=day(60))

    with pytest.raises(RuleViolationError) as e:
        p.enter_module(**on(61), programme=programme, module="F1")
    assert e.value.rule == "not-eligible"
    p.assess_eligibility(**on(61), programme=programme, eligible=True, target_group="duldung")
    with pytest.raises(RuleViolationError) as e:
        p.enter_module(**on(61), programme=programme, module="F1")
    assert e.value.rule == "no-consent"
    p.give_consent(**on(61), programme=programme, consent_version="2020-01")
    p.enter_module(**on(62), programme=programme, module="F4")

    assert (p.status, p.periods, p.period_start) == ("active", 2, day(60))
    assert p.open_modules == {"F4": day(62)}


def test_in_a_new_period_nothing_is_dated_before_its_intake(programme: Programme) -> None:
    p = exited(programme)
    p.reenter(**on(60), intake_date=day(60))

    with pytest.raises(RuleViolationError) as e:
        p.log_coaching_contact(**on(55), minutes=30, mode="phone")

    assert e.value.rule == "date-before-intake"


def test_correcting_an_entry_of_the_first_period_checks_it_in_its_period(
    programme: Programme,
) -> None:
    p = exited(programme)
    p.reenter(**on(60), intake_date=day(60))

    correct(p, programme, 5, effective_date=day(25))  # before the second intake: fine

    with pytest.raises(RuleViolationError) as e:
        correct(p, programme, 8, intake_date=day(39))  # re-entry before the exit
    assert e.value.rule == "date-before-exit"
