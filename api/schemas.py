"""HTTP request and response models: the public API contract.

Kept separate from the events on purpose: events are a persisted contract, these a
published one, and each may evolve on its own terms. Families say the direction
of the data: ``...Create`` comes in, ``...Public`` goes out.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic import Strict as StrictMode
from pydantic_core import PydanticCustomError

from lotse.domain.text import refusal
from lotse.domain.vocabulary import (
    Certificate,
    ContactMode,
    Destination,
    DuplicateDismissalReason,
    EmploymentType,
    EndReason,
    ErasureMode,
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

# ------------------------------------------------------------------ value types
#
# Every string of a request is one of these types, so one rule (domain.text) decides
# which characters are accepted; tests/unit/test_text_rules.py fails on a
# request field typed plain ``str``. Numbers and booleans are strict: ``true`` is
# not 1 and ``"10"`` is not 10. Dates are ISO strings (YYYY-MM-DD).


def _line(value: str) -> str:
    reason = refusal(value, free_text=False)
    if reason is not None:
        raise PydanticCustomError("invalid_characters", reason)
    return value


def _free_text(value: str) -> str:
    reason = refusal(value, free_text=True)
    if reason is not None:
        raise PydanticCustomError("invalid_characters", reason)
    return value


def _number(value: Any) -> Any:
    # JSON numbers only: a string or a boolean is not a number of hours.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise PydanticCustomError("number_type", "Input should be a number")
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise PydanticCustomError("date_type", "Input should be a date as YYYY-MM-DD")
    return value


#: One line of text: no control characters, no line breaks, no bidi overrides.
Line = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_line)]
#: Free text (reasons, justifications): may also hold tab, newline and CR.
FreeText = Annotated[
    str,
    Field(min_length=1, max_length=500, description="Free text; tab and line breaks allowed"),
    AfterValidator(_free_text),
]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_line)]
Code = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_line)]
CountryCode = Annotated[
    str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2"), AfterValidator(_line)
]
Day = Annotated[date, BeforeValidator(_iso_date)]
Whole = Annotated[int, StrictMode()]
Flag = Annotated[bool, StrictMode()]
_FROM_NUMBER = BeforeValidator(_number)


def _number_schema(low: float, high: float) -> WithJsonSchema:
    # Published as a number: the validator refuses the string form pydantic allows.
    return WithJsonSchema({"type": "number", "minimum": low, "maximum": high})


#: Hours of a lesson or of a working week: JSON numbers, two decimal places.
LessonHours = Annotated[
    Decimal,
    Field(ge=Decimal("0.25"), le=16, max_digits=6, decimal_places=2),
    _FROM_NUMBER,
    _number_schema(0.25, 16),
]
AttendedHours = Annotated[
    Decimal,
    Field(ge=0, le=16, max_digits=6, decimal_places=2),
    _FROM_NUMBER,
    _number_schema(0, 16),
]
WeeklyHours = Annotated[
    Decimal,
    Field(ge=1, le=60, max_digits=5, decimal_places=2),
    _FROM_NUMBER,
    _number_schema(1, 60),
]


class Strict(BaseModel):
    """Unknown fields are errors: a misspelt field must not be silently dropped."""

    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ catalogue


class ModulePublic(BaseModel):
    code: str
    name: str
    per_participant: bool


class ProgrammePublic(BaseModel):
    id: str
    name: str
    config_version: str
    eligibility_rule_version: str
    modules: list[ModulePublic]
    consent_versions: list[str]


class OrganisationPublic(BaseModel):
    id: str
    name: str
    kind: Literal["municipality", "provider"]
    municipality: str | None


# -------------------------------------------------------------- participants


class ParticipantCreate(Strict):
    programme: Code
    provider: Code
    intake_date: Day
    given_name: Name
    family_name: Name
    birth_date: Day
    gender: Gender
    nationality: CountryCode
    residence_status: ResidenceStatus
    age_exception_reason: FreeText | None = None
    residence_valid_until: Day | None = Field(
        default=None, description="Expiry of the residence status (e.g. of a Duldung)"
    )


class ParticipantCreated(BaseModel):
    id: UUID
    version: int
    position: int = Field(
        description="Notification log position of the write, for read-your-writes"
    )
    possible_duplicate: bool = Field(
        default=False,
        description="Another participant of the programme may be the same person "
        "(keyed pseudonyms of name, birth date, nationality); never says which",
    )
    duplicate_scope: Literal["municipality", "elsewhere"] | None = Field(
        default=None,
        description="Where the possible duplicate is registered: in the caller's "
        "municipality or elsewhere; the coordinator can check (GET /duplicates)",
    )


class MilestoneRecorded(BaseModel):
    version: int
    position: int = Field(
        description="Notification log position of the write, for read-your-writes"
    )


class OpenModule(BaseModel):
    module: str
    since: date


class FollowUpPublic(BaseModel):
    months_after_exit: int
    destination: str


class ParticipantPublic(BaseModel):
    id: UUID
    version: int
    programme: str
    provider: str
    municipality: str
    status: Literal["active", "exited", "voided"] = Field(
        description="voided: the registration was voided as a duplicate; it counts nowhere"
    )
    period_start: date = Field(description="Intake of the current enrolment period")
    periods: int = Field(description="Enrolment periods: 1, plus one per re-entry")
    intake_date: date
    given_name: str | None = Field(description="null once personal data was erased")
    family_name: str | None
    birth_date: date | None
    birth_year: int
    age_at_intake: int
    gender: str
    nationality: str
    residence_status: str
    residence_valid_until: date | None
    eligible: bool | None
    target_group: str | None
    eligibility_rule_version: str | None
    consent_version: str | None
    consent_withdrawn: bool
    language_level: str | None
    open_modules: list[OpenModule]
    language_courses: list[str]
    certificates: list[str]
    internship_since: date | None
    entry_qualification_since: date | None
    apprenticeship_since: date | None
    employment_since: date | None
    employment_type: str | None
    coaching_contacts: int
    coaching_minutes: int
    exit_date: date | None
    exit_reason: str | None
    exit_destination: str | None
    follow_ups: list[FollowUpPublic]
    corrections: int
    personal_data_erased: bool
    restricted: bool
    last_milestone: str
    last_effective_date: date


class RecordedBy(BaseModel):
    user: str
    role: str


class HistoryEntry(BaseModel):
    version: int
    type: str
    effective_date: date
    recorded_at: datetime
    recorded_by: RecordedBy
    organisation: str
    request_id: str
    data: dict[str, Any]
    erased_fields: list[str] = Field(
        default_factory=list, description="identifying fields whose key was destroyed"
    )
    corrected_by: list[int] = Field(
        default_factory=list, description="versions of the corrections of this entry"
    )
    corrects_version: int | None = Field(
        default=None, description="on a correction: the version of the entry it corrects"
    )
    voided_by: int | None = Field(
        default=None, description="the version of the EntryVoided that voided this entry"
    )
    voids_version: int | None = Field(
        default=None, description="on a void: the version of the entry it voids"
    )


class HistoryPublic(BaseModel):
    participant_id: UUID
    as_of: date | None = None
    known_at: datetime | None = None
    events: list[HistoryEntry]


# ----------------------------------------------------------------- milestones


class Milestone(Strict):
    effective_date: Day = Field(
        description="When it happened; not in the future, not before intake"
    )


class EligibilityAssessedCreate(Milestone):
    type: Literal["EligibilityAssessed"]
    eligible: Flag
    target_group: TargetGroup
    lives_in_reception_centre: Flag = False
    excluded_by_security_check: Flag = Field(
        default=False, description="Only the outcome of the check: never offence details"
    )
    employment_ban: Flag = False
    regular_school_access: Flag = True
    justification: FreeText | None = None


class ConsentGivenCreate(Milestone):
    type: Literal["ConsentGiven"]
    consent_version: Code
    language: Annotated[Code, Field(min_length=2, max_length=8)] | None = None


class ConsentWithdrawnCreate(Milestone):
    type: Literal["ConsentWithdrawn"]


class CaseTransferredCreate(Milestone):
    type: Literal["CaseTransferred"]
    to_provider: Code


class LanguageLevelAssessedCreate(Milestone):
    type: Literal["LanguageLevelAssessed"]
    level: LanguageLevel
    instrument: Line | None = None


class ModuleEnteredCreate(Milestone):
    type: Literal["ModuleEntered"]
    module: Code


class ModuleExitedCreate(Milestone):
    type: Literal["ModuleExited"]
    module: Code
    reason: ModuleExitReason


class CoachingContactLoggedCreate(Milestone):
    type: Literal["CoachingContactLogged"]
    minutes: Annotated[Whole, Field(ge=1, le=600)]
    mode: ContactMode
    confirmed_by_participant: Flag = False


class CaseAssignedCreate(Milestone):
    type: Literal["CaseAssigned"]
    assignee: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_line)] = Field(
        description="The user id of a case worker of the participant's provider"
    )


class CaseUnassignedCreate(Milestone):
    type: Literal["CaseUnassigned"]
    assignee: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_line)]


class CourseAttendanceRecordedCreate(Milestone):
    type: Literal["CourseAttendanceRecorded"]
    module: Code
    lesson_hours: LessonHours
    lesson_hours_attended: AttendedHours | None = Field(
        default=None, description="Defaults to lesson_hours (all held hours attended)"
    )


class LanguageCourseStartedCreate(Milestone):
    type: Literal["LanguageCourseStarted"]
    course_type: LanguageCourseType
    target_level: LanguageLevel | None = None


class LanguageCourseCompletedCreate(Milestone):
    type: Literal["LanguageCourseCompleted"]
    course_type: LanguageCourseType
    achieved_level: LanguageLevel | None = None


class CertificateObtainedCreate(Milestone):
    type: Literal["CertificateObtained"]
    certificate: Certificate
    level: LanguageLevel | None = None


class InternshipStartedCreate(Milestone):
    type: Literal["InternshipStarted"]
    occupation: Line | None = None
    employer_name: Line | None = None


class InternshipEndedCreate(Milestone):
    type: Literal["InternshipEnded"]
    reason: EndReason


class EntryQualificationStartedCreate(Milestone):
    type: Literal["EntryQualificationStarted"]
    occupation: Line | None = None
    employer_name: Line | None = None


class EntryQualificationEndedCreate(Milestone):
    type: Literal["EntryQualificationEnded"]
    reason: EndReason


class ApprenticeshipStartedCreate(Milestone):
    type: Literal["ApprenticeshipStarted"]
    occupation: Line
    employer_name: Line | None = None


class ApprenticeshipAbortedCreate(Milestone):
    type: Literal["ApprenticeshipAborted"]
    reason: EndReason


class ApprenticeshipCompletedCreate(Milestone):
    type: Literal["ApprenticeshipCompleted"]
    passed_exam: Flag = True


class EmploymentStartedCreate(Milestone):
    type: Literal["EmploymentStarted"]
    employment_type: EmploymentType
    hours_per_week: WeeklyHours
    occupation: Line | None = None
    employer_name: Line | None = None


class EmploymentEndedCreate(Milestone):
    type: Literal["EmploymentEnded"]
    reason: EndReason


class ResidenceStatusChangedCreate(Milestone):
    type: Literal["ResidenceStatusChanged"]
    status: ResidenceStatus
    valid_until: Day | None = Field(
        default=None,
        # The contract's name is residence_valid_until (as at registration); the
        # stored event keeps its field valid_until.
        validation_alias=AliasChoices("residence_valid_until", "valid_until"),
        description="Expiry, e.g. of a Duldung; also accepted as residence_valid_until",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_expiry(cls, data: Any) -> Any:
        if isinstance(data, dict) and "valid_until" in data and "residence_valid_until" in data:
            raise PydanticCustomError(
                "one_expiry", "give residence_valid_until or valid_until, not both"
            )
        return data


class ExitedCreate(Milestone):
    type: Literal["Exited"]
    reason: ExitReason
    destination: Destination


class FollowUpRecordedCreate(Milestone):
    type: Literal["FollowUpRecorded"]
    destination: Destination
    months_after_exit: Annotated[Whole, Field(ge=1, le=36)]


class WorklistItemDismissedCreate(Milestone):
    """Take a due-list item (``GET /worklist``) off the list, with a reason code."""

    type: Literal["WorklistItemDismissed"]
    kind: WorklistKind
    due_date: Day = Field(description="The item's due date as the due list shows it")
    reason: WorklistDismissalReason


class EntryCorrectedCreate(Milestone):
    type: Literal["EntryCorrected"]
    corrects_version: Annotated[Whole, Field(ge=1)]
    reason: FreeText
    changes: dict[str, Any] = Field(
        description="Corrected fields of the earlier entry, validated like that entry's own fields",
        min_length=1,
    )


class ReenteredCreate(Milestone):
    """A new enrolment period after the exit; eligibility and consent are needed again."""

    type: Literal["Reentered"]
    intake_date: date = Field(description="The new intake; equal to effective_date")


class EntryVoidedCreate(Milestone):
    """Take an erroneous entry out of every figure; the history keeps it, marked void.

    Voiding the registration (version 1) voids a duplicate record as a whole; voiding
    a module entry voids the stay (entry and exit); voiding the exit voids the module
    exits recorded with it.
    """

    type: Literal["EntryVoided"]
    voids_version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    reason: FreeText


MilestoneCreate = Annotated[
    EligibilityAssessedCreate
    | ConsentGivenCreate
    | ConsentWithdrawnCreate
    | CaseTransferredCreate
    | LanguageLevelAssessedCreate
    | ModuleEnteredCreate
    | ModuleExitedCreate
    | CoachingContactLoggedCreate
    | CaseAssignedCreate
    | CaseUnassignedCreate
    | CourseAttendanceRecordedCreate
    | LanguageCourseStartedCreate
    | LanguageCourseCompletedCreate
    | CertificateObtainedCreate
    | InternshipStartedCreate
    | InternshipEndedCreate
    | EntryQualificationStartedCreate
    | EntryQualificationEndedCreate
    | ApprenticeshipStartedCreate
    | ApprenticeshipAbortedCreate
    | ApprenticeshipCompletedCreate
    | EmploymentStartedCreate
    | EmploymentEndedCreate
    | ResidenceStatusChangedCreate
    | ExitedCreate
    | FollowUpRecordedCreate
    | WorklistItemDismissedCreate
    | ReenteredCreate
    | EntryCorrectedCreate
    | EntryVoidedCreate,
    Field(discriminator="type"),
]

MILESTONE_MODELS: dict[str, type[Milestone]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in Milestone.__subclasses__()
}


# ------------------------------------------------------------------ referrals


class ReferralCreate(Strict):
    """A referral to another provider for one module (``ReferralMade``)."""

    provider: Code = Field(description="The receiving provider")
    module: Code
    effective_date: date


class ReferralCreated(BaseModel):
    referral_id: str
    version: int
    position: int = Field(
        description="Notification log position of the write, for read-your-writes"
    )


class ReferralAcceptanceCreate(Strict):
    """The receiving provider accepts the referral (``ReferralAccepted``)."""

    effective_date: date


class ReferralEndCreate(Strict):
    """Either provider ends the referral (``ReferralEnded``)."""

    effective_date: date
    reason: ReferralEndReason


#: The request schema of each referral event (their routes are their own, not milestones).
REFERRAL_MODELS: dict[str, type[BaseModel]] = {
    "ReferralMade": ReferralCreate,
    "ReferralAccepted": ReferralAcceptanceCreate,
    "ReferralEnded": ReferralEndCreate,
}


class DuplicateDecisionCreate(Strict):
    """A coordinator's decision on a candidate pair (``GET /duplicates``)."""

    participant_a: UUID
    participant_b: UUID
    decision: Literal["linked", "dismissed"] = Field(
        description="linked: the same person (counted once); dismissed: two people"
    )
    reason: DuplicateDismissalReason | None = Field(
        default=None, description="Required when dismissed"
    )


DUPLICATE_MODELS: dict[str, type[BaseModel]] = {
    "DuplicatesLinked": DuplicateDecisionCreate,
    "DuplicatesDismissed": DuplicateDecisionCreate,
}


class ErasureCreate(Strict):
    mode: ErasureMode = Field(
        default=ErasureMode.SHRED,
        description="shred: destroy the key now; restrict: stop processing, shred at retention end",
    )
    reason: Literal["participant_request", "consent_withdrawn", "retention_expired", "other"]


class ErasurePublic(BaseModel):
    participant_id: UUID
    mode: ErasureMode
    changed: bool
    detail: str
    version: int


# --------------------------------------------------------------------- audit


class ParticipantStatePublic(ParticipantPublic):
    """A participant as of a day, as known at a time (bitemporal replay)."""

    as_of: date | None = Field(description="events effective on or before this day counted")
    known_at: datetime | None = Field(description="only what had been recorded by then")
    counted_versions: list[int] = Field(description="versions of the entries folded in")
    applied_corrections: list[int] = Field(description="versions of the corrections applied")


class AccessLogEntryPublic(BaseModel):
    id: int
    at: datetime
    user_id: str
    role: str
    organisation: str
    endpoint: str
    purpose: str | None
    outcome: int = Field(description="HTTP status: 200 read, 401/403/404 refused")
    request_id: str


class AccessLogPublic(BaseModel):
    participant_id: UUID
    entries: list[AccessLogEntryPublic] = Field(description="newest first")


class CheckpointPublic(BaseModel):
    id: int
    position: int
    chain_hash: str
    signed_at: datetime
    signature: str
    public_key_id: str
    access_log_id: int | None = None
    """Version 2: the newest read-access-log entry the checkpoint signs (absent: version 1)."""
    access_log_hash: str | None = None
    keys_count: int | None = None
    """Version 2: participants with a key (row) registered up to ``position``."""
    keys_digest: str | None = None


class ProblemPublic(BaseModel):
    position: int
    kind: str
    detail: str
    checkpoint_id: int | None


class VerificationPublic(BaseModel):
    ok: bool
    verified: int = Field(description="events whose chain hash was recomputed and matched")
    head: int
    checkpoints_checked: int
    started_after: int
    first_problem: ProblemPublic | None
    problems: list[ProblemPublic]
