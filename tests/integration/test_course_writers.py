"""Concurrent writers on one course, against real PostgreSQL: none is lost, none doubled."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role
from lotse.domain.courses import Courses

TEACHER = Principal("teacher", Role.CASEWORKER, "caritas-ahlen")


def test_sessions_recorded_at_once_on_one_course_are_all_kept(runtime: Runtime) -> None:
    courses = Courses(runtime.journeys)
    course = courses.schedule(
        TEACHER,
        "req",
        programme="durchstarten",
        provider="caritas-ahlen",
        module="F4",
        title="Kurs",
        course_type="sprachkurs",
        planned_lesson_hours=Decimal(40),
        start_date=date(2021, 4, 1),
        end_date=date(2021, 6, 30),
    )
    days = [date(2021, 4, day) for day in range(5, 13)]
    barrier = threading.Barrier(len(days))
    session_ids = []
    failures: list[BaseException] = []

    def hold(day: date) -> None:
        barrier.wait()
        try:
            held = courses.hold_session(
                TEACHER, "req", course.participant_id, session_date=day, lesson_hours=Decimal(3)
            )
            session_ids.append(held.session_id)
        except BaseException as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=hold, args=(day,)) for day in days]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    loaded = courses.load(course.participant_id)
    assert loaded.held_lesson_hours == Decimal(24)
    assert sorted(loaded.sessions) == sorted(session_ids)
    assert loaded.version == 1 + len(days)
