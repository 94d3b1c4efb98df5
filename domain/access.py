"""Who may see and change what: the access policy, in this one module.

Providers are separate data controllers: a case worker sees only the caseload of
the own provider, a coordinator the participants of the own municipality, an
auditor those in the token's scope (a municipality, or ``*``), a funder no
personal data at all. Every route, CLI command and stored object asks the named
functions below; none decides on its own. A stored object carries its scope (a
participant its provider and municipality, a report run the municipality or
provider it was computed for), and that scope is compared with the caller's.

The statuses each role gets from each operation are tabulated in the README
(``tests/access_matrix.py`` holds the table, ``tests/e2e/test_access_matrix.py``
checks every operation of ``/openapi.json`` against it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lotse.domain.configuration import Configuration
from lotse.domain.errors import (
    AccessDeniedError,
    InvalidInputError,
    ParticipantNotFoundError,
    RuleViolationError,
)
from lotse.domain.referrals import Referral

ALL_ORGANISATIONS = "*"


class Role(StrEnum):
    CASEWORKER = "caseworker"
    COORDINATOR = "coordinator"
    FUNDER = "funder"
    AUDITOR = "auditor"
    ADMIN = "admin"
    TEILHABEMANAGER = "teilhabemanager"
    """The municipality's Teilhabemanagement (module F6): records F6 and coaching
    for the participants of its municipality."""
    ORG_ADMIN = "org_admin"
    """Administers the users of its own organisation (a provider or a municipality)."""


#: The roles that read participants' records (within their scope). Everything that
#: shows personal data, unsuppressed figures or ad-hoc reports asks this allow-list,
#: so a role added later reads nothing until it is put here on purpose.
READS_RECORDS = frozenset(
    {Role.CASEWORKER, Role.COORDINATOR, Role.TEILHABEMANAGER, Role.AUDITOR, Role.ADMIN}
)
#: The module of the municipality's Teilhabemanagement, and what it records there.
TEILHABE_MODULE = "F6"
TEILHABE_MILESTONES = frozenset({"ModuleEntered", "ModuleExited", "CoachingContactLogged"})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user acting in a role for an organisation."""

    user: str
    role: Role
    organisation: str


def check_organisation(config: Configuration, role: Role, organisation: str) -> None:
    """Each role acts for a kind of organisation; refuse tokens that cannot work."""
    if role == Role.CASEWORKER and organisation not in config.providers:
        msg = f"a caseworker's organisation must be a provider: {sorted(config.providers)}"
        raise ValueError(msg)
    if role == Role.COORDINATOR and organisation not in config.municipalities:
        msg = (
            f"a coordinator's organisation must be a municipality: {sorted(config.municipalities)}"
        )
        raise ValueError(msg)
    if role == Role.AUDITOR and organisation not in (*config.municipalities, ALL_ORGANISATIONS):
        msg = "an auditor's organisation must be a municipality or '*' for all"
        raise ValueError(msg)
    if role == Role.TEILHABEMANAGER and organisation not in config.municipalities:
        msg = "a Teilhabemanager's organisation must be a municipality"
        raise ValueError(msg)
    if role == Role.ORG_ADMIN and organisation not in (
        *config.providers,
        *config.municipalities,
    ):
        msg = "an organisation admin's organisation must be a provider or a municipality"
        raise ValueError(msg)
    if role in (Role.FUNDER, Role.ADMIN) and not organisation:
        msg = "an organisation is required"
        raise ValueError(msg)


# ------------------------------------------------------------ writing


def check_may_record(principal: Principal) -> None:
    """Only case workers (and admins) record milestones and corrections; everyone else reads.

    Decided from the role alone, so that routes can refuse before reading the body:
    an auditor's malformed correction is a 403, never a 409 or 422.
    """
    if principal.role not in (Role.CASEWORKER, Role.ADMIN):
        msg = f"the role {principal.role.value} may not record milestones or corrections"
        raise AccessDeniedError(msg)


def check_may_record_milestones(principal: Principal) -> None:
    """Milestones of a journey: the providers' case workers (and admins), and the
    municipality's Teilhabemanagement for its module (``check_may_record_for``)."""
    if principal.role not in (Role.CASEWORKER, Role.TEILHABEMANAGER, Role.ADMIN):
        msg = f"the role {principal.role.value} may not record milestones or corrections"
        raise AccessDeniedError(msg)


def check_may_record_or_void(principal: Principal) -> None:
    """The gate of the milestones route: case workers record, coordinators only void.

    Coordinators record no milestones of their own, but they may void an
    erroneous entry (``EntryVoided``) of a participant of their municipality, so
    they pass the gate and the application refuses them any other milestone.
    """
    if principal.role not in (
        Role.CASEWORKER,
        Role.COORDINATOR,
        Role.TEILHABEMANAGER,
        Role.ADMIN,
    ):
        msg = f"the role {principal.role.value} may not record milestones or corrections"
        raise AccessDeniedError(msg)


def check_may_void(principal: Principal) -> None:
    """Voiding an erroneous entry: the recording provider's case workers, the
    coordinator of the participant's municipality, admins."""
    if principal.role not in (Role.CASEWORKER, Role.COORDINATOR, Role.ADMIN):
        msg = f"the role {principal.role.value} may not void entries"
        raise AccessDeniedError(msg)


def may_void(principal: Principal, provider: str, municipality: str) -> bool:
    """Is the participant (now with ``provider`` in ``municipality``) one the caller may
    void entries of? A case worker's own caseload, a coordinator's municipality."""
    match principal.role:
        case Role.CASEWORKER:
            return principal.organisation == provider
        case Role.COORDINATOR:
            return principal.organisation == municipality
        case Role.ADMIN:
            return True
    return False


def check_may_void_entry(principal: Principal, recorded_for: str) -> None:
    """A case worker voids only entries recorded for the own provider, never an entry
    of another provider (one that held the case before a transfer, say): that is
    for its own case workers or the coordinator. A rule of the journey (409), as the
    participant is in the caller's caseload."""
    if principal.role == Role.CASEWORKER and recorded_for != principal.organisation:
        msg = "this entry was recorded by another provider: only that provider or the "
        msg += "coordinator of the municipality may void it"
        raise RuleViolationError(msg, field="voids_version", rule="entry-of-another-provider")


def may_write(principal: Principal, provider: str) -> bool:
    """May the caller write for a participant of ``provider``?"""
    return principal.role == Role.ADMIN or (
        principal.role == Role.CASEWORKER and principal.organisation == provider
    )


def check_may_review_duplicates(principal: Principal) -> None:
    """Candidate duplicate pairs: the municipality's coordinator, or the admin.

    The admin acts as the programme's data protection role: it alone decides pairs
    whose participants live in two municipalities (no coordinator sees both). Case
    workers learn only that a possible duplicate exists, never whose.
    """
    if principal.role not in (Role.COORDINATOR, Role.ADMIN):
        msg = "only coordinators and the admin review possible duplicates"
        raise AccessDeniedError(msg)


def may_review_pair(principal: Principal, municipality_a: str, municipality_b: str) -> bool:
    """A coordinator reviews pairs inside its municipality; the admin every pair."""
    if principal.role == Role.ADMIN:
        return True
    return principal.role == Role.COORDINATOR and (
        municipality_a == municipality_b == principal.organisation
    )


def check_may_import(principal: Principal) -> None:
    """The bulk import (``POST /imports``) registers participants: who may register."""
    check_may_record(principal)


def may_read_import(principal: Principal, provider: str) -> bool:
    """An import run and its report are the importing provider's (and the admin's)."""
    return may_write(principal, provider)


def check_may_erase(principal: Principal) -> None:
    if principal.role not in (Role.COORDINATOR, Role.ADMIN):
        msg = "only the coordinator of the participant's municipality or an admin may erase"
        raise AccessDeniedError(msg)


def idempotency_scope(principal: Principal) -> str:
    """The scope an Idempotency-Key is claimed in: user, role and organisation.

    The same user id may exist at two providers (or act in two roles); keyed by
    the user alone, one would be replayed the other's response, which names a
    participant of another controller. JSON keeps the three parts unambiguous.
    """
    return json.dumps(
        [principal.user, principal.role.value, principal.organisation], separators=(",", ":")
    )


# ------------------------------------------- several providers per participant
#
# The provider that leads the case sees and records everything (``may_see``,
# ``may_write``). A provider the participant was referred to, once it accepted
# the referral and while the participant is active, is a separate controller that
# needs only this:
#
# - it reads the *core data* (``REFERRAL_CORE_FIELDS``): name, birth year, gender,
#   age band, language level, status and dates of the programme, the lead provider,
#   and the open stays of *its* modules; never the residence status, nationality,
#   eligibility, employment, exit details, other modules or the lead provider's
#   entries (``GET /participants`` lists it marked ``referred_for``; the full state
#   ``GET /participants/{id}`` and ``/state`` refuse with ``referral-core-data-only``);
# - it records the events of its module (``may_record_as_referred``): entry into
#   and exit from that module, attendance in it, coaching contacts if it is F1;
# - in the timeline and the history it reads only the entries it recorded itself.
#
# A provider that recorded entries and no longer has the case (a former provider
# after a transfer, a referral that ended, a participant who exited) keeps reading
# those entries of its own in the timeline and the history, nothing newer and
# nothing else (``Visibility.OWN_ENTRIES``).

#: Coaching contacts carry no module: coaching is module F1 by definition.
COACHING_MODULE = "F1"

#: The fields of a participant a referred provider reads (the core data).
REFERRAL_CORE_FIELDS = frozenset(
    {
        "id",
        "participant_id",
        "version",
        "programme",
        "provider",
        "municipality",
        "status",
        "intake_date",
        "exit_date",
        "given_name",
        "family_name",
        "birth_year",
        "gender",
        "age_band",
        "language_level",
        "open_modules",
        "restricted",
        "personal_data_erased",
    }
)


class Visibility(StrEnum):
    """How much of one participant the caller sees."""

    FULL = "full"
    """In scope: state, history and timeline (what the role may read at all)."""
    REFERRAL = "referral"
    """An accepted referral: core data, the own entries, the events of its modules."""
    OWN_ENTRIES = "own-entries"
    """No longer involved: only the entries its organisation recorded."""
    NONE = "none"


def accepted_referrals(referrals: Iterable[Referral]) -> list[tuple[str, str]]:
    """(provider, module) of each referral that grants anything: accepted, not ended."""
    return sorted((r.provider, r.module) for r in referrals if r.accepted)


def referred_modules(
    principal: Principal, accepted: Iterable[tuple[str, str]], participant_active: bool
) -> frozenset[str]:
    """The modules the caller's provider holds an accepted, unended referral for.

    ``accepted`` is (provider, module) per accepted referral, from the aggregate
    (``accepted_referrals``) or from the participants read model, so that writes
    and reads decide alike. Nothing once the participant exited: the referral's
    purpose ended with the stays.
    """
    if principal.role != Role.CASEWORKER or not participant_active:
        return frozenset()
    return frozenset(module for provider, module in accepted if provider == principal.organisation)


def visibility(
    principal: Principal,
    provider: str,
    municipality: str,
    *,
    referred: Collection[str],
    recorded_here: bool,
) -> Visibility:
    if may_see(principal, provider, municipality):
        return Visibility.FULL
    if principal.role == Role.CASEWORKER:
        if referred:
            return Visibility.REFERRAL
        if recorded_here:
            return Visibility.OWN_ENTRIES
    return Visibility.NONE


def check_full_read(seen: Visibility) -> None:
    """The participant's whole state: in scope only; a referred provider is told why not."""
    if seen is Visibility.REFERRAL:
        msg = "a referred provider reads the core data and its own entries only"
        raise AccessDeniedError(msg, rule="referral-core-data-only")
    if seen is not Visibility.FULL:
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg)


def shows_only_own_entries(seen: Visibility) -> bool:
    """Whether the timeline and history are cut to the caller's organisation's entries."""
    if seen is Visibility.NONE:
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg)
    return seen is not Visibility.FULL


def is_own_entry(principal: Principal, organisation: str) -> bool:
    return organisation == principal.organisation


def may_record_as_referred(milestone: str, module: str | None, referred: Collection[str]) -> bool:
    """The events of a referred provider's own modules, nothing else."""
    match milestone:
        case "ModuleEntered" | "ModuleExited" | "CourseAttendanceRecorded":
            return module in referred
        case "CoachingContactLogged":
            return COACHING_MODULE in referred
    return False


def check_may_record_for(
    principal: Principal,
    provider: str,
    referred: Collection[str],
    milestone: str,
    module: str | None,
    municipality: str = "",
) -> None:
    """May the caller record ``milestone`` for a participant led by ``provider``?"""
    if may_write(principal, provider):
        return
    if principal.role == Role.TEILHABEMANAGER:
        if principal.organisation != municipality:
            msg = "no participant with this id"
            raise ParticipantNotFoundError(msg)
        if milestone not in TEILHABE_MILESTONES or (
            milestone != "CoachingContactLogged" and module != TEILHABE_MODULE
        ):
            msg = "Teilhabemanagement records F6 entries and exits and coaching contacts only"
            raise AccessDeniedError(msg, field="type", rule="teilhabemanagement-only")
        return
    if not referred:
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg)
    if not may_record_as_referred(milestone, module, referred):
        msg = "a referred provider records only the events of the module it was referred for"
        raise AccessDeniedError(msg, field="module", rule="referral-module-only")


def core_data(values: Mapping[str, Any], referred: Collection[str]) -> dict[str, Any]:
    """A participant's row as a referred provider reads it: core fields, its modules only."""
    shown = {k: (v if k in REFERRAL_CORE_FIELDS else None) for k, v in values.items()}
    open_modules = shown.get("open_modules")
    if open_modules is not None:
        shown["open_modules"] = [m for m in open_modules if m in referred]
    return shown


def serves(
    provider: str, lead_provider: str, accepted: Iterable[tuple[str, str]], module: str
) -> bool:
    """Does ``provider`` serve the participant in ``module``: the own case, or an accepted
    referral for that module? (Enrolment in a provider's courses asks this.)"""
    return provider == lead_provider or (provider, module) in set(accepted)


def check_may_refer(principal: Principal, lead_provider: str) -> None:
    """Only the lead provider (or an admin) refers; anyone else does not see the case."""
    if not may_write(principal, lead_provider):
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg)


def check_sees_referral(
    principal: Principal, lead_provider: str, municipality: str, receiving: str | None
) -> None:
    """A referral is found by those who see the participant and by its receiving provider;
    to anyone else the participant does not exist (404)."""
    if not may_see(principal, lead_provider, municipality) and receiving != principal.organisation:
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg)


def check_may_accept_referral(principal: Principal, receiving_provider: str) -> None:
    """Only the receiving provider accepts: taking a person on is its decision, not an admin's."""
    if principal.role != Role.CASEWORKER or principal.organisation != receiving_provider:
        msg = "only the provider the participant was referred to accepts the referral"
        raise AccessDeniedError(msg, field="referral_id")


def check_may_end_referral(principal: Principal, lead_provider: str, receiving: str) -> None:
    """Either side ends a referral."""
    if principal.role == Role.ADMIN:
        return
    if principal.role != Role.CASEWORKER or principal.organisation not in (
        lead_provider,
        receiving,
    ):
        msg = "only the lead or the receiving provider ends a referral"
        raise AccessDeniedError(msg, field="referral_id")


# --------------------------------------------------- personal data


def check_may_read_personal_data(principal: Principal) -> None:
    if principal.role not in READS_RECORDS:
        msg = f"the role {principal.role.value} receives no personal data"
        if principal.role == Role.FUNDER:
            msg = "funders receive aggregated reports only, never personal data"
        raise AccessDeniedError(msg)


def personal_data_scope(principal: Principal) -> tuple[str | None, str | None]:
    """(provider, municipality) the caller's reads of personal data are confined to.

    ``None`` means unconfined in that dimension; funders are refused outright.
    """
    check_may_read_personal_data(principal)
    match principal.role:
        case Role.CASEWORKER:
            return principal.organisation, None
        case Role.COORDINATOR | Role.TEILHABEMANAGER:
            return None, principal.organisation
        case Role.AUDITOR if principal.organisation != ALL_ORGANISATIONS:
            return None, principal.organisation
    return None, None


def narrow(confined: str | None, asked: str | None) -> str | None:
    """Combine the caller's scope with a filter; a filter outside it matches nothing."""
    if confined is None:
        return asked
    if asked is not None and asked != confined:
        return "(outside your scope)"
    return confined


def lists_referred_participants(principal: Principal) -> bool:
    """A case worker's caseload includes the participants referred to its provider."""
    return principal.role == Role.CASEWORKER


#: Of a participant referred to its provider, a case worker's due list shows only
#: the items about the referred modules: the lead provider's deadlines (residence
#: status, consent, follow-up) are not the referred provider's to know.
REFERRED_WORKLIST_KINDS = frozenset({"module_closed_by_programme"})


def worklist_scope(principal: Principal) -> tuple[str | None, str | None, frozenset[str]]:
    """(provider, municipality, kinds of referred participants) of the caller's due list.

    The caseload's scope: a case worker the own provider's participants (and of
    referred ones the kinds above), a coordinator or Teilhabemanagement the own
    municipality; funders are refused (no personal data).
    """
    provider, municipality = personal_data_scope(principal)
    referred = REFERRED_WORKLIST_KINDS if lists_referred_participants(principal) else frozenset()
    return provider, municipality, referred


def may_read_operations(principal: Principal) -> bool:
    """Positions, read models and parked events in ``/health``: for the operators."""
    return principal.role is Role.ADMIN


def may_see(principal: Principal, provider: str, municipality: str) -> bool:
    """Is the participant (now with ``provider`` in ``municipality``) in scope?"""
    match principal.role:
        case Role.CASEWORKER:
            return principal.organisation == provider
        case Role.COORDINATOR | Role.TEILHABEMANAGER:
            return principal.organisation == municipality
        case Role.AUDITOR:
            return principal.organisation in (ALL_ORGANISATIONS, municipality)
        case Role.ADMIN:
            return True
        case _:
            return False


def may_see_restricted(principal: Principal) -> bool:
    """A participant under restriction (Art. 18 GDPR) is read by auditors only.

    Restriction keeps the records for the funding audit and nothing else: not the
    caseload, not the timeline, not name search, and not an admin's reads either.
    """
    return principal.role == Role.AUDITOR


def check_not_restricted(principal: Principal, restricted: bool) -> None:
    if restricted and not may_see_restricted(principal):
        msg = "processing of this participant's data is restricted: only auditors may read it"
        raise AccessDeniedError(msg, rule="processing-restricted")


def check_may_read_access_log(principal: Principal) -> None:
    """Who read a participant's data (Art. 15): the coordinator in scope and admins."""
    if principal.role not in (Role.COORDINATOR, Role.ADMIN):
        msg = "only the participant's coordinator or an admin may read the access log"
        raise AccessDeniedError(msg)


def check_may_export(principal: Principal) -> None:
    """Verifiable bundles of participants' events: auditors and admins, in scope."""
    if principal.role not in (Role.AUDITOR, Role.ADMIN):
        msg = "only auditors and admins may export participants' records"
        raise AccessDeniedError(msg)


# ---------------------------------------------------- integrity


def check_may_audit(principal: Principal) -> None:
    """Verification, checkpoints and the checkpoint key: auditors and admins."""
    if principal.role not in (Role.AUDITOR, Role.ADMIN):
        msg = "only auditors and admins may verify the log"
        raise AccessDeniedError(msg)


# ------------------------------------------------------- reports


def report_scope(
    principal: Principal,
    config: Configuration,
    municipality: str | None,
    provider: str | None,
) -> tuple[str | None, str | None]:
    """The (municipality, provider) a new report covers; refuses what the caller may not see.

    - Funders: every municipality, aggregated (small cells always suppressed).
    - Coordinators: their own municipality. Case workers: their own provider.
      Auditors: their scope (a municipality, or ``*``). Admins: everything.

    Without a filter the report narrows to the caller's scope.
    """
    if municipality is not None and municipality not in config.municipalities:
        msg = "municipality is not a configured municipality"
        raise InvalidInputError(msg, field="municipality", rule="unknown-municipality")
    if provider is not None and provider not in config.providers:
        msg = "provider is not a configured provider"
        raise InvalidInputError(msg, field="provider", rule="unknown-provider")
    if provider is not None:
        own = config.providers[provider].municipality
        if municipality is not None and municipality != own:
            msg = "provider does not belong to municipality"
            raise InvalidInputError(msg, field="provider")
        municipality = None  # the provider fixes it
    role, org = principal.role, principal.organisation
    if role == Role.CASEWORKER:
        if provider not in (None, org) or (
            municipality is not None and municipality != config.municipality_of(org)
        ):
            msg = "case workers receive reports for their own provider only"
            raise AccessDeniedError(msg)
        return None, org
    confined = _confined_municipality(principal)
    if confined is not None:
        if municipality not in (None, confined) or (
            provider is not None and config.providers[provider].municipality != confined
        ):
            msg = f"the role {role.value} receives reports for its own municipality only"
            raise AccessDeniedError(msg)
        return (None, provider) if provider else (confined, None)
    if role not in (Role.FUNDER, Role.AUDITOR, Role.ADMIN):
        # Statewide reports only for the roles whose scope is statewide.
        msg = f"the role {role.value} receives no reports"
        raise AccessDeniedError(msg)
    return municipality, provider


def data_quality_scope(
    principal: Principal, config: Configuration, municipality: str | None
) -> str | None:
    """The municipality (``None``: all) whose providers' data quality the caller reads.

    Data quality per provider (missing core fields, recording delays, overdue due
    list items, corrections) is the coordinator's steering of the providers in the
    municipality: coordinators read their own municipality, auditors their scope,
    admins everything. Case workers are refused (the table compares their provider
    with the others), funders too (figures at any moment, per provider: not a
    published release), and every other role.
    """
    check_may_read_data_quality(principal)
    if municipality is not None and municipality not in config.municipalities:
        msg = "municipality is not a configured municipality"
        raise InvalidInputError(msg, field="municipality", rule="unknown-municipality")
    confined = _confined_municipality(principal)
    if confined is not None and municipality not in (None, confined):
        msg = f"the role {principal.role.value} receives reports for its own municipality only"
        raise AccessDeniedError(msg)
    return confined or municipality


def check_may_read_data_quality(principal: Principal) -> None:
    """The role alone (the page's link, before any parameter): see ``data_quality_scope``."""
    if principal.role not in (Role.COORDINATOR, Role.AUDITOR, Role.ADMIN):
        msg = f"the role {principal.role.value} receives no data quality report"
        raise AccessDeniedError(msg)


def _confined_municipality(principal: Principal) -> str | None:
    if principal.role in (Role.COORDINATOR, Role.TEILHABEMANAGER) or (
        principal.role == Role.AUDITOR and principal.organisation != ALL_ORGANISATIONS
    ):
        return principal.organisation
    return None


def run_within_scope(
    principal: Principal,
    config: Configuration,
    municipality: str | None,
    provider: str | None,
) -> bool:
    """Does a stored run's scope (``None`` = all) lie within the caller's report scope?

    Unlike ``report_scope``, nothing narrows here: a statewide run is statewide,
    and only callers whose scope is statewide may read it.
    """
    run_municipality = config.municipality_of(provider) if provider else municipality
    match principal.role:
        case Role.CASEWORKER:
            return provider == principal.organisation
        case Role.COORDINATOR | Role.TEILHABEMANAGER | Role.AUDITOR:
            confined = _confined_municipality(principal)
            return confined is None or run_municipality == confined
        case Role.FUNDER | Role.ADMIN:
            return True
    return False


def may_see_unsuppressed(principal: Principal) -> bool:
    """Unsuppressed figures and evidence rows: the roles that may read the records anyway."""
    return principal.role in READS_RECORDS


def check_unsuppressed(principal: Principal) -> None:
    if not may_see_unsuppressed(principal):
        msg = "funders receive published figures only: small counts are always suppressed"
        raise AccessDeniedError(msg, field="unsuppressed")


def may_read_run(
    principal: Principal,
    config: Configuration,
    *,
    municipality: str | None,
    provider: str | None,
    suppressed: bool,
    evidence: bool,
) -> bool:
    """May the caller read a stored report run (its figures, charts and change list)?"""
    if (not suppressed or evidence) and not may_see_unsuppressed(principal):
        return False
    return run_within_scope(principal, config, municipality, provider)


def may_see_changed_participant(
    principal: Principal, provider: str | None, municipality: str | None
) -> bool:
    """Is a participant named in a run's change list one the caller may see now?

    The run is in scope, but a participant may have moved out of it since (or be
    unknown to the read model): their id is then withheld.
    """
    if not may_see_unsuppressed(principal) or provider is None or municipality is None:
        return False
    return may_see(principal, provider, municipality)


# ------------------------------------------------------------------- courses
# Courses (domain/course.py) belong to the provider that holds them, in the
# provider's municipality. Funders receive aggregated reports only.


def may_manage_course(principal: Principal, provider: str) -> bool:
    """Schedule a course, hold sessions, enrol, record attendance: the provider's staff."""
    return principal.role == Role.ADMIN or (
        principal.role == Role.CASEWORKER and principal.organisation == provider
    )


def may_read_course(principal: Principal, provider: str, municipality: str) -> bool:
    """The provider's case workers, the municipality's coordinators, auditors in scope."""
    return principal.role in READS_RECORDS and may_see(principal, provider, municipality)


def check_may_read_courses(principal: Principal) -> None:
    """Course lists name participants by pseudonym: only for roles that read records."""
    if principal.role not in READS_RECORDS:
        msg = f"the role {principal.role.value} receives no course lists"
        if principal.role == Role.FUNDER:
            msg = "funders receive aggregated reports only, never course lists"
        raise AccessDeniedError(msg)


def check_may_manage_courses(principal: Principal) -> None:
    if principal.role not in (Role.CASEWORKER, Role.ADMIN):
        msg = f"the role {principal.role.value} may not record courses"
        raise AccessDeniedError(msg)


def may_read_ad_hoc_reports(principal: Principal) -> bool:
    """Reports at any moment, stored runs and their change lists.

    Two ad-hoc cut-offs one event apart single out that event's person, so only the
    roles that may read the participants' records anyway get them; the others
    (funders) read published releases at fixed cut-offs.
    """
    return principal.role in READS_RECORDS


def check_may_read_ad_hoc_reports(principal: Principal) -> None:
    if not may_read_ad_hoc_reports(principal):
        msg = "this role receives published releases only: GET /reports/releases"
        raise AccessDeniedError(msg, rule="published-releases-only")


def check_may_read_reports(principal: Principal) -> None:
    """Any funding report: ad-hoc ones for the roles that read records, published
    releases for funders (the Berichte page shows each what it may read)."""
    if not may_read_ad_hoc_reports(principal) and principal.role != Role.FUNDER:
        msg = f"the role {principal.role.value} receives no reports"
        raise AccessDeniedError(msg)


def may_replay_reports(principal: Principal) -> bool:
    """Reports recomputed by replaying the whole log (seconds each): audit work only."""
    return principal.role in (Role.AUDITOR, Role.ADMIN)


def check_may_replay_reports(principal: Principal) -> None:
    if not may_replay_reports(principal):
        msg = "only auditors and admins may replay reports over the log"
        raise AccessDeniedError(msg, rule="replay-auditors-only")


def may_read_replay_job(principal: Principal, created_by: str) -> bool:
    """A replay job is its creator's: others (admins too) see no such job."""
    return may_replay_reports(principal) and created_by == principal.user


def may_publish_release(principal: Principal, municipality: str | None) -> bool:
    """Admins publish any release; a coordinator those of the own municipality only."""
    if principal.role == Role.ADMIN:
        return True
    return principal.role == Role.COORDINATOR and municipality == principal.organisation


def check_may_publish_release(principal: Principal, municipality: str | None) -> None:
    if not may_publish_release(principal, municipality):
        msg = "only admins, and coordinators for their own municipality, publish releases"
        raise AccessDeniedError(msg, rule="release-publishers-only")


# ------------------------------------------------------------ the user directory


def check_may_administer_users(principal: Principal) -> None:
    """The role gate of the directory's routes: admins, and organisation admins."""
    if principal.role not in (Role.ADMIN, Role.ORG_ADMIN):
        msg = f"the role {principal.role.value} may not administer users"
        raise AccessDeniedError(msg)


def check_may_grant(principal: Principal, member_of: str) -> None:
    """An organisation admin grants and withdraws roles only at the own organisation,
    and never the admin roles (no one makes themselves or others all-powerful)."""
    check_may_administer_users(principal)
    if principal.role == Role.ORG_ADMIN and member_of != principal.organisation:
        msg = "an organisation admin administers only the own organisation's memberships"
        raise AccessDeniedError(msg)


def may_see_user(principal: Principal, memberships: Collection[tuple[str, str]]) -> bool:
    """Admins see every user; an organisation admin those with a role at its
    organisation, and those with no role yet (waiting for approval)."""
    if principal.role == Role.ADMIN:
        return True
    if principal.role != Role.ORG_ADMIN:
        return False
    return not memberships or any(org == principal.organisation for _, org in memberships)
