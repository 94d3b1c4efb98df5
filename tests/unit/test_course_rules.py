"""The course's rules, without a database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from lotse.domain.configuration import Programme
from lotse.domain.course import Course
from lotse.domain.envelope import Envelope
from lotse.domain.errors import CourseNotFoundError, InvalidInputError, RuleViolationError
from lotse.domain.participant import Participant
from tests.builders.journeys import AMINA

TODAY = date(2022, 6, 1)
ENV = Envelope("teacher-1", "caseworker", "caritas-ahlen", "req-1")


def schedule(programme: Programme, **overrides: Any) -> Course:
    args: dict[str, Any] = {
        "envelope": ENV,
        "today": TODAY,
        "programme": programme,
        "module": "F4",
        "provider": "caritas-ahlen",
        "municipality": "warendorf",
        "title": "Berufsvorbereitung Ahlen 1",
        "course_type": "berufsvorbereitender_kurs",
        "planned_lesson_hours": Decimal(42),
        "start_date": date(2021, 4, 1),
        "end_date": date(2021, 6, 30),
    }
    args.update(overrides)
    return Course.schedule(**args)


def session(course: Course, programme: Programme, day: date, hours: str) -> UUID:
    return course.hold_session(
        envelope=ENV,
        today=TODAY,
        programme=programme,
        session_date=day,
        lesson_hours=Decimal(hours),
    )


def enrolled(course: Course, day: date = date(2021, 4, 1)) -> UUID:
    pid = uuid4()
    course.enrol(
        envelope=ENV,
        effective_date=day,
        today=TODAY,
        participant_id=pid,
        participant_programme="durchstarten",
    )
    return pid


# -------------------------------------------------------------- scheduling


def test_a_scheduled_course_knows_its_provider_module_and_dates(programme: Programme) -> None:
    course = schedule(programme)

    assert (course.provider, course.municipality, course.module) == (
        "caritas-ahlen",
        "warendorf",
        "F4",
    )
    assert course.planned_lesson_hours == Decimal(42)
    assert course.held_lesson_hours == Decimal(0)


def test_a_course_is_scheduled_only_in_a_module_held_in_courses(programme: Programme) -> None:
    with pytest.raises(InvalidInputError) as e:
        schedule(programme, module="F1")
    assert e.value.field == "module"


@pytest.mark.parametrize("hours", ["0", "-3", "1.234"])
def test_planned_lesson_hours_must_be_positive_with_two_places(
    programme: Programme, hours: str
) -> None:
    with pytest.raises(InvalidInputError) as e:
        schedule(programme, planned_lesson_hours=Decimal(hours))
    assert e.value.field == "planned_lesson_hours"


def test_a_course_cannot_end_before_it_starts(programme: Programme) -> None:
    with pytest.raises(InvalidInputError) as e:
        schedule(programme, start_date=date(2021, 6, 1), end_date=date(2021, 5, 1))
    assert e.value.rule == "end-before-start"


def test_a_course_lies_within_the_funding_period(programme: Programme) -> None:
    with pytest.raises(RuleViolationError) as e:
        schedule(programme, end_date=date(2023, 12, 31))
    assert e.value.rule == "outside-funding-period"


# ----------------------------------------------------------------- sessions


def test_sessions_add_up_to_the_held_lesson_hours(programme: Programme) -> None:
    course = schedule(programme)
    first = session(course, programme, date(2021, 4, 6), "4")
    second = session(course, programme, date(2021, 4, 7), "3.5")

    assert first != second
    assert course.held_lesson_hours == Decimal("7.5")


def test_a_session_in_the_future_is_refused(programme: Programme) -> None:
    course = schedule(programme, end_date=date(2022, 12, 31))

    with pytest.raises(InvalidInputError) as e:
        session(course, programme, date(2022, 6, 2), "4")
    assert e.value.rule == "date-in-future"
    assert course.sessions == {}


@pytest.mark.parametrize("day", [date(2021, 3, 31), date(2021, 7, 1)])
def test_a_session_outside_the_course_dates_is_refused(programme: Programme, day: date) -> None:
    course = schedule(programme)

    with pytest.raises(RuleViolationError) as e:
        session(course, programme, day, "4")
    assert e.value.rule == "outside-course-dates"


@pytest.mark.parametrize("hours", ["0", "-1"])
def test_lesson_hours_of_a_session_must_be_positive(programme: Programme, hours: str) -> None:
    course = schedule(programme)

    with pytest.raises(InvalidInputError) as e:
        session(course, programme, date(2021, 4, 6), hours)
    assert e.value.field == "lesson_hours"


def test_a_day_holds_at_most_the_configured_lesson_hours(programme: Programme) -> None:
    course = schedule(programme)
    session(course, programme, date(2021, 4, 6), "6")

    with pytest.raises(RuleViolationError) as e:
        session(course, programme, date(2021, 4, 6), "2.5")
    assert e.value.rule == "daily-maximum-exceeded"
    session(course, programme, date(2021, 4, 6), "2")  # exactly the maximum of 8
    assert course.hours_on(date(2021, 4, 6)) == programme.max_lesson_hours_per_day


# --------------------------------------------------------------- attendance


def test_attendance_lists_every_mark_of_a_session(programme: Programme) -> None:
    course = schedule(programme)
    a, b = enrolled(course), enrolled(course)
    sid = session(course, programme, date(2021, 4, 6), "4")

    course.record_attendance(
        envelope=ENV,
        today=TODAY,
        session_id=sid,
        entries=[(a, "present"), (b, "excused")],
        stay_open={a, b},
    )

    assert course.attendance[sid] == {a: "present", b: "excused"}


def test_attendance_of_a_participant_not_enrolled_is_refused(programme: Programme) -> None:
    course = schedule(programme)
    a = enrolled(course)
    stranger = uuid4()
    sid = session(course, programme, date(2021, 4, 6), "4")

    with pytest.raises(RuleViolationError) as e:
        course.record_attendance(
            envelope=ENV,
            today=TODAY,
            session_id=sid,
            entries=[(a, "present"), (stranger, "present")],
            stay_open={a, stranger},
        )
    assert (e.value.rule, e.value.field) == ("not-enrolled", "entries[1].participant_id")
    assert course.attendance == {}


def test_attendance_before_the_enrolment_is_refused(programme: Programme) -> None:
    course = schedule(programme)
    late = enrolled(course, date(2021, 5, 1))
    sid = session(course, programme, date(2021, 4, 6), "4")

    with pytest.raises(RuleViolationError) as e:
        course.record_attendance(
            envelope=ENV, today=TODAY, session_id=sid, entries=[(late, "present")], stay_open={late}
        )
    assert e.value.rule == "not-enrolled"


def test_attendance_needs_an_open_module_stay_on_the_session_date(programme: Programme) -> None:
    course = schedule(programme)
    a = enrolled(course)
    sid = session(course, programme, date(2021, 4, 6), "4")

    with pytest.raises(RuleViolationError) as e:
        course.record_attendance(
            envelope=ENV, today=TODAY, session_id=sid, entries=[(a, "present")], stay_open=set()
        )
    assert e.value.rule == "module-stay-not-open"


def test_attendance_for_an_unknown_session_is_not_found(programme: Programme) -> None:
    course = schedule(programme)
    a = enrolled(course)

    with pytest.raises(CourseNotFoundError):
        course.record_attendance(
            envelope=ENV, today=TODAY, session_id=uuid4(), entries=[(a, "present")], stay_open={a}
        )


def test_a_participant_is_listed_once_per_session(programme: Programme) -> None:
    course = schedule(programme)
    a = enrolled(course)
    sid = session(course, programme, date(2021, 4, 6), "4")

    with pytest.raises(InvalidInputError) as e:
        course.record_attendance(
            envelope=ENV,
            today=TODAY,
            session_id=sid,
            entries=[(a, "present"), (a, "absent")],
            stay_open={a},
        )
    assert e.value.rule == "duplicate"


def test_a_participant_is_enrolled_once(programme: Programme) -> None:
    course = schedule(programme)
    a = enrolled(course)

    with pytest.raises(RuleViolationError) as e:
        course.enrol(
            envelope=ENV,
            effective_date=date(2021, 4, 2),
            today=TODAY,
            participant_id=a,
            participant_programme="durchstarten",
        )
    assert e.value.rule == "already-enrolled"


def test_a_withdrawn_participant_is_not_on_later_lists(programme: Programme) -> None:
    course = schedule(programme)
    a = enrolled(course)
    course.withdraw(
        envelope=ENV,
        effective_date=date(2021, 4, 10),
        today=TODAY,
        participant_id=a,
        reason="participant_left",
    )

    assert course.is_enrolled_on(a, date(2021, 4, 9))
    assert not course.is_enrolled_on(a, date(2021, 4, 10))


# ----------------------------------------------------------- closing, fees


def test_nothing_is_recorded_after_the_course_is_cancelled(programme: Programme) -> None:
    course = schedule(programme)
    course.cancel(
        envelope=ENV, effective_date=date(2021, 4, 2), today=TODAY, reason="too_few_participants"
    )

    with pytest.raises(RuleViolationError) as e:
        session(course, programme, date(2021, 4, 6), "4")
    assert e.value.rule == "course-cancelled"


def test_an_exam_fee_needs_a_receipt_number(programme: Programme) -> None:
    course = schedule(programme)

    with pytest.raises(InvalidInputError) as e:
        course.incur_exam_fee(
            envelope=ENV,
            effective_date=date(2021, 6, 1),
            today=TODAY,
            amount_eur=Decimal("120.00"),
            receipt_reference="Rechnung für Amina",
        )
    assert e.value.field == "receipt_reference"


# ------------------------------------------------- the participant's module stays


def test_a_module_stay_is_open_from_entry_to_exit_inclusive(programme: Programme) -> None:
    env = Envelope("coach-1", "caseworker", "caritas-ahlen", "req-1")
    p = Participant.register(
        envelope=env,
        today=TODAY,
        programme=programme,
        provider="caritas-ahlen",
        municipality="warendorf",
        intake_date=date(2021, 3, 1),
        **AMINA,
    )
    p.assess_eligibility(
        envelope=env,
        effective_date=date(2021, 3, 2),
        today=TODAY,
        programme=programme,
        eligible=True,
        target_group="duldung",
    )
    p.give_consent(
        envelope=env,
        effective_date=date(2021, 3, 2),
        today=TODAY,
        programme=programme,
        consent_version="2020-01",
    )
    p.enter_module(
        envelope=env, effective_date=date(2021, 4, 1), today=TODAY, programme=programme, module="F4"
    )
    p.exit_module(
        envelope=env,
        effective_date=date(2021, 5, 1),
        today=TODAY,
        programme=programme,
        module="F4",
        reason="completed",
    )

    assert not p.module_open_on("F4", date(2021, 3, 31))
    assert p.module_open_on("F4", date(2021, 4, 1))
    assert p.module_open_on("F4", date(2021, 5, 1))
    assert not p.module_open_on("F4", date(2021, 5, 2))
    assert not p.module_open_on("F2", date(2021, 4, 15))


def test_a_course_command_refuses_a_control_character_whatever_its_caller(
    programme: Programme,
) -> None:
    # The domain's last guard (the CLI and the demo bypass the HTTP request models).
    with pytest.raises(InvalidInputError) as e:
        schedule(programme, title="Kurs\x00A")

    assert e.value.field == "title"
