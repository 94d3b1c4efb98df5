"""Every event field classified once: identifying, sensitive or statistical.

- ``identifying`` fields (names, exact birth date, free text, employer names,
  occupations, assessment instruments, the consent form's language) are encrypted
  under the participant's own key before they reach the event table, and become
  unreadable when that key is destroyed (crypto-shredding). Every field a client
  types freely is identifying: a note can name anyone. Events recorded before a
  field became identifying hold it in clear; they load as before (the mapper only
  opens what it sealed), and erasure cannot shred those copies.
- ``sensitive`` fields (residence status, nationality) stay readable because the
  funder's reports count them, but they are never shown to funders per person.
- ``statistical`` fields (birth year, age, gender, modules, dates, reasons,
  destinations) stay readable for reports after erasure.

A test fails when an event type has a field that is not classified here, so a new
field cannot reach the event table in clear by accident.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from typing import Any

from lotse.domain.course import Course
from lotse.domain.envelope import ENVELOPE_FIELDS
from lotse.domain.participant import Participant
from lotse.domain.user import User


class DataClass(StrEnum):
    IDENTIFYING = "identifying"
    SENSITIVE = "sensitive"
    STATISTICAL = "statistical"


I, S, T = DataClass.IDENTIFYING, DataClass.SENSITIVE, DataClass.STATISTICAL  # noqa: E741


CLASSIFICATION: dict[str, dict[str, DataClass]] = {
    "Registered": {
        "programme": T,
        "provider": T,
        "municipality": T,
        "intake_date": T,
        "given_name": I,
        "family_name": I,
        "birth_date": I,
        "birth_year": T,
        "age_at_intake": T,
        "gender": T,
        "nationality": S,
        "residence_status": S,
        "age_exception_reason": I,
        # Since class version 2: the expiry of the residence status at intake.
        "residence_valid_until": S,
    },
    "EligibilityAssessed": {
        "eligible": T,
        "target_group": S,
        "rule_version": T,
        "lives_in_reception_centre": S,
        # Art. 10 GDPR: only the outcome of the check is stored, never details.
        "excluded_by_security_check": S,
        "employment_ban": S,
        "regular_school_access": S,
        "justification": I,
    },
    # The consent form's language hints at the person's origin: identifying since
    # the catalogue was hardened; older events hold it in clear and still load.
    "ConsentGiven": {"consent_version": T, "language": I},
    "ConsentWithdrawn": {},
    "CaseTransferred": {
        "from_provider": T,
        "to_provider": T,
        "from_municipality": T,
        "to_municipality": T,
    },
    "ReferralMade": {"referral_id": T, "provider": T, "module": T, "consent_version": T},
    "ReferralAccepted": {"referral_id": T},
    "ReferralEnded": {"referral_id": T, "reason": T},
    "LanguageLevelAssessed": {"level": T, "instrument": I},
    "ModuleEntered": {"module": T},
    "ModuleExited": {"module": T, "reason": T},
    "CoachingContactLogged": {"minutes": T, "mode": T, "confirmed_by_participant": T},
    # A staff user id (who is responsible), not the participant's data.
    "CaseAssigned": {"assignee": T},
    "CaseUnassigned": {"assignee": T},
    "CourseAttendanceRecorded": {"module": T, "lesson_hours": T, "lesson_hours_attended": T},
    "LanguageCourseStarted": {"course_type": T, "target_level": T},
    "LanguageCourseCompleted": {"course_type": T, "achieved_level": T},
    "CertificateObtained": {"certificate": T, "level": T},
    "InternshipStarted": {"occupation": I, "employer_name": I},
    "InternshipEnded": {"reason": T},
    "EntryQualificationStarted": {"occupation": I, "employer_name": I},
    "EntryQualificationEnded": {"reason": T},
    "ApprenticeshipStarted": {"occupation": I, "employer_name": I},
    "ApprenticeshipAborted": {"reason": T},
    "ApprenticeshipCompleted": {"passed_exam": T},
    "EmploymentStarted": {
        "employment_type": T,
        "hours_per_week": T,
        "occupation": I,
        "employer_name": I,
    },
    "EmploymentEnded": {"reason": T},
    "ResidenceStatusChanged": {"status": S, "valid_until": S},
    "Exited": {"reason": T, "destination": T},
    "FollowUpRecorded": {"destination": T, "months_after_exit": T},
    # ``changes`` is classified per changed field, by the corrected event's type.
    "EntryCorrected": {"corrects_version": T, "corrected_type": T, "reason": I, "changes": T},
    "Reentered": {"intake_date": T},
    # ``reason`` is free text: identifying, sealed under the participant's key.
    "EntryVoided": {"voids_version": T, "voided_type": T, "reason": I},
    "PersonalDataErased": {"mode": T, "reason_code": T},
    # A due-list item taken off the list: its kind and due date, a reason code.
    "WorklistItemDismissed": {"kind": T, "due_date": T, "reason": T},
    # Duplicate decisions: the other participant's pseudonymous id, a reason code.
    "DuplicatesLinked": {"other_participant": T},
    "DuplicatesDismissed": {"other_participant": T, "reason": T},
    # Course events (domain/course.py): participants appear only by their
    # pseudonymous id; the teacher is a staff user id; the receipt is a number.
    "CourseScheduled": {
        "programme": T,
        "module": T,
        "provider": T,
        "municipality": T,
        "title": T,
        "course_type": T,
        "planned_lesson_hours": T,
        "start_date": T,
        "end_date": T,
    },
    "ParticipantEnrolled": {"participant_id": T},
    "ParticipantWithdrawn": {"participant_id": T, "reason": T},
    "SessionHeld": {"session_id": T, "lesson_hours": T, "teacher": T},
    "AttendanceRecorded": {"session_id": T, "entries": T},
    "ExamFeeIncurred": {"amount_eur": T, "receipt_reference": T, "participant_id": T},
    "CourseCancelled": {"reason": T},
    "CourseCompleted": {},
    # The user directory (domain/user.py): staff, not participants; their name and
    # e-mail are personal data all the same, sealed under the user's own key.
    "UserAdded": {"user_id": T, "issuer": T, "subject": T, "display_name": I, "email": I},
    "MembershipGranted": {"role": T, "member_of": T},
    "MembershipWithdrawn": {"role": T, "member_of": T},
    "UserDeactivated": {"reason": T},
    "UserReactivated": {},
}


def event_classes() -> dict[str, type[Participant.Event] | type[Course.Event] | type[User.Event]]:
    """Every persisted event class (participants' and courses'), by name.

    ``Created`` is the library's default creation event, which its metaclass adds to
    every aggregate; participants and courses are created by events of their own
    (``Registered``, ``CourseScheduled``), so it is never stored.
    """
    found: dict[str, type[Participant.Event] | type[Course.Event] | type[User.Event]] = {}
    for aggregate in (Participant, Course, User):
        base = aggregate.Event
        for name, value in vars(aggregate).items():
            if (
                isinstance(value, type)
                and issubclass(value, base)
                and name not in ("Event", "Created")
            ):
                # Classified by name: names must not collide.
                assert name not in found, f"{name} is defined twice"
                found[name] = value
    return found


def unclassified_fields() -> list[str]:
    """``Type.field`` for every event field missing from the classification."""
    missing = []
    for name, cls in event_classes().items():
        classified = CLASSIFICATION.get(name, {})
        for f in dataclasses.fields(cls):
            # The envelope is not classified per event: user ids are staff pseudonyms.
            if f.name not in ENVELOPE_FIELDS and f.name not in classified:
                missing.append(f"{name}.{f.name}")
    return missing


def identifying_fields(event_type: str) -> frozenset[str]:
    return frozenset(k for k, v in CLASSIFICATION.get(event_type, {}).items() if v == I)


def identifying_changes(corrected_type: str, changes: dict[str, Any]) -> frozenset[str]:
    """Which keys of a correction's ``changes`` carry identifying values."""
    return identifying_fields(corrected_type) & changes.keys()
