"""Read model ``courses``: courses, their sessions, attendance marks and exam fees.

It folds the courses' own streams (``domain.course``), never participants'; every
row carries the course's programme, provider and municipality, so lists and
reports are scoped in SQL like the participants' read models. Participants appear
only by their pseudonymous id. Financial evidence (``reports.course_evidence``)
prices the sessions' lesson hours once per course, with the marks as the proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from lotse.projections.model import Crypto, Projection, Table
from lotse.projections.records import EventRecord

_WHERE_COURSE = (
    ("course_id", "uuid NOT NULL"),
    ("programme", "text NOT NULL"),
    ("module", "text NOT NULL"),
    ("provider", "text NOT NULL"),
    ("municipality", "text NOT NULL"),
)

COURSES = Table(
    name="rm_courses",
    columns=(
        *_WHERE_COURSE,
        ("version", "int NOT NULL"),
        ("title", "text NOT NULL"),
        ("course_type", "text NOT NULL"),
        ("planned_lesson_hours", "numeric NOT NULL"),
        ("start_date", "date NOT NULL"),
        ("end_date", "date NOT NULL"),
        ("status", "text NOT NULL"),
        ("held_lesson_hours", "numeric NOT NULL"),
        ("sessions", "int NOT NULL"),
        ("enrolled", "int NOT NULL"),
        ("position", "bigint NOT NULL"),
    ),
    primary_key=("course_id",),
    indexes=("provider, start_date", "municipality, start_date"),
    key="course_id",
)
SESSIONS = Table(
    name="rm_course_sessions",
    columns=(
        *_WHERE_COURSE,
        ("session_id", "uuid NOT NULL"),
        ("session_date", "date NOT NULL"),
        ("lesson_hours", "numeric NOT NULL"),
        ("teacher", "text NOT NULL"),
        ("present", "int NOT NULL"),
        ("absent", "int NOT NULL"),
        ("excused", "int NOT NULL"),
        ("version", "int NOT NULL"),
        ("position", "bigint NOT NULL"),
        ("attendance_version", "int"),
    ),
    primary_key=("course_id", "session_id"),
    indexes=("programme, municipality, session_date", "programme, provider, session_date"),
    key="course_id",
)
ATTENDANCE = Table(
    name="rm_course_attendance",
    columns=(
        *_WHERE_COURSE,
        ("session_id", "uuid NOT NULL"),
        ("session_date", "date NOT NULL"),
        ("participant_id", "uuid NOT NULL"),
        ("status", "text NOT NULL"),
        ("version", "int NOT NULL"),
    ),
    primary_key=("course_id", "session_id", "participant_id"),
    indexes=("participant_id",),
    key="course_id",
)
FEES = Table(
    name="rm_course_fees",
    columns=(
        *_WHERE_COURSE,
        ("version", "int NOT NULL"),
        ("position", "bigint NOT NULL"),
        ("effective_date", "date NOT NULL"),
        ("amount_eur", "numeric NOT NULL"),
        ("receipt_reference", "text NOT NULL"),
        ("participant_id", "uuid"),
    ),
    primary_key=("course_id", "version"),
    indexes=("programme, municipality, effective_date",),
    key="course_id",
)


@dataclass
class CourseState:
    course_id: UUID
    course: dict[str, Any] = field(default_factory=dict)
    enrolled: set[UUID] = field(default_factory=set)
    sessions: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    marks: dict[UUID, dict[UUID, tuple[str, int]]] = field(default_factory=dict)
    fees: list[dict[str, Any]] = field(default_factory=list)


class CoursesProjection(Projection[CourseState]):
    name = "courses"
    tables = (COURSES, SESSIONS, ATTENDANCE, FEES)
    aggregate = "Course"

    def empty(self, participant_id: UUID) -> CourseState:
        return CourseState(participant_id)

    def apply(
        self, state: CourseState, event: EventRecord, identifiers: dict[str, Any]
    ) -> CourseState:
        d, c = event.data, state.course
        c["version"] = event.version
        c["position"] = event.position
        match event.type:
            case "CourseScheduled":
                c.update(
                    course_id=event.participant_id,
                    programme=d["programme"],
                    module=d["module"],
                    provider=d["provider"],
                    municipality=d["municipality"],
                    title=d["title"],
                    course_type=d["course_type"],
                    planned_lesson_hours=d["planned_lesson_hours"],
                    start_date=d["start_date"],
                    end_date=d["end_date"],
                    status="scheduled",
                )
            case "ParticipantEnrolled":
                state.enrolled.add(d["participant_id"])
            case "ParticipantWithdrawn":
                state.enrolled.discard(d["participant_id"])
            case "SessionHeld":
                state.sessions[d["session_id"]] = {
                    "session_id": d["session_id"],
                    "session_date": event.effective_date,
                    "lesson_hours": Decimal(d["lesson_hours"]),
                    "teacher": d["teacher"],
                    "version": event.version,
                    "position": event.position,
                    "attendance_version": None,
                }
            case "AttendanceRecorded":
                sid = d["session_id"]
                # A later list of the same session replaces the earlier one.
                state.marks[sid] = {
                    UUID(e["participant_id"]): (e["status"], event.version) for e in d["entries"]
                }
                state.sessions[sid]["attendance_version"] = event.version
            case "ExamFeeIncurred":
                state.fees.append(
                    {
                        "version": event.version,
                        "position": event.position,
                        "effective_date": event.effective_date,
                        "amount_eur": Decimal(d["amount_eur"]),
                        "receipt_reference": d["receipt_reference"],
                        "participant_id": d["participant_id"],
                    }
                )
            case "CourseCancelled":
                c["status"] = "cancelled"
            case "CourseCompleted":
                c["status"] = "completed"
        return state

    def rows(self, state: CourseState, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        c = state.course
        if not c:
            # Nothing folded yet (a run's change list asks for the rows before a
            # course's first event): the course has no rows.
            return {table.name: [] for table in self.tables}
        where = {k: c[k] for k, _ in _WHERE_COURSE}
        held = sum((s["lesson_hours"] for s in state.sessions.values()), Decimal(0))
        course_row = {
            **c,
            "held_lesson_hours": held,
            "sessions": len(state.sessions),
            "enrolled": len(state.enrolled),
        }
        sessions = []
        attendance = []
        for sid, s in state.sessions.items():
            marks = state.marks.get(sid, {})
            counts = {"present": 0, "absent": 0, "excused": 0}
            for pid, (status, version) in marks.items():
                counts[status] += 1
                attendance.append(
                    {
                        **where,
                        "session_id": sid,
                        "session_date": s["session_date"],
                        "participant_id": pid,
                        "status": status,
                        "version": version,
                    }
                )
            sessions.append({**where, **s, **counts})
        return {
            COURSES.name: [COURSES.row_of(course_row)],
            SESSIONS.name: [SESSIONS.row_of(r) for r in sessions],
            ATTENDANCE.name: [ATTENDANCE.row_of(r) for r in attendance],
            FEES.name: [FEES.row_of({**where, **f}) for f in state.fees],
        }


# ------------------------------------------------------------------ queries

COURSE_COLUMNS = ", ".join(COURSES.column_names)


async def query_courses(
    conn: asyncpg.Pool | asyncpg.Connection,
    *,
    provider: str | None,
    municipality: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Courses in scope (``None`` = no restriction), newest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {COURSE_COLUMNS} FROM rm_courses "
        "WHERE ($1::text IS NULL OR provider = $1) AND ($2::text IS NULL OR municipality = $2) "
        "ORDER BY start_date DESC, course_id LIMIT $3",
        provider,
        municipality,
        limit,
    )
    return rows
