"""Read model ``course_quarters``: each course's sessions added up per calendar quarter.

The financial report prices a course's held lesson hours per quarter
(``reports.course_evidence``). A statewide year has hundreds of thousands of
sessions but only thousands of courses: adding the sessions up in every request
took about a quarter of a second (``bench/reports.py``, 300,000 sessions), while
these sums are a row or two per course. They are what ``SESSION_SUMS_SQL`` adds
up from ``rm_course_sessions``, kept per course as its events arrive; a report
whose period is made of whole quarters reads them, any other period adds up the
sessions as before.

It folds the courses' own streams with the ``courses`` model's fold, so a
session, a later attendance list and a cancellation count the same in both. It
is a read model of its own (not a table of ``courses``) so that a database made
before it gets it filled by the runner from the log on its first start, as any
new read model.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from lotse.projections.courses import CoursesProjection, CourseState
from lotse.projections.model import Crypto, Projection, Table
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_course_quarters",
    columns=(
        ("course_id", "uuid NOT NULL"),
        ("programme", "text NOT NULL"),
        ("module", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("quarter_start", "date NOT NULL"),
        ("first_session", "date NOT NULL"),
        ("sessions", "int NOT NULL"),
        ("lesson_hours", "numeric NOT NULL"),
        ("present", "int NOT NULL"),
        ("absent", "int NOT NULL"),
        ("excused", "int NOT NULL"),
        ("participant_hours", "numeric NOT NULL"),
    ),
    primary_key=("course_id", "quarter_start"),
    indexes=("programme, quarter_start",),
    key="course_id",
)


def quarter_start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


_COURSES = CoursesProjection()


class CourseQuarters(Projection[CourseState]):
    name = "course_quarters"
    tables = (TABLE,)
    aggregate = "Course"

    def empty(self, participant_id: UUID) -> CourseState:
        return _COURSES.empty(participant_id)

    def apply(
        self, state: CourseState, event: EventRecord, identifiers: dict[str, Any]
    ) -> CourseState:
        return _COURSES.apply(state, event, identifiers)

    def rows(self, state: CourseState, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        c = state.course
        if not c:
            return {TABLE.name: []}
        sums: dict[date, dict[str, Any]] = {}
        for sid, s in state.sessions.items():
            present = absent = excused = 0
            for status, _version in state.marks.get(sid, {}).values():
                if status == "present":
                    present += 1
                elif status == "absent":
                    absent += 1
                else:
                    excused += 1
            day = s["session_date"]
            q = sums.get(quarter_start(day))
            if q is None:
                q = sums[quarter_start(day)] = {
                    "course_id": c["course_id"],
                    "programme": c["programme"],
                    "module": c["module"],
                    "provider": c["provider"],
                    "municipality": c["municipality"],
                    "quarter_start": quarter_start(day),
                    "first_session": day,
                    "sessions": 0,
                    "lesson_hours": Decimal(0),
                    "present": 0,
                    "absent": 0,
                    "excused": 0,
                    "participant_hours": Decimal(0),
                }
            q["first_session"] = min(q["first_session"], day)
            q["sessions"] += 1
            q["lesson_hours"] += s["lesson_hours"]
            q["present"] += present
            q["absent"] += absent
            q["excused"] += excused
            q["participant_hours"] += s["lesson_hours"] * present
        return {TABLE.name: [TABLE.row_of(q) for q in sums.values()]}
