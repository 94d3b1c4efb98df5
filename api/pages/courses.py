"""Kurse: the course list, a new course, a course with its sessions, the attendance list.

The same calls as the JSON routes (``api/routes/courses.py``): the list reads
``course_list`` (``GET /courses``), a course is read with
``Courses.course_for_reading`` (``GET /courses/{id}``), a new course is
``Courses.schedule`` (``POST /courses``), and a session with its whole
attendance list is ``Courses.hold_session_with_attendance`` (``POST
/courses/{id}/sessions`` with ``attendance``): both events in one transaction
under the form's Idempotency-Key, so a double submit is one session. Names of
enrolled participants are shown where the policy lets the caller read them
(``projections.caseload.readable_names_of``), and those reads go to the read-access log.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.deps import ReadAccess, RuntimeDep
from lotse.api.pages.forms_input import (
    decimal_text,
    domain_error_message,
    form_text,
    idempotency_key,
    shown_next_to_field,
    validation_messages,
)
from lotse.api.pages.freshness import Stand, catch_up
from lotse.api.pages.names import organisation_names
from lotse.api.pages.rendering import redirect, render
from lotse.api.pages.routing import page_router
from lotse.api.pages.visitors import SignedIn, Visitor
from lotse.api.readmodels import ReadModels
from lotse.api.routes.courses import (
    AttendanceEntry,
    CourseCreate,
    EnrolmentCreate,
    SessionCreate,
    course_list,
)
from lotse.api.routes.participants import request_key
from lotse.api.runtime import Runtime
from lotse.domain.access import (
    check_may_manage_courses,
    check_may_read_courses,
    may_manage_course,
)
from lotse.domain.course import AttendanceStatus, Course, CourseStatus, CourseType
from lotse.domain.errors import CourseNotFoundError, DomainError
from lotse.domain.labels import label
from lotse.projections.caseload import caseload_page, readable_names_of

router = page_router()

LIST_SIZE = 200
#: Participants offered for enrolment on a course's page.
CANDIDATES = 500


# ------------------------------------------------------------ view models


def pseudonym(participant_id: UUID) -> str:
    """How a participant whose name the caller may not read is shown: a short id."""
    return f"Person {str(participant_id)[:8]}"


def display_name(participant_id: UUID, names: Mapping[UUID, tuple[str | None, str | None]]) -> str:
    if participant_id not in names:
        return pseudonym(participant_id)
    given, family = names[participant_id]
    if given is None and family is None:
        return "(Daten gelöscht)"
    return f"{family or ''}, {given or ''}".strip(", ")


def module_text(code: str, modules: Mapping[str, str]) -> str:
    """A module as people read it: its code with the programme's own name."""
    return f"{code} – {modules[code]}" if code in modules else code  # noqa: RUF001


def course_summary(
    row: Mapping[str, Any], providers: Mapping[str, str], modules: Mapping[str, str]
) -> dict[str, Any]:
    """A row of the courses read model as the list shows it: labels, never codes."""
    return {
        "id": row["course_id"],
        "title": row["title"],
        "provider": providers.get(row["provider"], row["provider"]),
        "module": module_text(row["module"], modules),
        "course_type": label(CourseType(row["course_type"])),
        "start_date": row["start_date"],
        "end_date": row["end_date"],
        "status": label(CourseStatus(row["status"])),
        "held": row["held_lesson_hours"],
        "planned": row["planned_lesson_hours"],
        "sessions": row["sessions"],
        "enrolled": row["enrolled"],
    }


def current_enrolments(course: Course) -> list[UUID]:
    """Participants enrolled and not withdrawn, in enrolment order."""
    return [pid for pid in course.enrolled if pid not in course.withdrawn]


def session_rows(
    course: Course, names: Mapping[UUID, tuple[str | None, str | None]]
) -> list[dict[str, Any]]:
    """The sessions, oldest first, each with its marks by name (or pseudonym)."""
    rows = []
    for sid, (day, hours) in sorted(course.sessions.items(), key=lambda s: (s[1][0], str(s[0]))):
        marks = course.attendance.get(sid, {})
        statuses = list(marks.values())
        rows.append(
            {
                "id": sid,
                "date": day,
                "hours": hours,
                "present": statuses.count(AttendanceStatus.PRESENT),
                "absent": statuses.count(AttendanceStatus.ABSENT),
                "excused": statuses.count(AttendanceStatus.EXCUSED),
                "marks": sorted(
                    (display_name(pid, names), label(AttendanceStatus(status)))
                    for pid, status in marks.items()
                ),
            }
        )
    return rows


def attendance_entries(
    listed: list[UUID], present: set[UUID], excused: set[UUID]
) -> list[tuple[UUID, str]]:
    """The whole list of a session from the form's checkboxes: every listed person
    is marked, present if ticked, else excused if ticked, else absent."""
    entries = []
    for pid in listed:
        if pid in present:
            status = AttendanceStatus.PRESENT
        elif pid in excused:
            status = AttendanceStatus.EXCUSED
        else:
            status = AttendanceStatus.ABSENT
        entries.append((pid, status.value))
    return entries


def entry_row(field: str | None) -> int | None:
    """The row of the attendance list an error names (``entries[3].participant_id``)."""
    if not field or not field.startswith("entries["):
        return None
    try:
        return int(field[len("entries[") : field.index("]")])
    except ValueError:
        return None


# ------------------------------------------------------------------ helpers


def _providers(runtime: Runtime) -> dict[str, str]:
    return organisation_names(runtime.configuration)


def _modules(runtime: Runtime) -> dict[str, str]:
    return {
        m.code: m.name
        for programme in runtime.configuration.programmes.values()
        for m in programme.modules
    }


def _course_modules(runtime: Runtime) -> list[tuple[str, str, str]]:
    """(programme, module code, name) of every module held in courses."""
    return [
        (programme.id, module.code, module.name)
        for programme in runtime.configuration.programmes.values()
        for module in programme.modules
        if module.held_in_courses
    ]


def _uuids(values: list[Any]) -> list[UUID]:
    found = []
    for value in values:
        try:
            found.append(UUID(str(value)))
        except ValueError:
            continue
    return found


async def _names(
    reads: ReadModels, runtime: Runtime, request: Request, visitor: Visitor, ids: list[UUID]
) -> dict[UUID, tuple[str | None, str | None]]:
    if not ids:
        return {}
    async with reads.pool.acquire() as conn:
        names = await readable_names_of(conn, reads.master, visitor.principal, ids)
    # Every name shown is a read of personal data: logged before the page leaves.
    await ReadAccess(runtime, request, visitor.principal).record_many_async(names)
    return names


async def _candidates(
    reads: ReadModels,
    runtime: Runtime,
    request: Request,
    visitor: Visitor,
    course: Course,
    enrolled: set[UUID],
) -> list[tuple[UUID, str]]:
    """Who the course's provider may enrol: its caseload (own and referred participants,
    as ``GET /participants`` lists them) with an open stay in the course's module."""
    async with reads.pool.acquire() as conn:
        rows, _next = await caseload_page(
            conn,
            reads.master,
            visitor.principal,
            provider=course.provider,
            municipality=None,
            status="active",
            module=course.module,
            name_terms=None,
            after=None,
            limit=CANDIDATES,
        )
    shown = [r for r in rows if r["id"] not in enrolled and not r.get("restricted")]
    await ReadAccess(runtime, request, visitor.principal).record_many_async(r["id"] for r in shown)
    names = {r["id"]: (r.get("given_name"), r.get("family_name")) for r in shown}
    return sorted(((pid, display_name(pid, names)) for pid in names), key=lambda c: c[1])


# -------------------------------------------------------------------- pages


@router.get("/kurse")
async def courses_page(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    principal = visitor.principal
    rows, _position = await course_list(request.app.state.reads, principal, limit=LIST_SIZE)
    providers = _providers(runtime)
    try:
        check_may_manage_courses(principal)
        may_schedule = True
    except DomainError:
        may_schedule = False
    return render(
        request,
        "courses.html",
        {
            "courses": [course_summary(r, providers, _modules(runtime)) for r in rows],
            "may_schedule": may_schedule,
        },
    )


def _new_course_context(
    runtime: Runtime, visitor: Visitor, values: Mapping[str, str], errors: Mapping[str, str]
) -> dict[str, Any]:
    principal = visitor.principal
    providers = [
        (p.id, p.name)
        for p in runtime.configuration.providers.values()
        if may_manage_course(principal, p.id)
    ]
    return {
        "values": values,
        "errors": errors,
        "providers": providers,
        "modules": _course_modules(runtime),
        "course_types": [(t.value, label(t)) for t in CourseType],
        "idempotency_key": values.get("idempotency_key") or str(uuid.uuid4()),
    }


@router.get("/kurse/neu")
async def new_course_page(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    check_may_manage_courses(visitor.principal)
    return render(request, "course_new.html", _new_course_context(runtime, visitor, {}, {}))


COURSE_FIELDS = (
    "title",
    "module",
    "provider",
    "course_type",
    "planned_lesson_hours",
    "start_date",
    "end_date",
)


def _course_form(form: Any) -> tuple[dict[str, str], CourseCreate | None, dict[str, str]]:
    """The posted new-course form read as ``POST /courses`` reads its body.

    The submit and the inline check both call it: the same parsing, the same model.
    """
    values = {name: form_text(form, name) for name in (*COURSE_FIELDS, "idempotency_key")}
    programme, _, module = values["module"].partition("/")
    try:
        body = CourseCreate.model_validate(
            {
                "programme": programme,
                "module": module,
                "provider": values["provider"],
                "title": values["title"],
                "course_type": values["course_type"],
                "planned_lesson_hours": decimal_text(values["planned_lesson_hours"]),
                "start_date": values["start_date"],
                "end_date": values["end_date"],
            }
        )
    except ValidationError as e:
        return values, None, validation_messages(e)
    return values, body, {}


def _course_details(body: CourseCreate) -> dict[str, Any]:
    return {
        "programme": body.programme,
        "provider": body.provider,
        "module": body.module,
        "title": body.title,
        "course_type": body.course_type.value,
        "planned_lesson_hours": body.planned_lesson_hours,
        "start_date": body.start_date,
        "end_date": body.end_date,
    }


def _refused_course_form(
    request: Request,
    runtime: Runtime,
    visitor: Visitor,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int,
) -> Response:
    if "programme" in errors:
        errors.setdefault("module", errors.pop("programme"))
    return render(
        request,
        "course_new.html",
        _new_course_context(runtime, visitor, values, errors),
        status_code=status_code,
    )


@router.post("/kurse/neu/pruefen")
async def check_course(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    """The inline check: the form with its German errors, 200 so htmx swaps the field
    just left; every rule of ``Courses.schedule`` applied, nothing written."""
    principal = visitor.principal
    check_may_manage_courses(principal)
    values, body, errors = _course_form(await request.form())
    if body is not None:
        try:
            await run_in_threadpool(
                lambda: runtime.courses.check_schedule(principal, **_course_details(body))
            )
        except DomainError as e:
            if not shown_next_to_field(e):
                raise
            errors = {e.field or "title": domain_error_message(e)}
    return _refused_course_form(request, runtime, visitor, values, errors, 200)


@router.post("/kurse/neu")
async def schedule_course(request: Request, runtime: RuntimeDep, visitor: SignedIn) -> Response:
    principal = visitor.principal
    check_may_manage_courses(principal)
    values, body, errors = _course_form(await request.form())
    if body is not None:
        key = idempotency_key(values["idempotency_key"])
        try:
            result = await run_in_threadpool(
                lambda: runtime.courses.schedule(
                    principal,
                    request.state.request_id,
                    request_key=request_key(principal, key, "course", "/courses", body),
                    **_course_details(body),
                )
            )
        except DomainError as e:
            if not shown_next_to_field(e):
                raise
            errors = {e.field or "title": domain_error_message(e)}
        else:
            return redirect(f"/kurse/{result.participant_id}?stand={result.position}")
    return _refused_course_form(request, runtime, visitor, values, errors, 422)


async def _course_page(
    request: Request,
    runtime: Runtime,
    visitor: Visitor,
    course: Course,
    *,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    principal = visitor.principal
    reads: ReadModels = request.app.state.reads
    enrolled = current_enrolments(course)
    marked = {pid for marks in course.attendance.values() for pid in marks}
    names = await _names(reads, runtime, request, visitor, sorted({*course.enrolled, *marked}))
    may_record = (
        may_manage_course(principal, course.provider) and course.status == CourseStatus.SCHEDULED
    )
    values = values or {}
    errors = errors or {}
    candidates = (
        await _candidates(reads, runtime, request, visitor, course, set(enrolled))
        if may_record
        else []
    )
    rows = [
        {
            "id": pid,
            "name": display_name(pid, names),
            "present": pid in values.get("present", set(enrolled)),
            "excused": pid in values.get("excused", set()),
            "error": errors.get(f"row-{i}"),
        }
        for i, pid in enumerate(enrolled)
    ]
    providers = _providers(runtime)
    return render(
        request,
        "course.html",
        {
            "course": course,
            "provider": providers.get(course.provider, course.provider),
            "course_type": label(CourseType(course.course_type)),
            "module": module_text(course.module, _modules(runtime)),
            "status": label(CourseStatus(course.status)),
            "enrolments": [
                {
                    "name": display_name(pid, names),
                    "since": since,
                    "withdrawn": course.withdrawn.get(pid),
                }
                for pid, since in course.enrolled.items()
            ],
            "sessions": session_rows(course, names),
            "may_record": may_record,
            "candidates": candidates,
            "session_errors": {k: v for k, v in errors.items() if not k.startswith("enrol_")},
            "enrol_errors": {k: v for k, v in errors.items() if k.startswith("enrol_")},
            "attendance": rows,
            "values": values,
            "errors": errors,
            "idempotency_key": values.get("idempotency_key") or str(uuid.uuid4()),
        },
        status_code=status_code,
    )


def _course_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        msg = "no course with this id"
        raise CourseNotFoundError(msg) from None


@router.get("/kurse/{course_id}")
async def course_page(
    course_id: str,
    request: Request,
    runtime: RuntimeDep,
    visitor: SignedIn,
    stand: Stand = None,
) -> Response:
    check_may_read_courses(visitor.principal)
    await catch_up(request.app.state.reads, ("courses", "participants"), stand)
    course = await run_in_threadpool(
        runtime.courses.course_for_reading, visitor.principal, _course_id(course_id)
    )
    return await _course_page(request, runtime, visitor, course)


@router.post("/kurse/{course_id}/termine")
async def hold_session(
    course_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    principal = visitor.principal
    check_may_manage_courses(principal)
    cid = _course_id(course_id)
    courses = runtime.courses
    form = await request.form()
    listed = _uuids(form.getlist("teilnehmende"))
    present = set(_uuids(form.getlist("anwesend")))
    excused = set(_uuids(form.getlist("entschuldigt")))
    values: dict[str, Any] = {
        "date": form_text(form, "date"),
        "lesson_hours": form_text(form, "lesson_hours"),
        "idempotency_key": form_text(form, "idempotency_key"),
        "present": present,
        "excused": excused,
    }
    entries = attendance_entries(listed, present, excused)
    errors: dict[str, str] = {}
    if not entries:
        errors["attendance"] = "Im Kurs ist niemand angemeldet: es gibt keine Liste zu erfassen."
    try:
        body = SessionCreate.model_validate(
            {
                "date": values["date"],
                "lesson_hours": decimal_text(values["lesson_hours"]),
                "attendance": [
                    AttendanceEntry(participant_id=pid, status=AttendanceStatus(status))
                    for pid, status in entries
                ]
                or None,
            }
        )
    except ValidationError as e:
        errors.update(validation_messages(e))
        body = None
    if body is not None and not errors:
        path = f"/courses/{cid}/sessions"
        key = idempotency_key(values["idempotency_key"])
        try:
            held = await run_in_threadpool(
                courses.hold_session_with_attendance,
                principal,
                request.state.request_id,
                cid,
                session_date=body.date,
                lesson_hours=body.lesson_hours,
                entries=entries,
                request_key=request_key(principal, key, "course-session", path, body),
            )
        except DomainError as e:
            if not shown_next_to_field(e):
                raise
            row = entry_row(e.field)
            field = f"row-{row}" if row is not None else (e.field or "date")
            errors[field if field != "session date" else "date"] = domain_error_message(e)
        else:
            return redirect(f"/kurse/{cid}?stand={held.recorded.position}#termin-{held.session_id}")
    course = await run_in_threadpool(courses.course_for_reading, principal, cid)
    return await _course_page(
        request, runtime, visitor, course, values=values, errors=errors, status_code=422
    )


@router.get("/kurse/{course_id}/teilnehmendenliste")
async def attendance_sheet(
    course_id: str,
    request: Request,
    runtime: RuntimeDep,
    visitor: SignedIn,
    termin: str | None = None,
) -> Response:
    """The Teilnehmendenliste to print and sign: a blank one, or a session's marks."""
    course = await run_in_threadpool(
        runtime.courses.course_for_reading, visitor.principal, _course_id(course_id)
    )
    session: dict[str, Any] | None = None
    ids = current_enrolments(course)
    if termin is not None:
        sid = _course_id(termin)
        if sid not in course.sessions:
            msg = "no session with this id in this course"
            raise CourseNotFoundError(msg, rule="session-not-found")
        day, hours = course.sessions[sid]
        marks = course.attendance.get(sid, {})
        ids = list(marks) or [pid for pid in course.enrolled if course.is_enrolled_on(pid, day)]
        session = {"date": day, "hours": hours, "marks": marks}
    names = await _names(request.app.state.reads, runtime, request, visitor, ids)
    rows = sorted(
        (
            {
                "name": display_name(pid, names),
                "status": label(AttendanceStatus(session["marks"][pid]))
                if session is not None and pid in session["marks"]
                else "",
            }
            for pid in ids
        ),
        key=lambda r: r["name"],
    )
    return render(
        request,
        "course_sheet.html",
        {
            "course": course,
            "provider": _providers(runtime).get(course.provider, course.provider),
            "course_type": label(CourseType(course.course_type)),
            "module": module_text(course.module, _modules(runtime)),
            "session": session,
            "rows": rows,
            "today": date.today(),
            "hours_total": sum((h for _d, h in course.sessions.values()), Decimal(0)),
        },
    )


@router.post("/kurse/{course_id}/anmeldungen")
async def enrol(
    course_id: str, request: Request, runtime: RuntimeDep, visitor: SignedIn
) -> Response:
    """Enrol a participant, as ``POST /courses/{id}/enrolments`` does."""
    principal = visitor.principal
    check_may_manage_courses(principal)
    cid = _course_id(course_id)
    form = await request.form()
    values: dict[str, Any] = {
        "enrol_participant_id": form_text(form, "participant_id", 40),
        "enrol_effective_date": form_text(form, "effective_date", 10),
        "enrol_key": form_text(form, "idempotency_key"),
    }
    errors: dict[str, str] = {}
    try:
        body = EnrolmentCreate.model_validate(
            {
                "participant_id": values["enrol_participant_id"],
                "effective_date": values["enrol_effective_date"],
            }
        )
    except ValidationError as e:
        errors = {f"enrol_{k}": v for k, v in validation_messages(e).items()}
    else:
        path = f"/courses/{cid}/enrolments"
        key = idempotency_key(values["enrol_key"])
        try:
            result = await run_in_threadpool(
                runtime.courses.enrol,
                principal,
                request.state.request_id,
                cid,
                participant_id=body.participant_id,
                effective_date=body.effective_date,
                request_key=request_key(principal, key, "course-enrolment", path, body),
            )
        except DomainError as e:
            if not shown_next_to_field(e):
                raise
            field = (
                "enrol_effective_date" if e.field == "effective_date" else "enrol_participant_id"
            )
            errors[field] = domain_error_message(e)
        else:
            return redirect(f"/kurse/{cid}?stand={result.position}#angemeldet")
    course = await run_in_threadpool(runtime.courses.course_for_reading, principal, cid)
    return await _course_page(
        request, runtime, visitor, course, values=values, errors=errors, status_code=422
    )
