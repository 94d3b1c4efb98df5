"""The course aggregate: a course a provider holds for a module, with its attendance lists.

The programme pays some modules per lesson hour *held by the course* (P4: 37.50 EUR
pays a teacher's hour, not a seat), so a course is its own stream of events, apart
from the participants who attend it: sessions held, and per session the attendance
list (Teilnehmendenliste) as the proof. Course events name participants only by
their pseudonymous ids; names stay in the participants' own (encrypted) streams.

As in ``domain.participant``: command methods check the rules and then trigger an
event; events only change state, because they re-run on every load. Event classes
and their fields are a persisted, public schema.

Rules that need a participant's journey (is the participant's stay in the course's
module open on the session date?) are decided by the application service, which
reads the participant aggregates, and passed in as plain values: this module does
no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from lotse.domain.configuration import Programme
from lotse.domain.envelope import Envelope, envelope_fields
from lotse.domain.errors import CourseNotFoundError, InvalidInputError, RuleViolationError
from lotse.domain.text import check_event_text


class CourseType(StrEnum):
    JUGENDINTEGRATIONSKURS = "jugendintegrationskurs"
    BERUFSVORBEREITENDER_KURS = "berufsvorbereitender_kurs"
    HSA_KURS = "hsa_kurs"  # Hauptschulabschluss
    SPRACHKURS = "sprachkurs"
    OTHER = "other"


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    EXCUSED = "excused"


class CourseStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


MAX_TITLE = 200
#: A receipt number as the provider's bookkeeping writes it: no free text (no names).
_RECEIPT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./_-]{0,63}$")
_CENT = Decimal("0.01")


def _positive_decimal(field: str, value: Any) -> Decimal:
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        msg = f"{field} must be a decimal number"
        raise InvalidInputError(msg, field=field) from None
    if not number.is_finite() or number <= 0:
        msg = f"{field} must be greater than 0"
        raise InvalidInputError(msg, field=field, rule="not-positive")
    if number != number.quantize(_CENT):
        msg = f"{field} must have at most two decimal places"
        raise InvalidInputError(msg, field=field)
    return number.quantize(_CENT)


class Course(Aggregate):
    """A course of one provider in one module of a programme, identified by a random UUID."""

    # ------------------------------------------------------------------ events

    class Event(Aggregate.Event):
        """Every course event carries the envelope, as participants' events do."""

        effective_date: date
        recorded_by: str
        recorded_role: str
        organisation: str
        request_id: str

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, Course)
            self.evolve(aggregate)

        def evolve(self, c: Course) -> None:
            """Change the course's state; overridden by every event."""

    class CourseScheduled(Event, Aggregate.Created):
        programme: str
        module: str
        provider: str
        municipality: str
        """Where the course takes place: the provider's municipality."""
        title: str
        course_type: str
        planned_lesson_hours: Decimal
        start_date: date
        end_date: date

        def evolve(self, c: Course) -> None:
            c._reset()
            c.programme = self.programme
            c.module = self.module
            c.provider = self.provider
            c.municipality = self.municipality
            c.title = self.title
            c.course_type = self.course_type
            c.planned_lesson_hours = Decimal(self.planned_lesson_hours)
            c.start_date = self.start_date
            c.end_date = self.end_date

    class ParticipantEnrolled(Event):
        participant_id: UUID

        def evolve(self, c: Course) -> None:
            c.enrolled[self.participant_id] = self.effective_date
            c.withdrawn.pop(self.participant_id, None)

    class ParticipantWithdrawn(Event):
        participant_id: UUID
        reason: str

        def evolve(self, c: Course) -> None:
            c.withdrawn[self.participant_id] = self.effective_date

    class SessionHeld(Event):
        """A session on ``effective_date``: the lesson hours the course held that day."""

        session_id: UUID
        lesson_hours: Decimal
        teacher: str
        """The teacher's user id (staff pseudonym), never a name."""

        def evolve(self, c: Course) -> None:
            c.sessions[self.session_id] = (self.effective_date, Decimal(self.lesson_hours))

    class AttendanceRecorded(Event):
        """The whole attendance list of one session; a later list replaces it."""

        session_id: UUID
        entries: list[dict[str, str]]
        """``{"participant_id": ..., "status": "present"|"absent"|"excused"}`` each."""

        def evolve(self, c: Course) -> None:
            c.attendance[self.session_id] = {
                UUID(e["participant_id"]): e["status"] for e in self.entries
            }

    class ExamFeeIncurred(Event):
        amount_eur: Decimal
        receipt_reference: str
        participant_id: UUID | None

        def evolve(self, c: Course) -> None:
            c.exam_fees.append(Decimal(self.amount_eur))

    class CourseCancelled(Event):
        reason: str

        def evolve(self, c: Course) -> None:
            c.status = CourseStatus.CANCELLED

    class CourseCompleted(Event):
        def evolve(self, c: Course) -> None:
            c.status = CourseStatus.COMPLETED

    # --------------------------------------------------------------- state

    def _reset(self) -> None:
        """The state a schedule starts from (no annotations on the class: the
        library would take them as arguments of ``__init__``)."""
        self.programme = ""
        self.module = ""
        self.provider = ""
        self.municipality = ""
        self.title = ""
        self.course_type = ""
        self.planned_lesson_hours = Decimal(0)
        self.start_date = date.min
        self.end_date = date.min
        self.status = CourseStatus.SCHEDULED
        self.enrolled: dict[UUID, date] = {}
        self.withdrawn: dict[UUID, date] = {}
        self.sessions: dict[UUID, tuple[date, Decimal]] = {}
        self.attendance: dict[UUID, dict[UUID, str]] = {}
        self.exam_fees: list[Decimal] = []

    @property
    def held_lesson_hours(self) -> Decimal:
        return sum((hours for _day, hours in self.sessions.values()), Decimal(0)).quantize(_CENT)

    def hours_on(self, day: date) -> Decimal:
        return sum((h for d, h in self.sessions.values() if d == day), Decimal(0))

    def is_enrolled_on(self, participant_id: UUID, day: date) -> bool:
        """Enrolled on or before ``day`` and not withdrawn by then."""
        since = self.enrolled.get(participant_id)
        if since is None or day < since:
            return False
        withdrawn = self.withdrawn.get(participant_id)
        return withdrawn is None or day < withdrawn

    # ------------------------------------------------------------ commands

    @classmethod
    def schedule(
        cls,
        *,
        envelope: Envelope,
        today: date,
        programme: Programme,
        module: str,
        provider: str,
        municipality: str,
        title: str,
        course_type: str,
        planned_lesson_hours: Decimal,
        start_date: date,
        end_date: date,
        course_id: UUID | None = None,
    ) -> Course:
        config = programme.module(module)
        if config is None or not config.held_in_courses:
            msg = f"module must be a module of programme {programme.id} that is held in courses"
            raise InvalidInputError(msg, field="module", rule="not-a-course-module")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            msg = f"title must be a non-empty text of at most {MAX_TITLE} characters"
            raise InvalidInputError(msg, field="title")
        if course_type not in CourseType.__members__.values():
            allowed = ", ".join(t.value for t in CourseType)
            msg = f"course_type must be one of: {allowed}"
            raise InvalidInputError(msg, field="course_type")
        planned = _positive_decimal("planned_lesson_hours", planned_lesson_hours)
        if end_date < start_date:
            msg = "end_date must not be before start_date"
            raise InvalidInputError(msg, field="end_date", rule="end-before-start")
        if start_date < programme.funding_start or end_date > programme.funding_end:
            msg = "the course must lie within the programme's funding period"
            raise RuleViolationError(msg, field="start_date", rule="outside-funding-period")
        if config.ends is not None and end_date > config.ends:
            msg = f"module {module} ends before end_date"
            raise RuleViolationError(msg, field="end_date", rule="module-ended")
        fields = {
            **envelope_fields(envelope),
            "programme": programme.id,
            "module": module,
            "provider": provider,
            "municipality": municipality,
            "title": title,
            "course_type": course_type,
            "planned_lesson_hours": planned,
            "start_date": start_date,
            "end_date": end_date,
        }
        check_event_text(cls.CourseScheduled.__name__, fields)
        return cls._create(
            cls.CourseScheduled,
            id=course_id or uuid4(),
            # Effective dates are never in the future: a course recorded after it
            # began is effective from its start, one planned ahead from today.
            effective_date=min(start_date, today),
            **fields,
        )

    def _trigger(
        self, event_class: type[Course.Event], envelope: Envelope, effective_date: date, **data: Any
    ) -> None:
        # The domain's last guard, as for participants: no string with a control
        # character reaches the log (a NUL in a title would stop the courses read model).
        fields = {**data, **envelope_fields(envelope)}
        check_event_text(event_class.__name__, fields)
        self.trigger_event(event_class, effective_date=effective_date, **fields)

    def check_open(self) -> None:
        if self.status != CourseStatus.SCHEDULED:
            msg = f"the course is {self.status.value}: nothing more can be recorded"
            raise RuleViolationError(msg, rule=f"course-{self.status.value}")

    def check_within_course(self, day: date, today: date, field: str) -> None:
        if day > today:
            msg = f"{field} must not be in the future"
            raise InvalidInputError(msg, field=field, rule="date-in-future")
        if not self.start_date <= day <= self.end_date:
            msg = f"{field} must lie between the course's start_date and end_date"
            raise RuleViolationError(msg, field=field, rule="outside-course-dates")

    def enrol(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        participant_id: UUID,
        participant_programme: str,
    ) -> None:
        """Enrol a participant; who may be enrolled is decided by the application."""
        self.check_open()
        if effective_date > today:
            msg = "effective_date must not be in the future"
            raise InvalidInputError(msg, field="effective_date", rule="date-in-future")
        if effective_date > self.end_date:
            msg = "effective_date must not be after the course's end_date"
            raise RuleViolationError(msg, field="effective_date", rule="outside-course-dates")
        if participant_programme != self.programme:
            msg = "the participant takes part in another programme than the course"
            raise RuleViolationError(msg, field="participant_id", rule="other-programme")
        if participant_id in self.enrolled and participant_id not in self.withdrawn:
            msg = "the participant is already enrolled in this course"
            raise RuleViolationError(msg, field="participant_id", rule="already-enrolled")
        self._trigger(
            self.ParticipantEnrolled, envelope, effective_date, participant_id=participant_id
        )

    def withdraw(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        participant_id: UUID,
        reason: str,
    ) -> None:
        self.check_open()
        if participant_id not in self.enrolled or participant_id in self.withdrawn:
            msg = "the participant is not enrolled in this course"
            raise RuleViolationError(msg, field="participant_id", rule="not-enrolled")
        if effective_date > today:
            msg = "effective_date must not be in the future"
            raise InvalidInputError(msg, field="effective_date", rule="date-in-future")
        if effective_date < self.enrolled[participant_id]:
            msg = "effective_date must not be before the enrolment"
            raise RuleViolationError(msg, field="effective_date", rule="date-before-enrolment")
        _check_reason(reason)
        self._trigger(
            self.ParticipantWithdrawn,
            envelope,
            effective_date,
            participant_id=participant_id,
            reason=reason,
        )

    def hold_session(
        self,
        *,
        envelope: Envelope,
        today: date,
        programme: Programme,
        session_date: date,
        lesson_hours: Decimal,
        session_id: UUID | None = None,
    ) -> UUID:
        """Record a session held; returns its id."""
        self.check_open()
        hours = _positive_decimal("lesson_hours", lesson_hours)
        self.check_within_course(session_date, today, "date")
        limit = programme.max_lesson_hours_per_day
        if self.hours_on(session_date) + hours > limit:
            msg = (
                f"at most {limit} lesson hours a day may be held in a course "
                "(programme configuration): this session would exceed it"
            )
            raise RuleViolationError(msg, field="lesson_hours", rule="daily-maximum-exceeded")
        sid = session_id or uuid4()
        self._trigger(
            self.SessionHeld,
            envelope,
            session_date,
            session_id=sid,
            lesson_hours=hours,
            teacher=envelope.user,
        )
        return sid

    def record_attendance(
        self,
        *,
        envelope: Envelope,
        today: date,
        session_id: UUID,
        entries: list[tuple[UUID, str]],
        stay_open: Collection[UUID],
    ) -> None:
        """Record a session's whole attendance list.

        ``stay_open`` names the participants whose stay in the course's module is
        open on the session's date (read from their journeys by the application).
        """
        self.check_open()
        session = self.sessions.get(session_id)
        if session is None:
            msg = "no session with this id in this course"
            raise CourseNotFoundError(msg, rule="session-not-found")
        day = session[0]
        self.check_within_course(day, today, "session date")
        if not entries:
            msg = "entries must list every participant of the session"
            raise InvalidInputError(msg, field="entries")
        seen: set[UUID] = set()
        for i, (pid, status) in enumerate(entries):
            field = f"entries[{i}]"
            if pid in seen:
                msg = "a participant may appear only once in an attendance list"
                raise InvalidInputError(msg, field=f"{field}.participant_id", rule="duplicate")
            seen.add(pid)
            if status not in AttendanceStatus.__members__.values():
                msg = "status must be one of: present, absent, excused"
                raise InvalidInputError(msg, field=f"{field}.status")
            if not self.is_enrolled_on(pid, day):
                msg = "the participant is not enrolled in this course on the session's date"
                raise RuleViolationError(msg, field=f"{field}.participant_id", rule="not-enrolled")
            if pid not in stay_open:
                msg = (
                    f"the participant's stay in module {self.module} is not open "
                    "on the session's date"
                )
                raise RuleViolationError(
                    msg, field=f"{field}.participant_id", rule="module-stay-not-open"
                )
        self._trigger(
            self.AttendanceRecorded,
            envelope,
            day,
            session_id=session_id,
            entries=[{"participant_id": str(pid), "status": status} for pid, status in entries],
        )

    def incur_exam_fee(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        amount_eur: Decimal,
        receipt_reference: str,
        participant_id: UUID | None = None,
    ) -> None:
        """An exam fee, paid at actual cost against a receipt."""
        amount = _positive_decimal("amount_eur", amount_eur)
        self.check_within_course(effective_date, today, "effective_date")
        if not isinstance(receipt_reference, str) or not _RECEIPT.match(receipt_reference):
            msg = "receipt_reference must be a receipt number (letters, digits, . / _ -)"
            raise InvalidInputError(msg, field="receipt_reference")
        if participant_id is not None and participant_id not in self.enrolled:
            msg = "the participant is not enrolled in this course"
            raise RuleViolationError(msg, field="participant_id", rule="not-enrolled")
        self._trigger(
            self.ExamFeeIncurred,
            envelope,
            effective_date,
            amount_eur=amount,
            receipt_reference=receipt_reference,
            participant_id=participant_id,
        )

    def cancel(self, *, envelope: Envelope, effective_date: date, today: date, reason: str) -> None:
        self.check_open()
        if effective_date > today:
            msg = "effective_date must not be in the future"
            raise InvalidInputError(msg, field="effective_date", rule="date-in-future")
        _check_reason(reason)
        self._trigger(self.CourseCancelled, envelope, effective_date, reason=reason)

    def complete(self, *, envelope: Envelope, effective_date: date, today: date) -> None:
        self.check_open()
        if effective_date > today:
            msg = "effective_date must not be in the future"
            raise InvalidInputError(msg, field="effective_date", rule="date-in-future")
        latest = max((d for d, _h in self.sessions.values()), default=self.start_date)
        if effective_date < latest:
            msg = "effective_date must not be before the last session"
            raise RuleViolationError(msg, field="effective_date", rule="date-before-last-session")
        self._trigger(self.CourseCompleted, envelope, effective_date)


class ReasonCode(StrEnum):
    """Why a participant left a course or a course was cancelled: codes, no free text."""

    TOO_FEW_PARTICIPANTS = "too_few_participants"
    NO_TEACHER = "no_teacher"
    PARTICIPANT_LEFT = "participant_left"
    CHANGED_COURSE = "changed_course"
    OTHER = "other"


def _check_reason(reason: str) -> None:
    if reason not in ReasonCode.__members__.values():
        allowed = ", ".join(r.value for r in ReasonCode)
        msg = f"reason must be one of: {allowed}"
        raise InvalidInputError(msg, field="reason")
