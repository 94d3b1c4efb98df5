"""The controlled vocabulary of the programme's milestones.

These values are persisted in events and published in the HTTP API, so they are
part of the public schema: add values, never rename or remove one.
"""

from __future__ import annotations

from enum import StrEnum


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    DIVERSE = "diverse"
    UNSPECIFIED = "unspecified"


class ResidenceStatus(StrEnum):
    """Residence status categories (AufenthG / AsylG), the steering dimension."""

    GESTATTUNG = "gestattung"  # § 55 AsylG, during the asylum procedure
    DULDUNG = "duldung"  # § 60a AufenthG, toleration
    DULDUNG_60B = "duldung_60b"  # Duldung for persons with unclarified identity
    AUSBILDUNGSDULDUNG_60C = "ausbildungsduldung_60c"
    BESCHAEFTIGUNGSDULDUNG_60D = "beschaeftigungsduldung_60d"
    AE_16G = "ae_16g"  # residence permit for vocational training
    AE_19D = "ae_19d"  # residence permit for qualified tolerated persons
    AE_25A = "ae_25a"  # well-integrated young people
    AE_25B = "ae_25b"  # sustained integration
    AE_104C = "ae_104c"  # Chancen-Aufenthaltsrecht (18-month bridge)
    AE_25_PROTECTION = "ae_25_protection"  # § 25 (1)-(3): protection granted
    EU_FREIZUEGIGKEIT = "eu_freizuegigkeit"
    OTHER = "other"


class TargetGroup(StrEnum):
    DULDUNG = "duldung"
    GESTATTUNG = "gestattung"
    EU2 = "eu2"
    OTHER = "other"


class ModuleExitReason(StrEnum):
    COMPLETED = "completed"
    ABORTED_PARTICIPANT = "aborted_participant"
    ABORTED_PROVIDER = "aborted_provider"
    TRANSFERRED = "transferred"
    STATUS_CHANGE = "status_change"
    MOVED_AWAY = "moved_away"
    LEFT_GERMANY = "left_germany"
    OTHER = "other"


class ExitReason(StrEnum):
    """Why a participant left the programme (Austritt)."""

    COMPLETED = "completed"
    ABORTED_PARTICIPANT = "aborted_participant"
    ABORTED_PROVIDER = "aborted_provider"
    STATUS_CHANGE = "status_change"
    MOVED_AWAY = "moved_away"
    LEFT_GERMANY = "left_germany"
    OTHER = "other"


class Destination(StrEnum):
    """Where a participant went (Verbleib), at exit and at follow-up."""

    APPRENTICESHIP = "apprenticeship"
    EMPLOYMENT_SVP = "employment_svp"
    EMPLOYMENT_MARGINAL = "employment_marginal"
    SCHOOL = "school"
    OTHER_PROGRAMME = "other_programme"
    JOB_SEEKING = "job_seeking"
    UNKNOWN = "unknown"
    LEFT_GERMANY = "left_germany"


class LanguageLevel(StrEnum):
    """CEFR levels, with A0 for no German yet."""

    A0 = "A0"
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"


class EmploymentType(StrEnum):
    SVP = "svp"  # sozialversicherungspflichtig: regular employment
    GERINGFUEGIG = "geringfuegig"  # marginal employment ("Minijob")
    SELBSTSTAENDIG = "selbststaendig"  # self-employed


class ContactMode(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    VIDEO = "video"
    OUTREACH = "outreach"


class LanguageCourseType(StrEnum):
    JUGENDINTEGRATIONSKURS = "jugendintegrationskurs"
    INTEGRATIONSKURS = "integrationskurs"
    BERUFSSPRACHKURS_B1 = "berufssprachkurs_b1"
    BERUFSSPRACHKURS_B2 = "berufssprachkurs_b2"
    BERUFSSPRACHKURS_C1 = "berufssprachkurs_c1"
    OTHER = "other"


class Certificate(StrEnum):
    HAUPTSCHULABSCHLUSS_9 = "hauptschulabschluss_9"
    HAUPTSCHULABSCHLUSS_10A = "hauptschulabschluss_10a"
    LANGUAGE_CERTIFICATE = "language_certificate"
    VOCATIONAL_QUALIFICATION = "vocational_qualification"
    OTHER = "other"


class EndReason(StrEnum):
    """Why an internship, EQ, apprenticeship or employment ended early or at all."""

    COMPLETED = "completed"
    ABORTED_PARTICIPANT = "aborted_participant"
    ABORTED_EMPLOYER = "aborted_employer"
    STATUS_CHANGE = "status_change"
    OTHER = "other"


class ReferralEndReason(StrEnum):
    """Why a referral to another provider ended (recorded by either provider)."""

    COMPLETED = "completed"
    DECLINED = "declined"  # the receiving provider did not take the person on
    NO_LONGER_NEEDED = "no_longer_needed"
    CONSENT_WITHDRAWN = "consent_withdrawn"  # recorded with the withdrawal itself
    OTHER = "other"


class WorklistKind(StrEnum):
    """What a due-list item (Wiedervorlage) is about: ``projections.worklist``."""

    RESIDENCE_EXPIRY = "residence_expiry"
    FOLLOW_UP_DUE = "follow_up_due"
    APPRENTICESHIP_ABORT_NOTICE = "apprenticeship_abort_notice"
    NO_CONTACT = "no_contact"
    CONSENT_SUPERSEDED = "consent_superseded"
    AGE_LIMIT = "age_limit"
    MODULE_CLOSED_BY_PROGRAMME = "module_closed_by_programme"


class DuplicateDismissalReason(StrEnum):
    """Why a coordinator found a candidate duplicate pair to be two people.
    A code, not free text: a free text here would invite names and family ties."""

    DIFFERENT_PERSON = "different_person"
    RELATIVES = "relatives"
    DIFFERENT_BIRTH_DATE = "different_birth_date"
    OTHER = "other"


class WorklistDismissalReason(StrEnum):
    """Why a case worker took a due-list item off the list without the milestone
    that would have closed it. A code, not free text: it is shown to colleagues."""

    DONE_OUTSIDE_LOTSE = "done_outside_lotse"
    NOT_APPLICABLE = "not_applicable"
    PARTICIPANT_UNREACHABLE = "participant_unreachable"
    HANDLED_BY_OTHER_OFFICE = "handled_by_other_office"
    OTHER = "other"


class ErasureMode(StrEnum):
    """Art. 17 GDPR: shred now, or restrict now and shred at retention end (17(3)(b))."""

    SHRED = "shred"
    RESTRICT = "restrict"
