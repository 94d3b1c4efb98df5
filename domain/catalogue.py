"""The event catalogue: each participant event type with the command that records it.

Keyed by the event class, not by strings: the HTTP API and the importer look a
milestone up by its type name once (``milestone_named``), and from then on hold the
class and the command. ``tests/unit/test_event_catalogue.py`` checks, for every
event class, that it has its command here, its request schema, its field
classification, its timeline summary and its German label, so adding an event type
is guided by one failing test rather than by edits found at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lotse.domain.course import Course
from lotse.domain.errors import InvalidInputError
from lotse.domain.participant import Participant
from lotse.domain.user import User


@dataclass(frozen=True)
class Milestone:
    """A milestone a case worker records: its event and the participant's command."""

    event: type[Participant.Event]
    command: Callable[..., None]
    #: The command needs the participant's programme (rules, modules, consent texts).
    needs_programme: bool = False

    @property
    def name(self) -> str:
        return self.event.__name__


P = Participant

MILESTONES: tuple[Milestone, ...] = (
    Milestone(P.EligibilityAssessed, P.assess_eligibility, needs_programme=True),
    Milestone(P.ConsentGiven, P.give_consent, needs_programme=True),
    Milestone(P.ConsentWithdrawn, P.withdraw_consent),
    Milestone(P.CaseTransferred, P.transfer),
    Milestone(P.LanguageLevelAssessed, P.assess_language_level),
    Milestone(P.ModuleEntered, P.enter_module, needs_programme=True),
    Milestone(P.ModuleExited, P.exit_module, needs_programme=True),
    Milestone(P.CoachingContactLogged, P.log_coaching_contact),
    Milestone(P.CaseAssigned, P.assign_case),
    Milestone(P.CaseUnassigned, P.unassign_case),
    Milestone(P.CourseAttendanceRecorded, P.record_course_attendance, needs_programme=True),
    Milestone(P.LanguageCourseStarted, P.start_language_course),
    Milestone(P.LanguageCourseCompleted, P.complete_language_course),
    Milestone(P.CertificateObtained, P.obtain_certificate),
    Milestone(P.InternshipStarted, P.start_internship),
    Milestone(P.InternshipEnded, P.end_internship),
    Milestone(P.EntryQualificationStarted, P.start_entry_qualification),
    Milestone(P.EntryQualificationEnded, P.end_entry_qualification),
    Milestone(P.ApprenticeshipStarted, P.start_apprenticeship),
    Milestone(P.ApprenticeshipAborted, P.abort_apprenticeship),
    Milestone(P.ApprenticeshipCompleted, P.complete_apprenticeship),
    Milestone(P.EmploymentStarted, P.start_employment),
    Milestone(P.EmploymentEnded, P.end_employment),
    Milestone(P.ResidenceStatusChanged, P.change_residence_status, needs_programme=True),
    Milestone(P.Exited, P.exit),
    Milestone(P.FollowUpRecorded, P.record_follow_up),
    Milestone(P.WorklistItemDismissed, P.dismiss_worklist_item),
    Milestone(P.Reentered, P.reenter),
    Milestone(P.EntryCorrected, P.correct_entry, needs_programme=True),
    Milestone(P.EntryVoided, P.void_entry, needs_programme=True),
)

#: Events recorded by commands of their own rather than as milestones.
OWN_COMMANDS: dict[type[Participant.Event], Callable[..., Any]] = {
    P.Registered: P.register,
    P.PersonalDataErased: P.erase_personal_data,
    # Referrals have routes of their own (``/participants/{id}/referrals``).
    P.ReferralMade: P.make_referral,
    P.ReferralAccepted: P.accept_referral,
    P.ReferralEnded: P.end_referral,
    # Duplicate decisions have a route of their own (``/duplicates/decisions``).
    P.DuplicatesLinked: P.decide_duplicate,
    P.DuplicatesDismissed: P.decide_duplicate,
}

#: A course's events (its own stream, ``domain/course.py``) and their commands.
COURSE_COMMANDS: dict[type[Course.Event], Callable[..., Any]] = {
    Course.CourseScheduled: Course.schedule,
    Course.ParticipantEnrolled: Course.enrol,
    Course.ParticipantWithdrawn: Course.withdraw,
    Course.SessionHeld: Course.hold_session,
    Course.AttendanceRecorded: Course.record_attendance,
    Course.ExamFeeIncurred: Course.incur_exam_fee,
    Course.CourseCancelled: Course.cancel,
    Course.CourseCompleted: Course.complete,
}

#: The user directory's events (``domain/user.py``) and their commands.
USER_COMMANDS: dict[type[User.Event], Callable[..., Any]] = {
    User.UserAdded: User.add,
    User.MembershipGranted: User.grant,
    User.MembershipWithdrawn: User.withdraw,
    User.UserDeactivated: User.deactivate,
    User.UserReactivated: User.reactivate,
}

BY_EVENT: dict[type[Participant.Event], Milestone] = {m.event: m for m in MILESTONES}
_BY_NAME: dict[str, Milestone] = {m.name: m for m in MILESTONES}


def milestone_named(name: str) -> Milestone:
    """The milestone of a type name from a request; unknown names are the caller's error."""
    try:
        return _BY_NAME[name]
    except KeyError:
        msg = "type is not a known milestone type"
        raise InvalidInputError(msg, field="type", rule="unknown-milestone") from None


def milestone_names() -> tuple[str, ...]:
    return tuple(_BY_NAME)
