"""The participant aggregate: one young person's journey through a programme.

Command methods (``register``, ``enter_module``, ...) check the rules and then
trigger an event; events only mutate state (``evolve``), because they re-run on
every load. Event classes and their fields are a persisted, public schema: do not
rename or reshape one without a ``class_version`` and an upcaster.

State is always a fold over the *entries* (every event except corrections, voids
and erasure), with corrections substituted: ``EntryCorrected`` replaces the
corrected entry and the state is folded again, so the history keeps both versions
while the current state shows the corrected one. ``EntryVoided`` takes an entry out
of the fold the same way (the history keeps it); voiding the registration voids the
whole record (a duplicate registration): the participant then counts nowhere.

A correction or a void is accepted only if the journey with it applied still keeps
every rule: ``domain.consistency`` replays the changed entries through the same
commands that recorded them.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from lotse.domain.checks import check_field
from lotse.domain.configuration import MAX_VALIDITY_YEARS, Programme, Provider
from lotse.domain.envelope import ENVELOPE_FIELDS, Envelope, envelope_fields
from lotse.domain.errors import InvalidInputError, ReferralNotFoundError, RuleViolationError
from lotse.domain.referrals import Referral
from lotse.domain.text import check_event_text
from lotse.domain.vocabulary import ErasureMode, ExitReason, ModuleExitReason, ReferralEndReason

# Fields of the envelope and of the library are never the target of a correction;
# the effective date is (a milestone recorded on the wrong day).
_NOT_DATA = ENVELOPE_FIELDS - {"effective_date"}
# Registration fields that other milestones change (transfer), or that are derived.
_NOT_CORRECTABLE = frozenset(
    {
        "programme",
        "provider",
        "municipality",
        "birth_year",
        "age_at_intake",
        "from_provider",
        "to_provider",
        "from_municipality",
        "to_municipality",
        "referral_id",
    }
)

_EXIT_TO_MODULE_EXIT = {
    ExitReason.COMPLETED: ModuleExitReason.COMPLETED,
    ExitReason.ABORTED_PARTICIPANT: ModuleExitReason.ABORTED_PARTICIPANT,
    ExitReason.ABORTED_PROVIDER: ModuleExitReason.ABORTED_PROVIDER,
    ExitReason.STATUS_CHANGE: ModuleExitReason.STATUS_CHANGE,
    ExitReason.MOVED_AWAY: ModuleExitReason.MOVED_AWAY,
    ExitReason.LEFT_GERMANY: ModuleExitReason.LEFT_GERMANY,
    ExitReason.OTHER: ModuleExitReason.OTHER,
}


@functools.cache
def known_field_names() -> frozenset[str]:
    """Every field name of every event: names that may be repeated in an error."""
    return frozenset(
        f.name
        for value in vars(Participant).values()
        if isinstance(value, type) and issubclass(value, Participant.Event)
        for f in dataclasses.fields(value)
    )


def age_on(birth_date: date, day: date) -> int:
    """Completed years of life on ``day``."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


class Participant(Aggregate):
    """A participant of a funded programme, identified by a random UUID."""

    # ------------------------------------------------------------------ events

    class Event(Aggregate.Event):
        """Every event carries its envelope besides its own data."""

        effective_date: date
        """When it happened in the world (the recorded-at time is ``timestamp``)."""
        recorded_by: str
        """User id of whoever recorded it."""
        recorded_role: str
        organisation: str
        """The organisation the recorder acted for (provider, municipality, ...)."""
        request_id: str
        """Correlates the event with the HTTP request and the logs."""

        #: Events that are facts about the journey (not corrections or erasure).
        is_entry: ClassVar[bool] = True

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, Participant)
            if not hasattr(aggregate, "_entries"):
                aggregate._reset()
            if self.is_entry:
                aggregate._entries[self.originator_version] = self
                self.evolve(aggregate)
                aggregate.last_effective_date = max(
                    aggregate.last_effective_date, self.effective_date
                )
            else:
                self.evolve(aggregate)
            aggregate.last_milestone = type(self).__name__

        def evolve(self, p: Participant) -> None:
            """Change the participant's state; overridden by every event."""

    class Registered(Event, Aggregate.Created):
        programme: str
        provider: str
        municipality: str
        intake_date: date
        given_name: str | None
        family_name: str | None
        birth_date: date | None
        birth_year: int
        age_at_intake: int
        gender: str
        nationality: str
        residence_status: str
        age_exception_reason: str | None
        residence_valid_until: date | None
        """Since version 2: the expiry of the residence status at intake (a Duldung's)."""

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Registrations before version 2 recorded no expiry with the status.
            state["residence_valid_until"] = None

        def evolve(self, p: Participant) -> None:
            p._reset()
            p.programme = self.programme
            p.provider = self.provider
            p.municipality = self.municipality
            p.intake_date = self.intake_date
            p.given_name = self.given_name
            p.family_name = self.family_name
            p.birth_date = self.birth_date
            p.birth_year = self.birth_year
            p.age_at_intake = self.age_at_intake
            p.gender = self.gender
            p.nationality = self.nationality
            p.residence_status = self.residence_status
            p.residence_valid_until = self.residence_valid_until
            p.age_exception_reason = self.age_exception_reason
            p.last_effective_date = self.effective_date
            p.period_start = self.intake_date
            p.periods = 1

    class EligibilityAssessed(Event):
        eligible: bool
        target_group: str
        rule_version: str
        lives_in_reception_centre: bool
        excluded_by_security_check: bool
        employment_ban: bool
        regular_school_access: bool
        justification: str | None

        def evolve(self, p: Participant) -> None:
            p.eligible = self.eligible
            p.target_group = self.target_group
            p.eligibility_rule_version = self.rule_version
            p.employment_ban = self.employment_ban
            p.regular_school_access = self.regular_school_access

    class ConsentGiven(Event):
        consent_version: str
        language: str | None

        def evolve(self, p: Participant) -> None:
            p.consent_version = self.consent_version
            p.consent_withdrawn = False

    class ConsentWithdrawn(Event):
        def evolve(self, p: Participant) -> None:
            p.consent_withdrawn = True

    class CaseTransferred(Event):
        from_provider: str
        to_provider: str
        from_municipality: str
        to_municipality: str

        def evolve(self, p: Participant) -> None:
            p.provider = self.to_provider
            p.municipality = self.to_municipality

    class ReferralMade(Event):
        """The lead provider refers the participant to another provider for a module."""

        referral_id: str
        provider: str
        """The receiving provider."""
        module: str
        consent_version: str
        """The consent the referral rests on: the version in force when it was made."""

        def evolve(self, p: Participant) -> None:
            p.referrals[self.referral_id] = Referral(
                referral_id=self.referral_id,
                provider=self.provider,
                module=self.module,
                consent_version=self.consent_version,
                made_on=self.effective_date,
            )

    class ReferralAccepted(Event):
        """The receiving provider takes the participant on for the referral's module."""

        referral_id: str

        def evolve(self, p: Participant) -> None:
            referral = p.referrals.get(self.referral_id)
            if referral is not None:
                p.referrals[self.referral_id] = dataclasses.replace(
                    referral, accepted_on=self.effective_date
                )

    class ReferralEnded(Event):
        """Either provider ends the referral (or the consent it rests on was withdrawn)."""

        referral_id: str
        reason: str

        def evolve(self, p: Participant) -> None:
            referral = p.referrals.get(self.referral_id)
            if referral is not None:
                p.referrals[self.referral_id] = dataclasses.replace(
                    referral, ended_on=self.effective_date, end_reason=self.reason
                )

    class LanguageLevelAssessed(Event):
        level: str
        instrument: str | None

        def evolve(self, p: Participant) -> None:
            p.language_level = self.level

    class ModuleEntered(Event):
        module: str

        def evolve(self, p: Participant) -> None:
            p.open_modules[self.module] = self.effective_date

    class ModuleExited(Event):
        module: str
        reason: str

        def evolve(self, p: Participant) -> None:
            p.open_modules.pop(self.module, None)

    class CoachingContactLogged(Event):
        minutes: int
        mode: str
        confirmed_by_participant: bool

        def evolve(self, p: Participant) -> None:
            p.coaching_contacts += 1
            p.coaching_minutes += self.minutes

    class CaseAssigned(Event):
        """A case worker of the provider (a user id) is now responsible for the case."""

        assignee: str

        def evolve(self, p: Participant) -> None:
            p.assignees.add(self.assignee)

    class CaseUnassigned(Event):
        assignee: str

        def evolve(self, p: Participant) -> None:
            p.assignees.discard(self.assignee)

    class CourseAttendanceRecorded(Event):
        module: str
        lesson_hours: Decimal
        lesson_hours_attended: Decimal

        def evolve(self, p: Participant) -> None:
            p.lesson_hours[self.module] = p.lesson_hours.get(self.module, Decimal(0)) + Decimal(
                self.lesson_hours
            )

    class LanguageCourseStarted(Event):
        course_type: str
        target_level: str | None

        def evolve(self, p: Participant) -> None:
            p.language_courses[self.course_type] = self.effective_date

    class LanguageCourseCompleted(Event):
        course_type: str
        achieved_level: str | None

        def evolve(self, p: Participant) -> None:
            p.language_courses.pop(self.course_type, None)
            if self.achieved_level:
                p.language_level = self.achieved_level

    class CertificateObtained(Event):
        certificate: str
        level: str | None

        def evolve(self, p: Participant) -> None:
            p.certificates.append(self.certificate)

    class InternshipStarted(Event):
        occupation: str | None
        employer_name: str | None

        def evolve(self, p: Participant) -> None:
            p.internship_since = self.effective_date

    class InternshipEnded(Event):
        reason: str

        def evolve(self, p: Participant) -> None:
            p.internship_since = None

    class EntryQualificationStarted(Event):
        occupation: str | None
        employer_name: str | None

        def evolve(self, p: Participant) -> None:
            p.entry_qualification_since = self.effective_date

    class EntryQualificationEnded(Event):
        reason: str

        def evolve(self, p: Participant) -> None:
            p.entry_qualification_since = None

    class ApprenticeshipStarted(Event):
        occupation: str
        employer_name: str | None

        def evolve(self, p: Participant) -> None:
            p.apprenticeship_since = self.effective_date

    class ApprenticeshipAborted(Event):
        reason: str

        def evolve(self, p: Participant) -> None:
            p.apprenticeship_since = None

    class ApprenticeshipCompleted(Event):
        passed_exam: bool

        def evolve(self, p: Participant) -> None:
            p.apprenticeship_since = None

    class EmploymentStarted(Event):
        employment_type: str
        hours_per_week: Decimal
        occupation: str | None
        employer_name: str | None

        def evolve(self, p: Participant) -> None:
            p.employment_since = self.effective_date
            p.employment_type = self.employment_type

    class EmploymentEnded(Event):
        reason: str

        def evolve(self, p: Participant) -> None:
            p.employment_since = None
            p.employment_type = None

    class ResidenceStatusChanged(Event):
        status: str
        valid_until: date | None

        def evolve(self, p: Participant) -> None:
            p.residence_status = self.status
            p.residence_valid_until = self.valid_until

    class Exited(Event):
        reason: str
        destination: str

        def evolve(self, p: Participant) -> None:
            p.exit_date = self.effective_date
            p.exit_reason = self.reason
            p.exit_destination = self.destination

    class FollowUpRecorded(Event):
        destination: str
        months_after_exit: int

        def evolve(self, p: Participant) -> None:
            p.follow_ups.append((self.months_after_exit, self.destination))

    class WorklistItemDismissed(Event):
        """A due-list item taken off the list by a case worker, with a reason code.

        A participant's entry (not an aggregate of its own): it is about the
        participant, is scoped, audited, corrected, voided and erased with the rest
        of the journey, and the due list is a fold of the same stream.
        """

        kind: str
        due_date: date
        reason: str

        def evolve(self, p: Participant) -> None:
            pass

    class Reentered(Event):
        """A new enrolment period after an exit: eligibility and consent start afresh."""

        intake_date: date

        def evolve(self, p: Participant) -> None:
            p.period_start = self.intake_date
            p.periods += 1
            p.exit_date = None
            p.exit_reason = None
            p.exit_destination = None
            # The new period needs its own eligibility assessment and consent.
            p.eligible = None
            p.target_group = None
            p.eligibility_rule_version = None
            p.consent_version = None
            p.consent_withdrawn = False

    class EntryVoided(Event):
        """An erroneous entry taken out of the journey; the history keeps both."""

        voids_version: int
        voided_type: str
        """The type of the voided event (``Registered``: the whole record is void)."""
        reason: str

        is_entry: ClassVar[bool] = False

        def evolve(self, p: Participant) -> None:
            p.voided_versions.add(self.voids_version)
            if self.voids_version == 1:
                # The state stays readable as recorded; the record counts nowhere.
                p.registration_voided = True
                return
            p._entries.pop(self.voids_version, None)
            p._refold()

    class EntryCorrected(Event):
        corrects_version: int
        corrected_type: str
        """The type of the corrected event, so each change can be classified."""
        reason: str
        changes: dict[str, Any]

        is_entry: ClassVar[bool] = False

        def evolve(self, p: Participant) -> None:
            original = p._entries[self.corrects_version]
            p._entries[self.corrects_version] = dataclasses.replace(original, **self.changes)
            p.corrections += 1
            p._refold()

    class PersonalDataErased(Event):
        """Contains no personal data: it marks the erasure (or restriction)."""

        mode: str
        reason_code: str

        is_entry: ClassVar[bool] = False

        def evolve(self, p: Participant) -> None:
            if self.mode == ErasureMode.RESTRICT:
                p.restricted = True
            else:
                p.personal_data_erased = True
                p.restricted = False
                p._forget_identifiers()

    class DuplicatesLinked(Event):
        """A coordinator found this participant and another to be the same person.

        Recorded on both participants in one transaction, so each provider keeps its
        own history and each record says it was linked; reports count the two as one
        person (``projections.person_links``). Names no one: only the other id.
        """

        other_participant: str

        is_entry: ClassVar[bool] = False

        def evolve(self, p: Participant) -> None:
            p.duplicate_decisions[self.other_participant] = "linked"

    class DuplicatesDismissed(Event):
        """A coordinator found a candidate pair to be two different people."""

        other_participant: str
        reason: str

        is_entry: ClassVar[bool] = False

        def evolve(self, p: Participant) -> None:
            p.duplicate_decisions[self.other_participant] = "dismissed"

    # --------------------------------------------------------------- state

    def _reset(self) -> None:
        """Derived state before the first entry; ``_entries`` survives a refold."""
        self.programme = ""
        self.provider = ""
        self.municipality = ""
        self.intake_date: date = date.min
        self.given_name: str | None = None
        self.family_name: str | None = None
        self.birth_date: date | None = None
        self.birth_year = 0
        self.age_at_intake = 0
        self.gender = ""
        self.nationality = ""
        self.residence_status = ""
        self.residence_valid_until: date | None = None
        self.age_exception_reason: str | None = None
        self.eligible: bool | None = None
        self.target_group: str | None = None
        self.eligibility_rule_version: str | None = None
        self.employment_ban = False
        self.regular_school_access = True
        self.consent_version: str | None = None
        self.consent_withdrawn = False
        self.referrals: dict[str, Referral] = {}
        self.language_level: str | None = None
        self.open_modules: dict[str, date] = {}
        self.language_courses: dict[str, date] = {}
        self.certificates: list[str] = []
        self.internship_since: date | None = None
        self.entry_qualification_since: date | None = None
        self.apprenticeship_since: date | None = None
        self.employment_since: date | None = None
        self.employment_type: str | None = None
        self.coaching_contacts = 0
        self.coaching_minutes = 0
        self.assignees: set[str] = set()
        self.lesson_hours: dict[str, Decimal] = {}
        self.exit_date: date | None = None
        self.exit_reason: str | None = None
        self.exit_destination: str | None = None
        self.follow_ups: list[tuple[int, str]] = []
        self.last_effective_date: date = date.min
        #: Where the current enrolment period began (the intake, or the last re-entry).
        self.period_start: date = date.min
        #: Enrolment periods so far: 1 after the registration, +1 per re-entry.
        self.periods = 0
        if not hasattr(self, "_entries"):
            self._entries: dict[int, Participant.Event] = {}
            self.voided_versions: set[int] = set()
            self.registration_voided = False
            self.corrections = 0
            self.personal_data_erased = False
            self.restricted = False
            self.last_milestone = ""
            #: Other participant id -> "linked" | "dismissed" (duplicate decisions).
            self.duplicate_decisions: dict[str, str] = {}

    def _refold(self) -> None:
        for version in sorted(self._entries):
            entry = self._entries[version]
            entry.evolve(self)
            self.last_effective_date = max(self.last_effective_date, entry.effective_date)
        if self.personal_data_erased:
            self._forget_identifiers()

    def _forget_identifiers(self) -> None:
        self.given_name = None
        self.family_name = None
        self.birth_date = None
        self.age_exception_reason = None

    def module_open_on(self, module: str, day: date) -> bool:
        """Whether a stay in ``module`` covers ``day`` (the entry and exit days included).

        Read from the entries as corrected, in recording order, so a corrected
        entry or exit date counts as corrected.
        """
        entered: date | None = None
        for version in sorted(self._entries):
            entry = self._entries[version]
            if isinstance(entry, Participant.ModuleEntered) and entry.module == module:
                entered = entry.effective_date
            elif isinstance(entry, Participant.ModuleExited) and entry.module == module:
                if entered is not None and entered <= day <= entry.effective_date:
                    return True
                entered = None
        return entered is not None and entered <= day

    @property
    def status(self) -> Literal["active", "exited", "voided"]:
        if self.registration_voided:
            return "voided"
        return "exited" if self.exit_date is not None else "active"

    # ------------------------------------------------------------ commands

    @classmethod
    def register(
        cls,
        *,
        envelope: Envelope,
        today: date,
        programme: Programme,
        provider: str,
        municipality: str,
        intake_date: date,
        given_name: str,
        family_name: str,
        birth_date: date,
        gender: str,
        nationality: str,
        residence_status: str,
        age_exception_reason: str | None = None,
        residence_valid_until: date | None = None,
        participant_id: UUID | None = None,
    ) -> Participant:
        values = {
            "given_name": given_name,
            "family_name": family_name,
            "birth_date": birth_date,
            "intake_date": intake_date,
            "gender": gender,
            "nationality": nationality,
            "residence_status": residence_status,
            "age_exception_reason": age_exception_reason,
            "residence_valid_until": residence_valid_until,
        }
        for name, value in values.items():
            check_field("Registered", name, value)
        cls.check_registration_dates(
            programme, intake_date, birth_date, age_exception_reason, today
        )
        if residence_valid_until is not None:
            cls.check_valid_until(
                programme, intake_date, residence_valid_until, field="residence_valid_until"
            )
        check_event_text(
            "Registered",
            {
                **values,
                "provider": provider,
                "municipality": municipality,
                **envelope_fields(envelope),
            },
        )
        return cls._create(
            cls.Registered,
            id=participant_id or uuid4(),
            effective_date=intake_date,
            recorded_by=envelope.user,
            recorded_role=envelope.role,
            organisation=envelope.organisation,
            request_id=envelope.request_id,
            programme=programme.id,
            provider=provider,
            municipality=municipality,
            intake_date=intake_date,
            given_name=given_name,
            family_name=family_name,
            birth_date=birth_date,
            birth_year=birth_date.year,
            age_at_intake=age_on(birth_date, intake_date),
            gender=gender,
            nationality=nationality,
            residence_status=residence_status,
            age_exception_reason=age_exception_reason,
            residence_valid_until=residence_valid_until,
        )

    @staticmethod
    def check_registration_dates(
        programme: Programme,
        intake_date: date,
        birth_date: date,
        age_exception_reason: str | None,
        today: date,
    ) -> None:
        if intake_date < programme.earliest_intake_date:
            msg = (
                "intake_date must not be before "
                f"{programme.earliest_intake_date.isoformat()} (programme {programme.id})"
            )
            raise InvalidInputError(msg, field="intake_date", rule="date-implausible")
        if birth_date < programme.plausible_dates.earliest_birth_date:
            earliest = programme.plausible_dates.earliest_birth_date.isoformat()
            msg = f"birth_date must not be before {earliest}"
            raise InvalidInputError(msg, field="birth_date", rule="date-implausible")
        if intake_date > today:
            msg = "intake_date must not be in the future"
            raise InvalidInputError(msg, field="intake_date", rule="date-in-future")
        if birth_date > today:
            msg = "birth_date must not be in the future"
            raise InvalidInputError(msg, field="birth_date", rule="date-in-future")
        if birth_date >= intake_date:
            msg = "birth_date must be before intake_date"
            raise InvalidInputError(msg, field="birth_date")
        age = age_on(birth_date, intake_date)
        rules = programme.eligibility
        if not rules.min_age <= age <= rules.max_age and not age_exception_reason:
            msg = (
                f"the age at intake is outside {rules.min_age} to {rules.max_age}: "
                "an exception is possible in justified single cases, give age_exception_reason"
            )
            raise RuleViolationError(
                msg, field="age_exception_reason", rule="age-exception-required"
            )

    def _trigger(
        self,
        event_class: type[Participant.Event],
        envelope: Envelope,
        effective_date: date,
        **data: Any,
    ) -> None:
        # The last guard for every command (HTTP, CLI, demo): no string with a
        # control character reaches the log, where it would stop the read side.
        check_event_text(event_class.__name__, {**data, **envelope_fields(envelope)})
        self.trigger_event(
            event_class,
            effective_date=effective_date,
            recorded_by=envelope.user,
            recorded_role=envelope.role,
            organisation=envelope.organisation,
            request_id=envelope.request_id,
            **data,
        )

    def check_effective_date(self, effective_date: date, today: date) -> None:
        if effective_date > today:
            msg = "effective_date must not be in the future"
            raise InvalidInputError(msg, field="effective_date", rule="date-in-future")
        if effective_date < self.period_start:
            msg = "effective_date must not be before the intake date (of the current period)"
            raise RuleViolationError(msg, field="effective_date", rule="date-before-intake")

    @staticmethod
    def check_valid_until(
        programme: Programme | None, effective_date: date, valid_until: date, *, field: str
    ) -> None:
        if valid_until < effective_date:
            msg = "valid_until must not be before effective_date"
            raise InvalidInputError(msg, field=field)
        years = (
            programme.plausible_dates.max_validity_years
            if programme is not None
            else MAX_VALIDITY_YEARS
        )
        if valid_until.year - effective_date.year > years:
            msg = f"valid_until must not be more than {years} years after effective_date"
            raise InvalidInputError(msg, field=field, rule="date-implausible")

    def check_processing_allowed(self, milestone: str) -> None:
        """Restriction (Art. 18 / 17(3)(b) GDPR) and erasure stop all further processing."""
        if self.restricted or self.personal_data_erased:
            msg = (
                "processing of this participant's data is restricted: no milestones can be recorded"
            )
            raise RuleViolationError(msg, rule="processing-restricted")
        if self.registration_voided:
            msg = "this registration was voided (a duplicate): nothing more can be recorded"
            raise RuleViolationError(msg, rule="registration-voided")
        after_exit = (
            "FollowUpRecorded",
            "WorklistItemDismissed",
            "EntryCorrected",
            "EntryVoided",
            "ConsentWithdrawn",
            "Reentered",
        )
        if self.exit_date is not None and milestone not in after_exit:
            msg = (
                "the participant has exited: only follow-ups, corrections, voids, "
                "a re-entry and withdrawal of consent can be recorded"
            )
            raise RuleViolationError(msg, rule="participant-exited")
        allowed_without_consent = (
            "ConsentGiven",
            "ModuleExited",
            "Exited",
            "EntryCorrected",
            "EntryVoided",
            "Reentered",
        )
        if self.consent_withdrawn and milestone not in allowed_without_consent:
            msg = (
                "consent has been withdrawn: only a new consent, module exits, "
                "the exit and corrections can be recorded"
            )
            raise RuleViolationError(msg, rule="consent-withdrawn")

    def _prepare(
        self, event: type[Participant.Event], effective_date: date, today: date, **values: Any
    ) -> None:
        """The checks every command runs first: processing allowed, dates, each field."""
        milestone = event.__name__
        self.check_processing_allowed(milestone)
        check_field(milestone, "effective_date", effective_date)
        self.check_effective_date(effective_date, today)
        for name, value in values.items():
            check_field(milestone, name, value)

    def assess_eligibility(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        programme: Programme,
        eligible: bool,
        target_group: str,
        lives_in_reception_centre: bool = False,
        excluded_by_security_check: bool = False,
        employment_ban: bool = False,
        regular_school_access: bool = True,
        justification: str | None = None,
    ) -> None:
        values = {
            "eligible": eligible,
            "target_group": target_group,
            "lives_in_reception_centre": lives_in_reception_centre,
            "excluded_by_security_check": excluded_by_security_check,
            "employment_ban": employment_ban,
            "regular_school_access": regular_school_access,
            "justification": justification,
        }
        self._prepare(self.EligibilityAssessed, effective_date, today, **values)
        if target_group not in programme.eligibility.target_groups:
            msg = f"target_group is not a target group of programme {programme.id}"
            raise InvalidInputError(msg, field="target_group")
        if eligible and (lives_in_reception_centre or excluded_by_security_check):
            msg = (
                "people living in a state reception centre or excluded by the security "
                "check cannot be assessed as eligible"
            )
            raise RuleViolationError(msg, field="eligible", rule="eligibility-excluded")
        self._trigger(
            self.EligibilityAssessed,
            envelope,
            effective_date,
            rule_version=programme.eligibility.rule_version,
            **values,
        )

    def give_consent(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        programme: Programme,
        consent_version: str,
        language: str | None = None,
    ) -> None:
        self._prepare(
            self.ConsentGiven,
            effective_date,
            today,
            consent_version=consent_version,
            language=language,
        )
        version = programme.consent_version(consent_version)
        if version is None:
            msg = f"consent_version is not a consent text version of programme {programme.id}"
            raise InvalidInputError(msg, field="consent_version", rule="unknown-consent-version")
        if effective_date < version.valid_from:
            msg = "this consent text version was not yet valid on effective_date"
            raise RuleViolationError(msg, field="consent_version", rule="consent-version-not-valid")
        if language is not None and language not in version.languages:
            msg = "this consent text version does not exist in that language"
            raise InvalidInputError(msg, field="language")
        self._trigger(
            self.ConsentGiven,
            envelope,
            effective_date,
            consent_version=consent_version,
            language=language,
        )

    def withdraw_consent(self, *, envelope: Envelope, effective_date: date, today: date) -> None:
        self._prepare(self.ConsentWithdrawn, effective_date, today)
        if self.consent_version is None or self.consent_withdrawn:
            msg = "there is no consent to withdraw"
            raise RuleViolationError(msg, rule="no-consent")
        # Referrals rest on the consent: they end with it, in the same transaction.
        for referral in self.open_referrals():
            self._trigger(
                self.ReferralEnded,
                envelope,
                max(effective_date, referral.accepted_on or referral.made_on),
                referral_id=referral.referral_id,
                reason=ReferralEndReason.CONSENT_WITHDRAWN.value,
            )
        self._trigger(self.ConsentWithdrawn, envelope, effective_date)

    def transfer(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        to_provider: str,
        to_municipality: str,
    ) -> None:
        self._prepare(self.CaseTransferred, effective_date, today)
        if to_provider == self.provider:
            msg = "the participant is already with this provider"
            raise RuleViolationError(msg, field="to_provider", rule="same-provider")
        self._trigger(
            self.CaseTransferred,
            envelope,
            effective_date,
            from_provider=self.provider,
            to_provider=to_provider,
            from_municipality=self.municipality,
            to_municipality=to_municipality,
        )

    # -------------------------------------------------------- referrals

    def open_referrals(self) -> list[Referral]:
        """Referrals made and not ended (accepted or still waiting), oldest first."""
        return [r for r in self.referrals.values() if not r.ended]

    def referral(self, referral_id: str) -> Referral:
        found = self.referrals.get(referral_id)
        if found is None:
            msg = "no referral with this id for this participant"
            raise ReferralNotFoundError(msg, field="referral_id")
        return found

    def make_referral(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        programme: Programme,
        receiving: Provider,
        module: str,
        referral_id: str | None = None,
    ) -> str:
        """Refer the participant to ``receiving`` for ``module``; returns the referral id."""
        self._prepare(
            self.ReferralMade, effective_date, today, provider=receiving.id, module=module
        )
        self.check_module(programme, module)
        if receiving.id == self.provider:
            msg = "the participant is already with this provider: refer to another one"
            raise RuleViolationError(msg, field="provider", rule="same-provider")
        if not receiving.delivers(programme.id):
            msg = f"the provider does not deliver programme {programme.id}"
            raise RuleViolationError(msg, field="provider", rule="provider-not-in-programme")
        if self.consent_version is None or self.consent_withdrawn:
            msg = "a referral needs consent given and not withdrawn"
            raise RuleViolationError(msg, rule="no-consent")
        if any(r.provider == receiving.id and r.module == module for r in self.open_referrals()):
            msg = f"there is already an open referral to this provider for {module}"
            raise RuleViolationError(msg, field="module", rule="referral-already-open")
        referral_id = referral_id or str(uuid4())
        self._trigger(
            self.ReferralMade,
            envelope,
            effective_date,
            referral_id=referral_id,
            provider=receiving.id,
            module=module,
            consent_version=self.consent_version,
        )
        return referral_id

    def accept_referral(
        self, *, envelope: Envelope, effective_date: date, today: date, referral_id: str
    ) -> None:
        self._prepare(self.ReferralAccepted, effective_date, today)
        referral = self.referral(referral_id)
        if referral.ended:
            msg = "the referral has ended"
            raise RuleViolationError(msg, field="referral_id", rule="referral-ended")
        if referral.accepted_on is not None:
            msg = "the referral was already accepted"
            raise RuleViolationError(msg, field="referral_id", rule="referral-already-accepted")
        if effective_date < referral.made_on:
            msg = "effective_date is before the referral was made"
            raise RuleViolationError(msg, field="effective_date", rule="date-before-referral")
        self._trigger(self.ReferralAccepted, envelope, effective_date, referral_id=referral_id)

    def end_referral(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        referral_id: str,
        reason: str,
    ) -> None:
        """End a referral; also after the exit or a withdrawal of consent (it only tidies up)."""
        if self.restricted or self.personal_data_erased:
            msg = "processing of this participant's data is restricted"
            raise RuleViolationError(msg, rule="processing-restricted")
        check_field("ReferralEnded", "effective_date", effective_date)
        check_field("ReferralEnded", "reason", reason)
        self.check_effective_date(effective_date, today)
        referral = self.referral(referral_id)
        if referral.ended:
            msg = "the referral has ended"
            raise RuleViolationError(msg, field="referral_id", rule="referral-ended")
        if effective_date < (referral.accepted_on or referral.made_on):
            msg = "effective_date is before the referral was made or accepted"
            raise RuleViolationError(msg, field="effective_date", rule="date-before-referral")
        self._trigger(
            self.ReferralEnded, envelope, effective_date, referral_id=referral_id, reason=reason
        )

    def assess_language_level(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        level: str,
        instrument: str | None = None,
    ) -> None:
        self._prepare(
            self.LanguageLevelAssessed, effective_date, today, level=level, instrument=instrument
        )
        self._trigger(
            self.LanguageLevelAssessed, envelope, effective_date, level=level, instrument=instrument
        )

    def check_module(self, programme: Programme, code: str) -> None:
        module = programme.module(code)
        if module is None:
            msg = f"module is not a module of programme {programme.id}"
            raise InvalidInputError(msg, field="module", rule="unknown-module")
        if not module.per_participant:
            msg = f"{code} ({module.name}) is not tracked per participant"
            raise RuleViolationError(msg, field="module", rule="module-not-per-participant")

    def enter_module(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        programme: Programme,
        module: str,
    ) -> None:
        self._prepare(self.ModuleEntered, effective_date, today, module=module)
        self.check_module(programme, module)
        if self.eligible is not True:
            msg = "a module can be entered only after eligibility was assessed as eligible"
            raise RuleViolationError(msg, rule="not-eligible")
        if self.consent_version is None or self.consent_withdrawn:
            msg = "a module can be entered only with consent given and not withdrawn"
            raise RuleViolationError(msg, rule="no-consent")
        if module in self.open_modules:
            msg = f"module {module} is already open"
            raise RuleViolationError(msg, field="module", rule="module-already-open")
        config = programme.module(module)
        assert config is not None
        if config.ends is not None and effective_date > config.ends:
            msg = f"module {module} ended on {config.ends.isoformat()}"
            raise RuleViolationError(msg, field="effective_date", rule="module-ended")
        if config.excludes_employment_ban and self.employment_ban:
            msg = f"module {module} is not open to people under a statutory employment ban"
            raise RuleViolationError(msg, field="module", rule="employment-ban")
        if config.requires_no_regular_school_access and self.regular_school_access:
            msg = f"module {module} is only for people without access to a regular school"
            raise RuleViolationError(msg, field="module", rule="regular-school-access")
        self._trigger(self.ModuleEntered, envelope, effective_date, module=module)

    def check_module_open(self, module: str, effective_date: date) -> None:
        if module not in self.open_modules:
            msg = f"module {module} is not open"
            raise RuleViolationError(msg, field="module", rule="module-not-open")
        if effective_date < self.open_modules[module]:
            msg = f"effective_date is before module {module} was entered"
            raise RuleViolationError(msg, field="effective_date", rule="date-before-module-entry")

    def exit_module(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        programme: Programme,
        module: str,
        reason: str,
    ) -> None:
        self._prepare(self.ModuleExited, effective_date, today, module=module, reason=reason)
        self.check_module(programme, module)
        self.check_module_open(module, effective_date)
        self._trigger(self.ModuleExited, envelope, effective_date, module=module, reason=reason)

    def log_coaching_contact(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        minutes: int,
        mode: str,
        confirmed_by_participant: bool = False,
    ) -> None:
        values = {
            "minutes": minutes,
            "mode": mode,
            "confirmed_by_participant": confirmed_by_participant,
        }
        self._prepare(self.CoachingContactLogged, effective_date, today, **values)
        self._trigger(self.CoachingContactLogged, envelope, effective_date, **values)

    def assign_case(
        self, *, envelope: Envelope, effective_date: date, today: date, assignee: str
    ) -> None:
        self._prepare(self.CaseAssigned, effective_date, today, assignee=assignee)
        if assignee in self.assignees:
            msg = "this user is assigned to the case already"
            raise RuleViolationError(msg, field="assignee", rule="already-assigned")
        self._trigger(self.CaseAssigned, envelope, effective_date, assignee=assignee)

    def unassign_case(
        self, *, envelope: Envelope, effective_date: date, today: date, assignee: str
    ) -> None:
        self._prepare(self.CaseUnassigned, effective_date, today, assignee=assignee)
        if assignee not in self.assignees:
            msg = "this user is not assigned to the case"
            raise RuleViolationError(msg, field="assignee", rule="not-assigned")
        self._trigger(self.CaseUnassigned, envelope, effective_date, assignee=assignee)

    def record_course_attendance(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        programme: Programme,
        module: str,
        lesson_hours: Decimal,
        lesson_hours_attended: Decimal | None = None,
    ) -> None:
        attended = lesson_hours if lesson_hours_attended is None else lesson_hours_attended
        self._prepare(
            self.CourseAttendanceRecorded,
            effective_date,
            today,
            module=module,
            lesson_hours=lesson_hours,
            lesson_hours_attended=attended,
        )
        self.check_module(programme, module)
        self.check_module_open(module, effective_date)
        if attended > lesson_hours:
            msg = "lesson_hours_attended must not exceed lesson_hours held"
            raise InvalidInputError(msg, field="lesson_hours_attended")
        self._trigger(
            self.CourseAttendanceRecorded,
            envelope,
            effective_date,
            module=module,
            lesson_hours=Decimal(lesson_hours),
            lesson_hours_attended=Decimal(attended),
        )

    def start_language_course(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        course_type: str,
        target_level: str | None = None,
    ) -> None:
        values = {"course_type": course_type, "target_level": target_level}
        self._prepare(self.LanguageCourseStarted, effective_date, today, **values)
        if course_type in self.language_courses:
            msg = f"a {course_type} course is already ongoing"
            raise RuleViolationError(msg, field="course_type", rule="already-ongoing")
        self._trigger(self.LanguageCourseStarted, envelope, effective_date, **values)

    def complete_language_course(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        course_type: str,
        achieved_level: str | None = None,
    ) -> None:
        values = {"course_type": course_type, "achieved_level": achieved_level}
        self._prepare(self.LanguageCourseCompleted, effective_date, today, **values)
        self.check_ongoing(
            self.language_courses.get(course_type), f"a {course_type} course", effective_date
        )
        self._trigger(self.LanguageCourseCompleted, envelope, effective_date, **values)

    def obtain_certificate(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        certificate: str,
        level: str | None = None,
    ) -> None:
        self._prepare(self.CertificateObtained, effective_date, today, certificate=certificate)
        if level is not None:
            check_field("LanguageLevelAssessed", "level", level)
        self._trigger(
            self.CertificateObtained, envelope, effective_date, certificate=certificate, level=level
        )

    @staticmethod
    def check_ongoing(since: date | None, what: str, effective_date: date) -> None:
        if since is None:
            msg = f"{what} is not ongoing"
            raise RuleViolationError(msg, rule="not-ongoing")
        if effective_date < since:
            msg = f"effective_date is before {what} started"
            raise RuleViolationError(msg, field="effective_date", rule="date-before-start")

    @staticmethod
    def check_not_ongoing(since: date | None, what: str) -> None:
        if since is not None:
            msg = f"{what} is already ongoing: record its end first"
            raise RuleViolationError(msg, rule="already-ongoing")

    def start_internship(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        occupation: str | None = None,
        employer_name: str | None = None,
    ) -> None:
        values = {"occupation": occupation, "employer_name": employer_name}
        self._prepare(self.InternshipStarted, effective_date, today, **values)
        self.check_not_ongoing(self.internship_since, "an internship")
        self._trigger(self.InternshipStarted, envelope, effective_date, **values)

    def end_internship(
        self, *, envelope: Envelope, effective_date: date, today: date, reason: str
    ) -> None:
        self._prepare(self.InternshipEnded, effective_date, today, reason=reason)
        self.check_ongoing(self.internship_since, "an internship", effective_date)
        self._trigger(self.InternshipEnded, envelope, effective_date, reason=reason)

    def start_entry_qualification(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        occupation: str | None = None,
        employer_name: str | None = None,
    ) -> None:
        values = {"occupation": occupation, "employer_name": employer_name}
        self._prepare(self.EntryQualificationStarted, effective_date, today, **values)
        self.check_not_ongoing(self.entry_qualification_since, "an entry qualification (EQ)")
        self._trigger(self.EntryQualificationStarted, envelope, effective_date, **values)

    def end_entry_qualification(
        self, *, envelope: Envelope, effective_date: date, today: date, reason: str
    ) -> None:
        self._prepare(self.EntryQualificationEnded, effective_date, today, reason=reason)
        self.check_ongoing(
            self.entry_qualification_since, "an entry qualification (EQ)", effective_date
        )
        self._trigger(self.EntryQualificationEnded, envelope, effective_date, reason=reason)

    def start_apprenticeship(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        occupation: str,
        employer_name: str | None = None,
    ) -> None:
        values = {"occupation": occupation, "employer_name": employer_name}
        self._prepare(self.ApprenticeshipStarted, effective_date, today, **values)
        self.check_not_ongoing(self.apprenticeship_since, "an apprenticeship")
        self._trigger(self.ApprenticeshipStarted, envelope, effective_date, **values)

    def abort_apprenticeship(
        self, *, envelope: Envelope, effective_date: date, today: date, reason: str
    ) -> None:
        self._prepare(self.ApprenticeshipAborted, effective_date, today, reason=reason)
        self.check_ongoing(self.apprenticeship_since, "an apprenticeship", effective_date)
        self._trigger(self.ApprenticeshipAborted, envelope, effective_date, reason=reason)

    def complete_apprenticeship(
        self, *, envelope: Envelope, effective_date: date, today: date, passed_exam: bool = True
    ) -> None:
        self._prepare(self.ApprenticeshipCompleted, effective_date, today, passed_exam=passed_exam)
        self.check_ongoing(self.apprenticeship_since, "an apprenticeship", effective_date)
        self._trigger(
            self.ApprenticeshipCompleted, envelope, effective_date, passed_exam=passed_exam
        )

    def start_employment(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        employment_type: str,
        hours_per_week: Decimal,
        occupation: str | None = None,
        employer_name: str | None = None,
    ) -> None:
        values = {
            "employment_type": employment_type,
            "hours_per_week": hours_per_week,
            "occupation": occupation,
            "employer_name": employer_name,
        }
        self._prepare(self.EmploymentStarted, effective_date, today, **values)
        self.check_not_ongoing(self.employment_since, "an employment")
        values["hours_per_week"] = Decimal(hours_per_week)
        self._trigger(self.EmploymentStarted, envelope, effective_date, **values)

    def end_employment(
        self, *, envelope: Envelope, effective_date: date, today: date, reason: str
    ) -> None:
        self._prepare(self.EmploymentEnded, effective_date, today, reason=reason)
        self.check_ongoing(self.employment_since, "an employment", effective_date)
        self._trigger(self.EmploymentEnded, envelope, effective_date, reason=reason)

    def change_residence_status(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        status: str,
        valid_until: date | None = None,
        programme: Programme | None = None,
    ) -> None:
        self._prepare(
            self.ResidenceStatusChanged,
            effective_date,
            today,
            status=status,
            valid_until=valid_until,
        )
        if valid_until is not None:
            self.check_valid_until(programme, effective_date, valid_until, field="valid_until")
        self._trigger(
            self.ResidenceStatusChanged,
            envelope,
            effective_date,
            status=status,
            valid_until=valid_until,
        )

    def dismiss_worklist_item(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        kind: str,
        due_date: date,
        reason: str,
    ) -> None:
        """Take a due-list item off the list (``projections.worklist`` matches it by
        kind and due date): the work was done elsewhere, or does not apply."""
        values = {"kind": kind, "due_date": due_date, "reason": reason}
        self._prepare(self.WorklistItemDismissed, effective_date, today, **values)
        self._trigger(self.WorklistItemDismissed, envelope, effective_date, **values)

    def exit(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        reason: str,
        destination: str,
    ) -> None:
        """Record the exit (Austritt).

        Open modules are closed by explicit ``ModuleExited`` events recorded in the
        same transaction, with the reason that matches the exit reason, so every
        module stay has an end in the history and nobody has to close them by hand.
        """
        self._prepare(self.Exited, effective_date, today, reason=reason, destination=destination)
        for module, entered in self.open_modules.items():
            if effective_date < entered:
                msg = f"effective_date is before module {module} was entered"
                raise RuleViolationError(
                    msg, field="effective_date", rule="date-before-module-entry"
                )
        module_reason = _EXIT_TO_MODULE_EXIT[ExitReason(reason)]
        for module in sorted(self.open_modules):
            self._trigger(
                self.ModuleExited,
                envelope,
                effective_date,
                module=module,
                reason=module_reason.value,
            )
        self._trigger(self.Exited, envelope, effective_date, reason=reason, destination=destination)

    def record_follow_up(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        destination: str,
        months_after_exit: int,
    ) -> None:
        self._prepare(
            self.FollowUpRecorded,
            effective_date,
            today,
            destination=destination,
            months_after_exit=months_after_exit,
        )
        if self.exit_date is None:
            msg = "a follow-up can be recorded only after the exit"
            raise RuleViolationError(msg, rule="not-exited")
        if effective_date < self.exit_date:
            msg = "effective_date must not be before the exit date"
            raise RuleViolationError(msg, field="effective_date", rule="date-before-exit")
        self._trigger(
            self.FollowUpRecorded,
            envelope,
            effective_date,
            destination=destination,
            months_after_exit=months_after_exit,
        )

    def correct_entry(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        programme: Programme,
        corrects_version: int,
        reason: str,
        changes: dict[str, Any],
    ) -> None:
        """Correct fields of an earlier entry; the history keeps both versions."""
        self._prepare(self.EntryCorrected, effective_date, today, reason=reason)
        original = self._entries.get(corrects_version)
        if original is None:
            msg = (
                "corrects_version must name an earlier entry of this participant (not a correction)"
            )
            raise RuleViolationError(msg, field="corrects_version", rule="unknown-version")
        if not changes:
            msg = "changes must name at least one field to correct"
            raise InvalidInputError(msg, field="changes")
        event_type = type(original).__name__
        fields = {f.name for f in dataclasses.fields(original)}
        changes = dict(changes)
        for name, value in changes.items():
            if name not in fields or name in _NOT_DATA:
                # Name the key only when it is a field name of the catalogue: an
                # unknown key is submitted data and is not echoed.
                if name in known_field_names():
                    msg = f"{name} is not a correctable field of {event_type}"
                    raise InvalidInputError(msg, field=f"changes.{name}")
                msg = f"changes names a field that {event_type} does not have"
                raise InvalidInputError(msg, field="changes")
            if name in _NOT_CORRECTABLE:
                msg = f"{name} cannot be corrected: record the matching milestone instead"
                raise RuleViolationError(msg, field=f"changes.{name}", rule="not-correctable")
            try:
                check_field(event_type, name, value)
            except InvalidInputError as e:
                raise InvalidInputError(e.message, field=f"changes.{name}", rule=e.rule) from None
        if "module" in changes:
            self.check_module(programme, changes["module"])
        if "valid_until" in changes and changes["valid_until"] is not None:
            self.check_valid_until(
                programme,
                changes.get("effective_date", original.effective_date),
                changes["valid_until"],
                field="changes.valid_until",
            )
        if changes.get("residence_valid_until") is not None:
            self.check_valid_until(
                programme,
                changes.get("intake_date", original.effective_date),
                changes["residence_valid_until"],
                field="changes.residence_valid_until",
            )
        if "effective_date" in changes:
            if event_type in ("Registered", "Reentered"):
                msg = f"correct intake_date instead of the effective_date of {event_type}"
                raise InvalidInputError(msg, field="changes.effective_date")
            if changes["effective_date"] < programme.earliest_intake_date:
                msg = (
                    "changes.effective_date must not be before "
                    f"{programme.earliest_intake_date.isoformat()} (programme {programme.id})"
                )
                raise InvalidInputError(
                    msg, field="changes.effective_date", rule="date-implausible"
                )
            # The rest (before intake, before a stay's entry) is the journey's
            # consistency, checked on the corrected history (domain.consistency).
            if changes["effective_date"] > today:
                msg = "effective_date must not be in the future"
                raise InvalidInputError(msg, field="changes.effective_date", rule="date-in-future")
        if event_type == "Registered":
            assert isinstance(original, Participant.Registered)
            self._derive_registration_changes(original, changes, programme, today)
        elif event_type == "Reentered" and "intake_date" in changes:
            changes["effective_date"] = changes["intake_date"]
        # Every rule, over the journey as it would be: dates against the intake of
        # their period, exits after entries, hours only in an open stay, ...
        corrected = dict(self._entries)
        corrected[corrects_version] = dataclasses.replace(original, **changes)
        self._check_journey(corrected, programme, today, changed="changes")
        self._trigger(
            self.EntryCorrected,
            envelope,
            effective_date,
            corrects_version=corrects_version,
            corrected_type=event_type,
            reason=reason,
            changes=changes,
        )

    def _derive_registration_changes(
        self,
        original: Participant.Registered,
        changes: dict[str, Any],
        programme: Programme,
        today: date,
    ) -> None:
        if "birth_date" not in changes and "intake_date" not in changes:
            return
        if original.birth_date is None:
            msg = "the birth date has been erased and cannot be corrected"
            raise RuleViolationError(msg, field="changes.birth_date", rule="personal-data-erased")
        birth_date = changes.get("birth_date", original.birth_date)
        intake_date = changes.get("intake_date", original.intake_date)
        reason = changes.get("age_exception_reason", original.age_exception_reason)
        self.check_registration_dates(programme, intake_date, birth_date, reason, today)
        changes["effective_date"] = intake_date
        changes["birth_year"] = birth_date.year
        changes["age_at_intake"] = age_on(birth_date, intake_date)

    def _check_journey(
        self,
        entries: dict[int, Participant.Event],
        programme: Programme,
        today: date,
        *,
        changed: str,
    ) -> None:
        # Imported here: the consistency check replays entries through the
        # catalogue's commands, and the catalogue imports this module.
        from lotse.domain.consistency import check_journey

        check_journey(entries, programme, today, changed=changed)

    def reenter(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        intake_date: date,
    ) -> None:
        """Start a new enrolment period after the exit (a new entry of the same person).

        The new period starts without eligibility and consent: both must be recorded
        again before a module can be entered.
        """
        self._prepare(self.Reentered, effective_date, today, intake_date=intake_date)
        if intake_date != effective_date:
            msg = "intake_date must equal effective_date: the re-entry happens on its intake"
            raise InvalidInputError(msg, field="intake_date")
        if self.exit_date is None:
            msg = "the participant is still active: a re-entry is possible only after the exit"
            raise RuleViolationError(msg, rule="participant-active")
        if intake_date < self.exit_date:
            msg = "intake_date must not be before the exit date"
            raise RuleViolationError(msg, field="intake_date", rule="date-before-exit")
        self._trigger(self.Reentered, envelope, effective_date, intake_date=intake_date)

    def void_targets(self, voids_version: int) -> list[Participant.Event]:
        """The entries a void of ``voids_version`` takes out of the journey, latest first.

        - the registration (version 1): every entry, the whole record is void;
        - a module entry: the stay as a whole, its entry and the exit that ended it;
        - the exit: the exit and the module exits recorded with it (same request);
        - any other entry: that entry.
        """
        if voids_version in self.voided_versions:
            msg = "this entry has already been voided"
            raise RuleViolationError(msg, field="voids_version", rule="already-voided")
        target = self._entries.get(voids_version)
        if target is None:
            msg = "voids_version must name an earlier entry of this participant (not a correction)"
            raise RuleViolationError(msg, field="voids_version", rule="unknown-version")
        entries = [self._entries[v] for v in sorted(self._entries)]
        if voids_version == 1:
            return entries[::-1]
        found: list[Participant.Event] = [target]
        if isinstance(target, Participant.ModuleEntered):
            for e in entries:
                if e.originator_version <= voids_version:
                    continue
                if isinstance(e, Participant.ModuleEntered | Participant.ModuleExited) and (
                    e.module == target.module
                ):
                    if isinstance(e, Participant.ModuleExited):
                        found.insert(0, e)
                    break
        elif isinstance(target, Participant.Exited):
            # ``exit`` records the module exits right before the exit, in its request.
            version = voids_version - 1
            while (
                isinstance(closed := self._entries.get(version), Participant.ModuleExited)
                and closed.request_id == target.request_id
                and closed.effective_date == target.effective_date
            ):
                found.append(closed)
                version -= 1
        return sorted(found, key=lambda e: -e.originator_version)

    def void_entry(
        self,
        *,
        envelope: Envelope,
        effective_date: date,
        today: date,
        programme: Programme,
        voids_version: int,
        reason: str,
    ) -> None:
        """Take an erroneous entry out of the journey; the history keeps it, marked void.

        Whether the caller may void each of the entries (``void_targets``) is the
        access policy's question (``domain.access.check_may_void``), asked first.
        """
        self._prepare(self.EntryVoided, effective_date, today, reason=reason)
        check_field("EntryVoided", "voids_version", voids_version)
        targets = self.void_targets(voids_version)
        if voids_version != 1:
            gone = {e.originator_version for e in targets}
            remaining = {v: e for v, e in self._entries.items() if v not in gone}
            self._check_journey(remaining, programme, today, changed="voids_version")
            # Each entry of the stay (or exit) gets its own void, so that every
            # voided entry in the history names the event that voided it.
        else:
            targets = [self._entries[1]]
        for target in targets:
            self._trigger(
                self.EntryVoided,
                envelope,
                effective_date,
                voids_version=target.originator_version,
                voided_type=type(target).__name__,
                reason=reason,
            )

    def decide_duplicate(
        self,
        *,
        envelope: Envelope,
        today: date,
        other_participant: str,
        linked: bool,
        reason: str | None = None,
    ) -> None:
        """Record a coordinator's decision on a candidate pair, once per pair."""
        if other_participant == str(self.id):
            msg = "a participant cannot be a duplicate of itself"
            raise InvalidInputError(msg, field="participant_b", rule="duplicate-of-itself")
        if self.personal_data_erased or self.restricted:
            msg = "processing of this participant's data is restricted"
            raise RuleViolationError(msg, rule="processing-restricted")
        earlier = self.duplicate_decisions.get(other_participant)
        if earlier is not None:
            msg = f"this pair was already decided ({earlier})"
            raise RuleViolationError(msg, field="participant_b", rule="duplicate-already-decided")
        on = max(today, self.intake_date)
        if linked:
            self._trigger(self.DuplicatesLinked, envelope, on, other_participant=other_participant)
        else:
            if not reason:
                msg = "reason is required when a pair is dismissed"
                raise InvalidInputError(msg, field="reason", rule="duplicate-reason-required")
            check_field("DuplicatesDismissed", "reason", reason)
            self._trigger(
                self.DuplicatesDismissed,
                envelope,
                on,
                other_participant=other_participant,
                reason=reason,
            )

    def erase_personal_data(
        self, *, envelope: Envelope, today: date, mode: str, reason_code: str
    ) -> bool:
        """Record erasure or restriction; False when there is nothing left to do."""
        if self.personal_data_erased or (self.restricted and mode == ErasureMode.RESTRICT):
            return False
        self._trigger(
            self.PersonalDataErased,
            envelope,
            max(today, self.intake_date),
            mode=mode,
            reason_code=reason_code,
        )
        return True
