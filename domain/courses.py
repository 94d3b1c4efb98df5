"""The application service for courses: load a course, check access, call a command, save.

Courses share the event store (and its hash chain, request log and notification
log) with participants, so this service works through the ``Journeys``
application rather than opening a second one. Rules that depend on a
participant's journey are read here from the participant aggregates and handed
to the course's command methods as plain values.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from lotse.domain.access import (
    Principal,
    accepted_referrals,
    check_may_manage_courses,
    check_may_read_courses,
    may_manage_course,
    may_read_course,
    serves,
)
from lotse.domain.application import (
    MAX_CONFLICT_RETRIES,
    Journeys,
    Recorded,
    RequestKey,
)
from lotse.domain.course import Course
from lotse.domain.envelope import Envelope
from lotse.domain.errors import (
    AccessDeniedError,
    CourseNotFoundError,
    ParticipantNotFoundError,
    RuleViolationError,
    VersionConflictError,
)
from lotse.domain.participant import Participant

#: Session ids derive from the course and the event's version, so a retried request
#: (Idempotency-Key) answers with the same session id without storing it elsewhere.
SESSION_NAMESPACE = UUID("6c0f1d2e-4a53-4b8e-9a77-2f1d5b0c9e41")


def session_id_for(course_id: UUID, version: int) -> UUID:
    return uuid5(SESSION_NAMESPACE, f"{course_id}:{version}")


@dataclass(frozen=True)
class SessionRecorded:
    recorded: Recorded
    session_id: UUID


class Courses:
    """Schedules courses and records their sessions, enrolments and attendance lists."""

    def __init__(self, journeys: Journeys) -> None:
        self.journeys = journeys

    # ----------------------------------------------------------- helpers

    def _envelope(self, principal: Principal, request_id: str) -> Envelope:
        return Envelope(principal.user, principal.role, principal.organisation, request_id)

    def load(self, course_id: UUID) -> Course:
        course: object = None
        with contextlib.suppress(AggregateNotFoundError):
            course = self.journeys.repository.get(course_id)
        if not isinstance(course, Course):
            msg = "no course with this id"
            raise CourseNotFoundError(msg)
        return course

    def course_for_reading(self, principal: Principal, course_id: UUID) -> Course:
        check_may_read_courses(principal)
        course = self.load(course_id)
        if not may_read_course(principal, course.provider, course.municipality):
            msg = "no course with this id"
            raise CourseNotFoundError(msg)
        return course

    def _save(self, course: Course, key: RequestKey | None) -> Recorded:
        # ``Recorded.participant_id`` holds the stream's id: here the course's. The
        # request log stores it as such, so a retried request answers the same.
        recordings = self.journeys.save(course, request_key=key)
        position = max(r.notification.id for r in recordings) if recordings else 0
        return Recorded(course.id, course.version, position)

    def check_may_enrol(self, course: Course, participant: Participant) -> None:
        """Who may be enrolled in a course: the one place that decides it.

        The course's provider enrols its own participants (it leads the case) and
        those referred to it for the course's module with the referral accepted and
        not ended (``domain.access.serves``, read from the participant's own stream).
        A referral for another module, or one waiting or ended, does not count: it
        rests on a consent that names the module.
        """
        accepted = accepted_referrals(participant.referrals.values())
        if not serves(course.provider, participant.provider, accepted, course.module):
            msg = (
                "the participant is neither the course's provider's own nor referred to it "
                "(referral accepted, not ended) for the course's module"
            )
            raise RuleViolationError(msg, field="participant_id", rule="not-own-participant")

    def _participant(self, participant_id: UUID, field: str) -> Participant:
        try:
            return self.journeys._load(participant_id)
        except ParticipantNotFoundError:
            msg = "no participant with this id"
            raise RuleViolationError(msg, field=field, rule="unknown-participant") from None

    # ---------------------------------------------------------- commands

    def schedule(
        self,
        principal: Principal,
        request_id: str,
        *,
        programme: str,
        provider: str,
        request_key: RequestKey | None = None,
        **details: Any,
    ) -> Recorded:
        check_may_manage_courses(principal)
        replayed = self.journeys._replayed(request_key, "course")
        if replayed:
            return replayed
        course = self._scheduled(principal, request_id, programme, provider, details)
        try:
            return self._save(course, request_key)
        except IntegrityError:
            replayed = self.journeys._replayed(request_key, "course")
            if replayed:
                return replayed
            raise

    def check_schedule(
        self, principal: Principal, *, programme: str, provider: str, **details: Any
    ) -> None:
        """Every rule ``schedule`` applies, nothing saved: the form's inline check.

        Raises the ``DomainError`` that ``schedule`` would raise with the same input.
        """
        check_may_manage_courses(principal)
        self._scheduled(principal, "inline-check", programme, provider, details)

    def _scheduled(
        self,
        principal: Principal,
        request_id: str,
        programme: str,
        provider: str,
        details: dict[str, Any],
    ) -> Course:
        """The new course as ``Course.schedule`` makes it, in memory: every rule checked."""
        config = self.journeys.programme(programme)
        municipality = self.journeys.municipality_of_provider(provider)
        if not may_manage_course(principal, provider):
            msg = "case workers schedule courses only for their own provider"
            raise AccessDeniedError(msg, field="provider")
        return Course.schedule(
            envelope=self._envelope(principal, request_id),
            today=self.journeys.clock(),
            programme=config,
            provider=provider,
            municipality=municipality,
            **details,
        )

    def _change(
        self,
        principal: Principal,
        course_id: UUID,
        operation: str,
        command: Any,
        *,
        expected_version: int | None,
        request_key: RequestKey | None,
    ) -> tuple[Recorded, Course]:
        """Load, check scope and version, run ``command(course)``, save; retry races."""
        check_may_manage_courses(principal)
        replayed = self.journeys._replayed(request_key, operation)
        if replayed:
            return replayed, self.load(course_id)
        for _attempt in range(MAX_CONFLICT_RETRIES):
            course = self.load(course_id)
            if not may_manage_course(principal, course.provider):
                msg = "no course with this id"
                raise CourseNotFoundError(msg)
            if expected_version is not None and course.version != expected_version:
                msg = (
                    f"the course is at version {course.version}, not {expected_version}: "
                    "reload and try again"
                )
                raise VersionConflictError(msg, field="If-Match")
            command(course)
            try:
                return self._save(course, request_key), course
            except IntegrityError:
                replayed = self.journeys._replayed(request_key, operation)
                if replayed:
                    return replayed, self.load(course_id)
                if expected_version is not None:
                    msg = "the course was changed concurrently: reload and try again"
                    raise VersionConflictError(msg, field="If-Match") from None
        msg = "the course is being changed by many writers at once: try again"
        raise VersionConflictError(msg)

    def enrol(
        self,
        principal: Principal,
        request_id: str,
        course_id: UUID,
        *,
        participant_id: UUID,
        effective_date: date,
        expected_version: int | None = None,
        request_key: RequestKey | None = None,
    ) -> Recorded:
        envelope = self._envelope(principal, request_id)

        def command(course: Course) -> None:
            participant = self._participant(participant_id, "participant_id")
            self.check_may_enrol(course, participant)
            # Exited, consent withdrawn, restricted or erased: no new processing.
            participant.check_processing_allowed("ModuleEntered")
            course.enrol(
                envelope=envelope,
                effective_date=effective_date,
                today=self.journeys.clock(),
                participant_id=participant_id,
                participant_programme=participant.programme,
            )

        recorded, _ = self._change(
            principal,
            course_id,
            "course-enrolment",
            command,
            expected_version=expected_version,
            request_key=request_key,
        )
        return recorded

    def withdraw(
        self,
        principal: Principal,
        request_id: str,
        course_id: UUID,
        *,
        participant_id: UUID,
        effective_date: date,
        reason: str,
        expected_version: int | None = None,
        request_key: RequestKey | None = None,
    ) -> Recorded:
        envelope = self._envelope(principal, request_id)

        def command(course: Course) -> None:
            course.withdraw(
                envelope=envelope,
                effective_date=effective_date,
                today=self.journeys.clock(),
                participant_id=participant_id,
                reason=reason,
            )

        recorded, _ = self._change(
            principal,
            course_id,
            "course-withdrawal",
            command,
            expected_version=expected_version,
            request_key=request_key,
        )
        return recorded

    def hold_session(
        self,
        principal: Principal,
        request_id: str,
        course_id: UUID,
        *,
        session_date: date,
        lesson_hours: Decimal,
        expected_version: int | None = None,
        request_key: RequestKey | None = None,
    ) -> SessionRecorded:
        envelope = self._envelope(principal, request_id)

        def command(course: Course) -> None:
            course.hold_session(
                envelope=envelope,
                today=self.journeys.clock(),
                programme=self.journeys.programme(course.programme),
                session_date=session_date,
                lesson_hours=lesson_hours,
                session_id=session_id_for(course.id, course.version + 1),
            )

        recorded, _ = self._change(
            principal,
            course_id,
            "course-session",
            command,
            expected_version=expected_version,
            request_key=request_key,
        )
        return SessionRecorded(recorded, session_id_for(course_id, recorded.version))

    def record_attendance(
        self,
        principal: Principal,
        request_id: str,
        course_id: UUID,
        session_id: UUID,
        *,
        entries: list[tuple[UUID, str]],
        expected_version: int | None = None,
        request_key: RequestKey | None = None,
    ) -> Recorded:
        envelope = self._envelope(principal, request_id)

        def command(course: Course) -> None:
            course.record_attendance(
                envelope=envelope,
                today=self.journeys.clock(),
                session_id=session_id,
                entries=entries,
                stay_open=self._stays_open(course, session_id, entries),
            )

        recorded, _ = self._change(
            principal,
            course_id,
            "course-attendance",
            command,
            expected_version=expected_version,
            request_key=request_key,
        )
        return recorded

    def hold_session_with_attendance(
        self,
        principal: Principal,
        request_id: str,
        course_id: UUID,
        *,
        session_date: date,
        lesson_hours: Decimal,
        entries: list[tuple[UUID, str]],
        expected_version: int | None = None,
        request_key: RequestKey | None = None,
    ) -> SessionRecorded:
        """A session held and its whole attendance list, recorded together or not at all.

        Both events are saved in one transaction under one Idempotency-Key: a
        refused list leaves no session without its list behind, and a retried
        submit (the web form's double click) answers with the first session.
        """
        envelope = self._envelope(principal, request_id)

        def command(course: Course) -> None:
            session_id = course.hold_session(
                envelope=envelope,
                today=self.journeys.clock(),
                programme=self.journeys.programme(course.programme),
                session_date=session_date,
                lesson_hours=lesson_hours,
                session_id=session_id_for(course.id, course.version + 1),
            )
            course.record_attendance(
                envelope=envelope,
                today=self.journeys.clock(),
                session_id=session_id,
                entries=entries,
                stay_open=self._stays_open(course, session_id, entries),
            )

        recorded, _ = self._change(
            principal,
            course_id,
            "course-session",
            command,
            expected_version=expected_version,
            request_key=request_key,
        )
        # The session is the event before the attendance list (see ``session_id_for``).
        return SessionRecorded(recorded, session_id_for(course_id, recorded.version - 1))

    def _stays_open(
        self, course: Course, session_id: UUID, entries: list[tuple[UUID, str]]
    ) -> set[UUID]:
        """The listed participants whose stay in the course's module is open on the
        session's date, read from their journeys (the course cannot know it)."""
        session = course.sessions.get(session_id)
        stay_open: set[UUID] = set()
        if session is None:
            return stay_open
        for i, (pid, _status) in enumerate(entries):
            if pid not in course.enrolled:
                continue  # the course names the rule (not enrolled)
            participant = self._participant(pid, f"entries[{i}].participant_id")
            if participant.module_open_on(course.module, session[0]):
                stay_open.add(pid)
        return stay_open

    def incur_exam_fee(
        self,
        principal: Principal,
        request_id: str,
        course_id: UUID,
        *,
        effective_date: date,
        amount_eur: Decimal,
        receipt_reference: str,
        participant_id: UUID | None = None,
        expected_version: int | None = None,
        request_key: RequestKey | None = None,
    ) -> Recorded:
        envelope = self._envelope(principal, request_id)

        def command(course: Course) -> None:
            course.incur_exam_fee(
                envelope=envelope,
                effective_date=effective_date,
                today=self.journeys.clock(),
                amount_eur=amount_eur,
                receipt_reference=receipt_reference,
                participant_id=participant_id,
            )

        recorded, _ = self._change(
            principal,
            course_id,
            "course-exam-fee",
            command,
            expected_version=expected_version,
            request_key=request_key,
        )
        return recorded

    def close(
        self,
        principal: Principal,
        request_id: str,
        course_id: UUID,
        *,
        outcome: str,
        effective_date: date,
        reason: str | None = None,
        expected_version: int | None = None,
        request_key: RequestKey | None = None,
    ) -> Recorded:
        """Complete (``outcome="completed"``) or cancel (``"cancelled"``) the course."""
        envelope = self._envelope(principal, request_id)
        today = self.journeys.clock()

        def command(course: Course) -> None:
            if outcome == "completed":
                course.complete(envelope=envelope, effective_date=effective_date, today=today)
            else:
                course.cancel(
                    envelope=envelope,
                    effective_date=effective_date,
                    today=today,
                    reason=reason or "",
                )

        recorded, _ = self._change(
            principal,
            course_id,
            f"course-{outcome}",
            command,
            expected_version=expected_version,
            request_key=request_key,
        )
        return recorded
