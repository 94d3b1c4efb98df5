"""Courses: scheduling, enrolments, sessions held and their attendance lists.

Writes go through ``domain.courses.Courses`` (rules, scope, Idempotency-Key and
If-Match as for participants); ``GET /courses`` reads the ``courses`` read model,
scoped in SQL; ``GET /courses/{id}`` rebuilds the course from its events.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field

from lotse.api.deps import CurrentUser, ReadsDep, RequestId, RuntimeDep, allowed
from lotse.api.problems import problem_responses
from lotse.api.readmodels import ReadModels
from lotse.api.routes.caseload import await_position
from lotse.api.routes.participants import (
    IdempotencyKey,
    IfMatch,
    etag,
    expected_version,
    request_key,
)
from lotse.api.schemas import Code, Name, Strict
from lotse.domain.access import (
    Principal,
    check_may_manage_courses,
    check_may_read_courses,
    narrow,
    personal_data_scope,
)
from lotse.domain.application import Recorded, RequestKey
from lotse.domain.course import AttendanceStatus, Course, CourseType, ReasonCode
from lotse.domain.courses import Courses
from lotse.projections.courses import query_courses

router = APIRouter(prefix="/courses", tags=["courses"])
#: Gates that refuse a role before its input is looked at (403 before 422).
MANAGE = allowed(check_may_manage_courses)
READ = allowed(check_may_read_courses)

ORG_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Hours = Annotated[Decimal, Field(max_digits=8, decimal_places=2)]

READ_RESPONSES = problem_responses(
    {
        401: "Missing or invalid token",
        403: "The role may not read courses (funders: aggregated reports only)",
        404: "Unknown course, or not in the caller's scope",
        422: "Invalid parameter: the body names it",
        504: "The read model did not reach min_position in time",
    }
)
WRITE_RESPONSES = {
    **READ_RESPONSES,
    **problem_responses(
        {
            400: "The body cannot be parsed as JSON",
            409: "A rule of the course forbids this: the body names it",
            412: "If-Match is stale",
        }
    ),
}


async def get_courses(runtime: RuntimeDep) -> Courses:
    return runtime.courses


CoursesDep = Annotated[Courses, Depends(get_courses)]


# ------------------------------------------------------------------ models


class CourseCreate(Strict):
    programme: Code
    module: Code = Field(examples=["F4"])
    provider: str = Field(pattern=ORG_ID)
    title: Name
    course_type: CourseType
    planned_lesson_hours: Hours
    start_date: date
    end_date: date


class CourseCreated(BaseModel):
    id: UUID
    version: int
    position: int = Field(description="Notification log position, for read-your-writes")


class CourseChanged(BaseModel):
    version: int
    position: int


class EnrolmentCreate(Strict):
    participant_id: UUID
    effective_date: date


class WithdrawalCreate(Strict):
    participant_id: UUID
    effective_date: date
    reason: ReasonCode


class AttendanceEntry(Strict):
    participant_id: UUID
    status: AttendanceStatus


class SessionCreate(Strict):
    date: date
    lesson_hours: Hours
    attendance: list[AttendanceEntry] | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="The session's whole attendance list, recorded with it in one transaction",
    )


class SessionCreated(BaseModel):
    session_id: UUID
    version: int
    position: int


class AttendanceCreate(Strict):
    entries: list[AttendanceEntry] = Field(
        min_length=1, max_length=500, description="The whole list of the session"
    )


class ExamFeeCreate(Strict):
    effective_date: date
    amount_eur: Annotated[Decimal, Field(max_digits=10, decimal_places=2)]
    receipt_reference: Code
    participant_id: UUID | None = None


class CompletionCreate(Strict):
    effective_date: date


class CancellationCreate(Strict):
    effective_date: date
    reason: ReasonCode


#: The request schema of each course event (the event catalogue's check).
COURSE_MODELS: dict[str, type[Strict]] = {
    "CourseScheduled": CourseCreate,
    "ParticipantEnrolled": EnrolmentCreate,
    "ParticipantWithdrawn": WithdrawalCreate,
    "SessionHeld": SessionCreate,
    "AttendanceRecorded": AttendanceCreate,
    "ExamFeeIncurred": ExamFeeCreate,
    "CourseCancelled": CancellationCreate,
    "CourseCompleted": CompletionCreate,
}


class CourseSummary(BaseModel):
    id: UUID
    version: int
    programme: str
    module: str
    provider: str
    municipality: str
    title: str
    course_type: str
    planned_lesson_hours: Decimal
    start_date: date
    end_date: date
    status: str
    held_lesson_hours: Decimal
    sessions: int
    enrolled: int


class CoursePage(BaseModel):
    items: list[CourseSummary]
    position: int = Field(description="The read model's position in the notification log")


class AttendancePublic(BaseModel):
    participant_id: UUID
    status: str


class SessionPublic(BaseModel):
    id: UUID
    date: date
    lesson_hours: Decimal
    present: int
    absent: int
    excused: int
    attendance: list[AttendancePublic]


class EnrolmentPublic(BaseModel):
    participant_id: UUID
    enrolled_on: date
    withdrawn_on: date | None


class CoursePublic(BaseModel):
    id: UUID
    version: int
    programme: str
    module: str
    provider: str
    municipality: str
    title: str
    course_type: str
    planned_lesson_hours: Decimal
    start_date: date
    end_date: date
    status: str
    held_lesson_hours: Decimal
    exam_fees_eur: Decimal
    enrolments: list[EnrolmentPublic]
    sessions: list[SessionPublic]


def course_public(course: Course) -> CoursePublic:
    sessions = []
    for sid, (day, hours) in sorted(course.sessions.items(), key=lambda s: (s[1][0], str(s[0]))):
        marks = course.attendance.get(sid, {})
        statuses = list(marks.values())
        sessions.append(
            SessionPublic(
                id=sid,
                date=day,
                lesson_hours=hours,
                present=statuses.count("present"),
                absent=statuses.count("absent"),
                excused=statuses.count("excused"),
                attendance=[
                    AttendancePublic(participant_id=pid, status=s) for pid, s in marks.items()
                ],
            )
        )
    return CoursePublic(
        id=course.id,
        version=course.version,
        programme=course.programme,
        module=course.module,
        provider=course.provider,
        municipality=course.municipality,
        title=course.title,
        course_type=course.course_type,
        planned_lesson_hours=course.planned_lesson_hours,
        start_date=course.start_date,
        end_date=course.end_date,
        status=course.status.value,
        held_lesson_hours=course.held_lesson_hours,
        exam_fees_eur=sum(course.exam_fees, Decimal(0)).quantize(Decimal("0.01")),
        enrolments=[
            EnrolmentPublic(
                participant_id=pid, enrolled_on=since, withdrawn_on=course.withdrawn.get(pid)
            )
            for pid, since in course.enrolled.items()
        ],
        sessions=sessions,
    )


class CourseWrite:
    """What every change to an existing course takes besides its body and answers with.

    The caller, the application service, the request's id and the Idempotency-Key and
    If-Match headers, gathered once as a dependency so that each route says only
    what is its own: the command and its fields.
    """

    def __init__(
        self,
        principal: CurrentUser,
        courses: CoursesDep,
        request_id: RequestId,
        response: Response,
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
    ) -> None:
        self.principal = principal
        self.courses = courses
        self.request_id = request_id
        self.response = response
        self.idempotency_key = idempotency_key
        self.if_match = if_match

    def expected_version(self) -> int | None:
        # Parsed here, not in __init__: a malformed If-Match is the caller's input
        # error (422 naming the header), reported after the role gate.
        return expected_version(self.if_match)

    def request_key(self, operation: str, path: str, body: BaseModel) -> RequestKey | None:
        return request_key(self.principal, self.idempotency_key, operation, path, body)

    def changed(self, result: Recorded) -> CourseChanged:
        self.response.headers["ETag"] = etag(result.version)
        if result.replayed:
            self.response.headers["Idempotent-Replayed"] = "true"
        return CourseChanged(version=result.version, position=result.position)


CourseWriteDep = Annotated[CourseWrite, Depends()]


# ------------------------------------------------------------------ routes


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseCreated,
    responses=WRITE_RESPONSES,
    dependencies=[MANAGE],
)
def schedule_course(
    body: CourseCreate,
    principal: CurrentUser,
    courses: CoursesDep,
    request_id: RequestId,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CourseCreated:
    """Schedule a course of a provider in a module held in courses (F2, F3, F4)."""
    result = courses.schedule(
        principal,
        request_id,
        programme=body.programme,
        provider=body.provider,
        module=body.module,
        title=body.title,
        course_type=body.course_type.value,
        planned_lesson_hours=body.planned_lesson_hours,
        start_date=body.start_date,
        end_date=body.end_date,
        request_key=request_key(principal, idempotency_key, "course", "/courses", body),
    )
    response.headers["Location"] = f"/courses/{result.participant_id}"
    response.headers["ETag"] = etag(result.version)
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CourseCreated(id=result.participant_id, version=result.version, position=result.position)


@router.get("", response_model=CoursePage, responses=READ_RESPONSES, dependencies=[READ])
async def list_courses(
    principal: CurrentUser,
    reads: ReadsDep,
    provider: Annotated[str | None, Query(pattern=ORG_ID)] = None,
    municipality: Annotated[str | None, Query(pattern=ORG_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    min_position: Annotated[int | None, Query(ge=0, description="Wait for your own write")] = None,
) -> CoursePage:
    """The courses in the caller's scope: own provider, own municipality, or all."""
    rows, position = await course_list(
        reads,
        principal,
        provider=provider,
        municipality=municipality,
        limit=limit,
        min_position=min_position,
    )
    return CoursePage(
        items=[CourseSummary(id=r["course_id"], **{k: r[k] for k in _SUMMARY}) for r in rows],
        position=position,
    )


async def course_list(
    reads: ReadModels,
    principal: Principal,
    *,
    provider: str | None = None,
    municipality: str | None = None,
    limit: int = 100,
    min_position: int | None = None,
) -> tuple[list[Any], int]:
    """The courses read model's rows in the caller's scope, and its position.

    The one read of the course list: ``GET /courses`` and the Kurse page call it.
    """
    check_may_read_courses(principal)
    own_provider, own_municipality = personal_data_scope(principal)
    await await_position(reads, ("courses",), min_position)
    async with reads.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        position = await conn.fetchval(
            "SELECT position FROM lotse_projections WHERE name = 'courses' AND status = 'active'"
        )
        rows = await query_courses(
            conn,
            provider=narrow(own_provider, provider),
            municipality=narrow(own_municipality, municipality),
            limit=limit,
        )
    return list(rows), int(position or 0)


_SUMMARY = [name for name in CourseSummary.model_fields if name != "id"]


@router.get(
    "/{course_id}", response_model=CoursePublic, responses=READ_RESPONSES, dependencies=[READ]
)
def read_course(
    course_id: UUID, principal: CurrentUser, courses: CoursesDep, response: Response
) -> CoursePublic:
    """A course with its enrolments, sessions and attendance lists (participant ids only)."""
    course = courses.course_for_reading(principal, course_id)
    response.headers["ETag"] = etag(course.version)
    return course_public(course)


@router.post(
    "/{course_id}/enrolments",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseChanged,
    responses=WRITE_RESPONSES,
    dependencies=[MANAGE],
)
def enrol_participant(
    course_id: UUID,
    body: EnrolmentCreate,
    write: CourseWriteDep,
) -> CourseChanged:
    """Enrol a participant of the course's provider."""
    result = write.courses.enrol(
        write.principal,
        write.request_id,
        course_id,
        participant_id=body.participant_id,
        effective_date=body.effective_date,
        expected_version=write.expected_version(),
        request_key=write.request_key("course-enrolment", f"/courses/{course_id}/enrolments", body),
    )
    return write.changed(result)


@router.post(
    "/{course_id}/withdrawals",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseChanged,
    responses=WRITE_RESPONSES,
    dependencies=[MANAGE],
)
def withdraw_participant(
    course_id: UUID,
    body: WithdrawalCreate,
    write: CourseWriteDep,
) -> CourseChanged:
    """A participant leaves the course; later attendance lists cannot name them."""
    result = write.courses.withdraw(
        write.principal,
        write.request_id,
        course_id,
        participant_id=body.participant_id,
        effective_date=body.effective_date,
        reason=body.reason.value,
        expected_version=write.expected_version(),
        request_key=write.request_key(
            "course-withdrawal", f"/courses/{course_id}/withdrawals", body
        ),
    )
    return write.changed(result)


@router.post(
    "/{course_id}/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionCreated,
    responses=WRITE_RESPONSES,
    dependencies=[MANAGE],
)
def hold_session(
    course_id: UUID,
    body: SessionCreate,
    write: CourseWriteDep,
) -> SessionCreated:
    """Record a session held: its date and the lesson hours the course held.

    With ``attendance``, the session's whole attendance list is recorded with it,
    in the same transaction: both or neither.
    """
    key = write.request_key("course-session", f"/courses/{course_id}/sessions", body)
    if body.attendance is not None:
        held = write.courses.hold_session_with_attendance(
            write.principal,
            write.request_id,
            course_id,
            session_date=body.date,
            lesson_hours=body.lesson_hours,
            entries=[(e.participant_id, e.status.value) for e in body.attendance],
            expected_version=write.expected_version(),
            request_key=key,
        )
    else:
        held = write.courses.hold_session(
            write.principal,
            write.request_id,
            course_id,
            session_date=body.date,
            lesson_hours=body.lesson_hours,
            expected_version=write.expected_version(),
            request_key=key,
        )
    changed = write.changed(held.recorded)
    write.response.headers["Location"] = f"/courses/{course_id}#session-{held.session_id}"
    return SessionCreated(
        session_id=held.session_id, version=changed.version, position=changed.position
    )


@router.post(
    "/{course_id}/sessions/{session_id}/attendance",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseChanged,
    responses=WRITE_RESPONSES,
    dependencies=[MANAGE],
)
def record_attendance(
    course_id: UUID,
    session_id: UUID,
    body: AttendanceCreate,
    write: CourseWriteDep,
) -> CourseChanged:
    """Record the whole attendance list of a session (a later list replaces it)."""
    path = f"/courses/{course_id}/sessions/{session_id}/attendance"
    result = write.courses.record_attendance(
        write.principal,
        write.request_id,
        course_id,
        session_id,
        entries=[(e.participant_id, e.status.value) for e in body.entries],
        expected_version=write.expected_version(),
        request_key=write.request_key("course-attendance", path, body),
    )
    return write.changed(result)


@router.post(
    "/{course_id}/exam-fees",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseChanged,
    responses=WRITE_RESPONSES,
    dependencies=[MANAGE],
)
def incur_exam_fee(
    course_id: UUID,
    body: ExamFeeCreate,
    write: CourseWriteDep,
) -> CourseChanged:
    """An exam fee paid at actual cost, with the receipt's number."""
    result = write.courses.incur_exam_fee(
        write.principal,
        write.request_id,
        course_id,
        effective_date=body.effective_date,
        amount_eur=body.amount_eur,
        receipt_reference=body.receipt_reference,
        participant_id=body.participant_id,
        expected_version=write.expected_version(),
        request_key=write.request_key("course-exam-fee", f"/courses/{course_id}/exam-fees", body),
    )
    return write.changed(result)


def _close(
    outcome: Literal["completed", "cancelled"],
    course_id: UUID,
    body: CompletionCreate | CancellationCreate,
    write: CourseWrite,
) -> CourseChanged:
    path = f"/courses/{course_id}/{'completion' if outcome == 'completed' else 'cancellation'}"
    reason = body.reason.value if isinstance(body, CancellationCreate) else None
    result = write.courses.close(
        write.principal,
        write.request_id,
        course_id,
        outcome=outcome,
        effective_date=body.effective_date,
        reason=reason,
        expected_version=write.expected_version(),
        request_key=write.request_key(f"course-{outcome}", path, body),
    )
    return write.changed(result)


@router.post(
    "/{course_id}/completion",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseChanged,
    responses=WRITE_RESPONSES,
    dependencies=[MANAGE],
)
def complete_course(
    course_id: UUID,
    body: CompletionCreate,
    write: CourseWriteDep,
) -> CourseChanged:
    """The course has ended; nothing more can be recorded on it."""
    return _close("completed", course_id, body, write)


@router.post(
    "/{course_id}/cancellation",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseChanged,
    responses=WRITE_RESPONSES,
    dependencies=[MANAGE],
)
def cancel_course(
    course_id: UUID,
    body: CancellationCreate,
    write: CourseWriteDep,
) -> CourseChanged:
    """The course is cancelled; sessions already held stay in the evidence."""
    return _close("cancelled", course_id, body, write)
