"""Value checks shared by the commands and by corrections of earlier entries.

A correction may change a field of an earlier event, so the same check must run
whether the value arrives in a new milestone or in a correction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from lotse.domain.errors import InvalidInputError
from lotse.domain.text import check_text
from lotse.domain.vocabulary import (
    Certificate,
    ContactMode,
    Destination,
    DuplicateDismissalReason,
    EmploymentType,
    EndReason,
    ExitReason,
    Gender,
    LanguageCourseType,
    LanguageLevel,
    ModuleExitReason,
    ReferralEndReason,
    ResidenceStatus,
    TargetGroup,
    WorklistDismissalReason,
    WorklistKind,
)

_COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_TEXT = 500


def one_of(vocabulary: type[StrEnum]) -> Callable[[str, Any], None]:
    def check(field: str, value: Any) -> None:
        if value not in vocabulary.__members__.values():
            allowed = ", ".join(v.value for v in vocabulary)
            msg = f"{field} must be one of: {allowed}"
            raise InvalidInputError(msg, field=field)

    return check


def optional(check: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    def optional_check(field: str, value: Any) -> None:
        if value is not None:
            check(field, value)

    return optional_check


def _text(field: str, value: Any, *, free_text: bool) -> None:
    if not isinstance(value, str) or not value.strip():
        msg = f"{field} must be a non-empty text"
        raise InvalidInputError(msg, field=field)
    if len(value) > MAX_TEXT:
        msg = f"{field} must be at most {MAX_TEXT} characters"
        raise InvalidInputError(msg, field=field)
    check_text(field, value, free_text=free_text)


def text(field: str, value: Any) -> None:
    """One line: names, codes, occupations (see ``domain.text``)."""
    _text(field, value, free_text=False)


def free_text(field: str, value: Any) -> None:
    """Several lines allowed: reasons and justifications."""
    _text(field, value, free_text=True)


def country(field: str, value: Any) -> None:
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
        msg = f"{field} must be an ISO 3166-1 alpha-2 country code such as SY or AF"
        raise InvalidInputError(msg, field=field)


def a_date(field: str, value: Any) -> None:
    if not isinstance(value, date):
        msg = f"{field} must be a date"
        raise InvalidInputError(msg, field=field)


def boolean(field: str, value: Any) -> None:
    if not isinstance(value, bool):
        msg = f"{field} must be true or false"
        raise InvalidInputError(msg, field=field)


def number_between(low: Decimal, high: Decimal) -> Callable[[str, Any], None]:
    def check(field: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            msg = f"{field} must be a number"
            raise InvalidInputError(msg, field=field)
        if not low <= Decimal(value) <= high:
            msg = f"{field} must be between {low} and {high}"
            raise InvalidInputError(msg, field=field)

    return check


def whole_number_between(low: int, high: int) -> Callable[[str, Any], None]:
    def check(field: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"{field} must be a whole number"
            raise InvalidInputError(msg, field=field)
        if not low <= value <= high:
            msg = f"{field} must be between {low} and {high}"
            raise InvalidInputError(msg, field=field)

    return check


def module_code(field: str, value: Any) -> None:
    # Whether the code belongs to the programme is checked against the programme
    # configuration by the aggregate; here only the shape.
    text(field, value)


# Checks by field name; where one name means different vocabularies in different
# events, the event type qualifies it ("Exited.reason").
FIELD_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "given_name": text,
    "family_name": text,
    "birth_date": a_date,
    "intake_date": a_date,
    "gender": one_of(Gender),
    "nationality": country,
    "residence_status": one_of(ResidenceStatus),
    "age_exception_reason": optional(free_text),
    "eligible": boolean,
    "target_group": one_of(TargetGroup),
    "lives_in_reception_centre": boolean,
    "excluded_by_security_check": boolean,
    "employment_ban": boolean,
    "regular_school_access": boolean,
    "justification": optional(free_text),
    "consent_version": text,
    "language": optional(text),
    "level": one_of(LanguageLevel),
    "instrument": optional(text),
    "module": module_code,
    "assignee": text,
    "minutes": whole_number_between(1, 600),
    "mode": one_of(ContactMode),
    "confirmed_by_participant": boolean,
    "lesson_hours": number_between(Decimal("0.25"), Decimal(16)),
    "lesson_hours_attended": number_between(Decimal(0), Decimal(16)),
    "course_type": one_of(LanguageCourseType),
    "target_level": optional(one_of(LanguageLevel)),
    "achieved_level": optional(one_of(LanguageLevel)),
    "certificate": one_of(Certificate),
    "occupation": optional(text),
    "employer_name": optional(text),
    "reason": one_of(EndReason),
    "ModuleExited.reason": one_of(ModuleExitReason),
    "Exited.reason": one_of(ExitReason),
    "EntryCorrected.reason": free_text,
    "EntryVoided.reason": free_text,
    "voids_version": whole_number_between(1, 2**31 - 1),
    "ReferralEnded.reason": one_of(ReferralEndReason),
    "ReferralMade.provider": text,
    "referral_id": text,
    "passed_exam": boolean,
    "employment_type": one_of(EmploymentType),
    "hours_per_week": number_between(Decimal(1), Decimal(60)),
    "status": one_of(ResidenceStatus),
    "valid_until": optional(a_date),
    "residence_valid_until": optional(a_date),
    "kind": one_of(WorklistKind),
    "due_date": a_date,
    "WorklistItemDismissed.reason": one_of(WorklistDismissalReason),
    "DuplicatesDismissed.reason": one_of(DuplicateDismissalReason),
    "destination": one_of(Destination),
    "months_after_exit": whole_number_between(1, 36),
    "effective_date": a_date,
}


def check_field(event_type: str, field: str, value: Any) -> None:
    """Check one value of one event field, raising InvalidInputError naming the field."""
    check = FIELD_CHECKS.get(f"{event_type}.{field}") or FIELD_CHECKS.get(field)
    if check is None:
        msg = f"{field} is not a field of {event_type}"
        raise InvalidInputError(msg, field=field)
    check(field, value)
