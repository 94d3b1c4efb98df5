"""The application service: load a participant, call a command, save, return plain values.

It is the only code that saves events. Persistence is chosen by the environment
(``PERSISTENCE_MODULE``), so this module stays free of SQL; the composition root in
``api/`` wires the PostgreSQL infrastructure in ``storage/``.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from lotse.domain.access import (
    Principal,
    Visibility,
    accepted_referrals,
    check_full_read,
    check_may_accept_referral,
    check_may_end_referral,
    check_may_erase,
    check_may_read_access_log,
    check_may_read_personal_data,
    check_may_record,
    check_may_record_for,
    check_may_record_milestones,
    check_may_refer,
    check_may_review_duplicates,
    check_may_void,
    check_may_void_entry,
    check_not_restricted,
    check_sees_referral,
    is_own_entry,
    may_review_pair,
    may_see,
    may_void,
    may_write,
    referred_modules,
    shows_only_own_entries,
    visibility,
)
from lotse.domain.catalogue import milestone_named
from lotse.domain.configuration import Configuration, Programme
from lotse.domain.duplicates import DuplicateIndex, Identity, Scope, scope_of
from lotse.domain.duplicates import tokens as duplicate_tokens
from lotse.domain.envelope import Envelope
from lotse.domain.errors import (
    AccessDeniedError,
    DomainError,
    InvalidInputError,
    ParticipantNotFoundError,
    RuleViolationError,
    VersionConflictError,
)
from lotse.domain.participant import Participant
from lotse.domain.referrals import Referral
from lotse.domain.timetravel import Replayed, known_events, replay
from lotse.domain.vocabulary import ErasureMode

_T = TypeVar("_T")
PROGRAMME_TIMEZONE = ZoneInfo("Europe/Berlin")
EVENT_CACHE_SIZE = "LOTSE_EVENT_CACHE_SIZE"
#: About the participants active at once in a large municipality, times a few.
DEFAULT_EVENT_CACHE_SIZE = 2000
# Each round of a race on one participant has exactly one winner, so with n writers
# arriving together the last one needs n - 1 retries: with 8, three of 12 concurrent
# writers gave up (tests/integration/test_concurrent_writers.py). 32 covers the 16
# concurrent clients of the benchmark, with room for late arrivals.
MAX_CONFLICT_RETRIES = 32


def programme_today() -> date:
    """Today where the programme runs: 'not in the future' means in NRW."""
    return datetime.now(PROGRAMME_TIMEZONE).date()


class DateAsISO(Transcoding):
    """Effective dates are calendar dates, stored as ISO text."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class RequestKey:
    """An Idempotency-Key claim, stored in the same transaction as the events.

    ``scope`` is ``domain.access.idempotency_scope``: the caller's user id, role and
    organisation, so keys of different callers never collide (the same user id at
    another provider included);
    ``fingerprint`` identifies the request body, so a reused key with another body
    can be told apart from a retry.
    """

    scope: str
    key: str
    fingerprint: str
    operation: str


@dataclass(frozen=True)
class Recorded:
    """What a write returns: the participant, its new version, the log position."""

    participant_id: UUID
    version: int
    position: int
    replayed: bool = False
    #: A registration's duplicate check: another participant may be the same person,
    #: in the caller's municipality or elsewhere (never which one); None: no match.
    possible_duplicate: Scope | None = None


class ImportRefusedError(Exception):
    """A milestone of an imported participant was refused (``Journeys.import_participant``)."""

    def __init__(self, index: int, error: DomainError) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class DuplicateRequestError(DomainError):
    """The Idempotency-Key was already used for a different request (HTTP 422)."""

    rule = "idempotency-key-reused"


class RequestLog(Protocol):
    """Looks up earlier requests by Idempotency-Key (implemented in storage)."""

    def find(self, scope: str, key: str) -> tuple[str, str, Recorded] | None:
        """Return (fingerprint, operation, result) of an earlier request, if any."""


class ReadAccessLog(Protocol):
    """Who read which participant's data (implemented in storage)."""

    def entries_for(self, participant_id: UUID, limit: int = 1000) -> list[dict[str, Any]]:
        """The newest entries about one participant."""


# Milestone type -> (command method, whether it needs the programme).


def replay_participant(
    participant: Participant | None, events: Iterable[Participant.Event]
) -> Participant | None:
    """Fold stored events into a participant, as the library's ``project_aggregate``.

    The same loop without its ``isinstance`` check against a runtime-checkable
    Protocol, which on Python 3.11 cost about a tenth of the write path's CPU
    (every load replays the whole history). Only ``Participant`` events are stored
    in this application's log, and each is a library ``Aggregate.Event``.
    """
    for event in events:
        participant = event.mutate(participant)
    return participant


@dataclass(frozen=True)
class _Decoded:
    """A participant's decoded events, kept in memory, and the placement they give."""

    events: tuple[Participant.Event, ...]
    provider: str
    municipality: str
    #: Organisations besides the lead provider that may see something of this
    #: participant: providers it was referred to, and every organisation that
    #: recorded an entry (a former provider reads its own entries).
    others: frozenset[str] = frozenset()


def _seen_referral(principal: Principal, participant: Participant, referral_id: str) -> Referral:
    """The referral, for a caller who may see it (else 404 as for an unknown one)."""
    found = participant.referrals.get(referral_id)
    check_sees_referral(
        principal,
        participant.provider,
        participant.municipality,
        found.provider if found else None,
    )
    return participant.referral(referral_id)


def _visible_to(principal: Principal) -> Callable[[str, str, frozenset[str]], bool]:
    """Could ``principal`` see anything of a participant placed so, with these others?

    Decided before any replay (``Journeys._load``): in scope, referred to the
    caller's organisation, or recorded by it (a former provider reads its own entries).
    """

    def visible(provider: str, municipality: str, others: frozenset[str]) -> bool:
        return may_see(principal, provider, municipality) or principal.organisation in others

    return visible


class Journeys(Application[UUID]):
    """Records participants' journeys and answers questions about single participants."""

    name = "Lotse"

    def __init__(
        self,
        configuration: Configuration,
        *,
        env: dict[str, str] | None = None,
        clock: Callable[[], date] = programme_today,
        request_log: RequestLog | None = None,
    ) -> None:
        super().__init__(env=env)
        self.configuration = configuration
        self.clock = clock
        self.request_log = request_log
        self.access_log: ReadAccessLog | None = None
        #: Checks that a ``CaseAssigned``'s assignee works for the participant's
        #: provider (the user directory; wired by the composition root).
        self.assignee_check: Callable[[str, str, str], None] | None = None
        #: Keyed pseudonyms for duplicate detection (``storage.duplicates``) and their
        #: HMAC key; without them registration checks for nothing.
        self.duplicates: DuplicateIndex | None = None
        self.duplicate_key: bytes = b""
        #: Participants whose decoded events are kept in memory (see ``_load``).
        self.event_cache_size = int(self.env.get(EVENT_CACHE_SIZE) or DEFAULT_EVENT_CACHE_SIZE)
        self._decoded: OrderedDict[UUID, _Decoded] = OrderedDict()
        self._cache_lock = threading.Lock()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # ----------------------------------------------------------- helpers

    def programme(self, programme_id: str) -> Programme:
        programme = self.configuration.programmes.get(programme_id)
        if programme is None:
            msg = "programme is not a configured programme"
            raise InvalidInputError(msg, field="programme", rule="unknown-programme")
        return programme

    def _load(
        self,
        participant_id: UUID,
        visible: Callable[[str, str, frozenset[str]], bool] | None = None,
    ) -> Participant:
        """The participant, from its decoded events kept in memory plus any newer ones.

        Every command replays the whole history, and decoding it (JSON, AES-GCM)
        grows with its length: 50 to 200 events per participant in practice. Stored
        events never change, so the decoded ones are kept (bounded, least recently
        used) and only events newer than the last one kept are read: one query, as
        before, that returns nothing or a few rows. A participant whose data was
        erased is never kept: its cleartext must not outlive the key in memory.

        ``visible(provider, municipality, others)`` is the caller's scope. When nothing
        newer than the kept events was recorded, it is decided from the placement
        kept with them, before any replay: a participant out of scope then costs
        one query and no replay, as an unknown id does, so the time a 404 takes
        does not tell the two apart.
        """
        with self._cache_lock:
            cached = self._decoded.get(participant_id)
            if cached is not None:
                self._decoded.move_to_end(participant_id)
        events: list[Participant.Event] = list(cached.events) if cached else []
        after = events[-1].originator_version if events else None
        # Only participants' events are stored in this application's log.
        newer = self._stored_events(participant_id, gt=after)
        if not events and not newer:
            msg = "no participant with this id"
            raise ParticipantNotFoundError(msg)
        out_of_scope = (
            visible is not None
            and cached is not None
            and not newer
            and not visible(cached.provider, cached.municipality, cached.others)
        )
        if out_of_scope:
            msg = "no participant with this id"
            raise ParticipantNotFoundError(msg)
        events.extend(newer)
        participant = replay_participant(None, events)
        if not isinstance(participant, Participant):
            # Another aggregate's stream (a course) shares the log: not a participant.
            msg = "no participant with this id"
            raise ParticipantNotFoundError(msg)
        with self._cache_lock:
            if participant.personal_data_erased or self.event_cache_size <= 0:
                self._decoded.pop(participant_id, None)
            else:
                others = frozenset(
                    {e.organisation for e in events}
                    | {r.provider for r in participant.referrals.values()}
                )
                self._decoded[participant_id] = _Decoded(
                    tuple(events), participant.provider, participant.municipality, others
                )
                self._decoded.move_to_end(participant_id)
                while len(self._decoded) > self.event_cache_size:
                    self._decoded.popitem(last=False)
        return participant

    def participant_for_reading(self, principal: Principal, participant_id: UUID) -> Participant:
        """Load a participant the caller may see in full; out of scope looks like not found.

        A provider the participant was referred to is refused (403, naming the rule):
        the full state holds what only the lead provider may read.
        """
        check_may_read_personal_data(principal)
        participant = self._load(participant_id, visible=_visible_to(principal))
        check_full_read(self.visibility(principal, participant))
        check_not_restricted(principal, participant.restricted)
        return participant

    def visibility(
        self, principal: Principal, participant: Participant, *, recorded_here: bool = False
    ) -> Visibility:
        return visibility(
            principal,
            participant.provider,
            participant.municipality,
            referred=referred_modules(
                principal,
                accepted_referrals(participant.referrals.values()),
                participant.status == "active",
            ),
            recorded_here=recorded_here,
        )

    def history_for_reading(
        self, principal: Principal, participant_id: UUID, known_at: datetime | None = None
    ) -> tuple[Participant, list[Participant.Event]]:
        """The events the caller may read: all in scope, else those its organisation recorded.

        Referred and former providers read the entries they recorded themselves, and
        no other (``domain.access``); a correction counts as the corrector's entry.
        With ``known_at``, only what had been recorded by then.
        """
        check_may_read_personal_data(principal)
        participant = self._load(participant_id, visible=_visible_to(principal))
        events = list(self.history(participant_id))
        recorded_here = any(is_own_entry(principal, e.organisation) for e in events)
        own_only = shows_only_own_entries(
            self.visibility(principal, participant, recorded_here=recorded_here)
        )
        check_not_restricted(principal, participant.restricted)
        if own_only:
            events = [e for e in events if is_own_entry(principal, e.organisation)]
        return participant, known_events(events, known_at)

    def state_for_reading(
        self,
        principal: Principal,
        participant_id: UUID,
        *,
        as_of: date | None = None,
        known_at: datetime | None = None,
    ) -> Replayed:
        """A participant the caller may read in full, as of a day, as known at a time."""
        self.participant_for_reading(principal, participant_id)
        return replay(self.history(participant_id), as_of=as_of, known_at=known_at)

    def _replayed(self, key: RequestKey | None, operation: str) -> Recorded | None:
        if key is None or self.request_log is None:
            return None
        found = self.request_log.find(key.scope, key.key)
        if found is None:
            return None
        fingerprint, earlier_operation, result = found
        if fingerprint != key.fingerprint or earlier_operation != operation:
            msg = "this Idempotency-Key was already used with a different request"
            raise DuplicateRequestError(msg, field="Idempotency-Key")
        return Recorded(result.participant_id, result.version, result.position, replayed=True)

    def _save(
        self, participant: Participant, key: RequestKey | None, *, shred: bool = False
    ) -> Recorded:
        # ``shred`` asks the recorder to destroy the participant's data key in the
        # same transaction that records the erasure event.
        recordings = self.save(
            participant, request_key=key, shred=[participant.id] if shred else []
        )
        position = max(r.notification.id for r in recordings) if recordings else 0
        return Recorded(participant.id, participant.version, position)

    # ---------------------------------------------------------- commands

    def register(
        self,
        principal: Principal,
        request_id: str,
        *,
        programme: str,
        provider: str,
        request_key: RequestKey | None = None,
        **details: Any,
    ) -> Recorded:
        check_may_record(principal)
        replayed = self._replayed(request_key, "register")
        if replayed:
            # A retry answers as the first request did, the duplicate check included.
            return self._with_duplicate_check(replayed)
        config = self.programme(programme)
        municipality = self._registering_at(principal, provider)
        participant = Participant.register(
            envelope=Envelope(principal.user, principal.role, principal.organisation, request_id),
            today=self.clock(),
            programme=config,
            provider=provider,
            municipality=municipality,
            **details,
        )
        try:
            recorded = self._save(participant, request_key)
        except IntegrityError:
            # Only a concurrent request with the same Idempotency-Key can collide
            # with a brand-new participant id.
            replayed = self._replayed(request_key, "register")
            if replayed:
                return self._with_duplicate_check(replayed)
            raise
        return self._with_duplicate_check(recorded, participant)

    def _with_duplicate_check(
        self, recorded: Recorded, participant: Participant | None = None
    ) -> Recorded:
        """Store the participant's pseudonyms and say whether another one matches.

        Run after the registration is committed, while its cleartext is at hand: the
        tokens are an index derived from it (as a read model, but computed where the
        names are in clear, so no name is stored anywhere else). A replayed request
        reloads the participant; when the index fails, ``check_duplicates`` repairs it.
        """
        if self.duplicates is None:
            return recorded
        if participant is None:
            participant = self._load(recorded.participant_id)
        scope = self.recheck_duplicates(participant)
        return replace(recorded, possible_duplicate=scope)

    def decide_duplicate(
        self,
        principal: Principal,
        request_id: str,
        a: UUID,
        b: UUID,
        *,
        linked: bool,
        reason: str | None = None,
    ) -> tuple[Recorded, Recorded]:
        """Link or dismiss a candidate pair: one event on each participant, one transaction.

        A pair the caller may not review, or that is no candidate pair, is answered
        as unknown (404): the answer never tells whether a participant exists
        elsewhere.
        """
        check_may_review_duplicates(principal)
        if a == b:
            msg = "a participant cannot be a duplicate of itself"
            raise InvalidInputError(msg, field="participant_b", rule="duplicate-of-itself")
        unknown = "no candidate pair with these participants"
        envelope = Envelope(principal.user, principal.role, principal.organisation, request_id)
        for _attempt in range(MAX_CONFLICT_RETRIES):
            try:
                first, second = self._load(a), self._load(b)
            except ParticipantNotFoundError:
                raise ParticipantNotFoundError(unknown) from None
            paired = self.duplicates is not None and self.duplicates.paired(a, b)
            if not paired or not may_review_pair(
                principal, first.municipality, second.municipality
            ):
                raise ParticipantNotFoundError(unknown)
            today = self.clock()
            for one, other in ((first, second), (second, first)):
                one.decide_duplicate(
                    envelope=envelope,
                    today=today,
                    other_participant=str(other.id),
                    linked=linked,
                    reason=reason,
                )
            try:
                recordings = self.save(first, second)
            except IntegrityError:
                # Another write to either participant came first: decide again on the
                # new state (a concurrent decision on this pair then answers 409).
                continue
            position = max(r.notification.id for r in recordings) if recordings else 0
            return (
                Recorded(first.id, first.version, position),
                Recorded(second.id, second.version, position),
            )
        msg = "the participants are being changed by many writers at once: try again"
        raise VersionConflictError(msg)

    def duplicate_decision(self, a: UUID, b: UUID) -> str | None:
        """The decision on a pair (linked, dismissed) or None while open."""
        try:
            return self._load(a).duplicate_decisions.get(str(b))
        except ParticipantNotFoundError:
            return None

    def recheck_duplicates(self, participant: Participant) -> Scope | None:
        """(Re)compute a participant's pseudonyms; the scope of any match."""
        if self.duplicates is None or participant.personal_data_erased:
            return None
        identity = Identity(
            participant.given_name or "",
            participant.family_name or "",
            participant.birth_date,
            participant.birth_year,
            participant.nationality,
        )
        candidates = self.duplicates.record(
            participant.id,
            participant.programme,
            participant.provider,
            participant.municipality,
            duplicate_tokens(self.duplicate_key, identity),
        )
        return scope_of(candidates, participant.municipality)

    def record_milestone(
        self,
        principal: Principal,
        request_id: str,
        participant_id: UUID,
        milestone: str,
        effective_date: date,
        *,
        expected_version: int | None = None,
        request_key: RequestKey | None = None,
        **data: Any,
    ) -> Recorded:
        """Record one milestone; concurrent writers are retried, never lost."""
        voiding = milestone == Participant.EntryVoided.__name__
        if voiding:
            check_may_void(principal)
        else:
            check_may_record_milestones(principal)
        replayed = self._replayed(request_key, "milestone")
        if replayed:
            return replayed
        entry = milestone_named(milestone)
        envelope = Envelope(principal.user, principal.role, principal.organisation, request_id)
        for _attempt in range(MAX_CONFLICT_RETRIES):
            participant = self._load(participant_id)
            self._check_may_record_entry(principal, participant, entry, data)
            if expected_version is not None and participant.version != expected_version:
                msg = (
                    f"the participant is at version {participant.version}, not {expected_version}: "
                    "reload and try again"
                )
                raise VersionConflictError(msg, field="If-Match")
            self._apply_milestone(participant, entry, envelope, effective_date, data)
            try:
                return self._save(participant, request_key)
            except IntegrityError:
                replayed = self._replayed(request_key, "milestone")
                if replayed:
                    return replayed
                if expected_version is not None:
                    msg = "the participant was changed concurrently: reload and try again"
                    raise VersionConflictError(msg, field="If-Match") from None
                # Another writer got there first: reload and apply the rules again.
                continue
        msg = "the participant is being changed by many writers at once: try again"
        raise VersionConflictError(msg)

    def _check_may_record_entry(
        self, principal: Principal, participant: Participant, entry: Any, data: dict[str, Any]
    ) -> None:
        """May the caller record this milestone for this participant (the API's checks)?"""
        if entry.event is Participant.EntryVoided:
            if not may_void(principal, participant.provider, participant.municipality):
                msg = "no participant with this id"
                raise ParticipantNotFoundError(msg)
            participant.check_processing_allowed(entry.name)
            for voided in participant.void_targets(data.get("voids_version", 0)):
                check_may_void_entry(principal, voided.organisation)
            return
        # The lead provider, or a provider referred for the module of this event.
        check_may_record_for(
            principal,
            participant.provider,
            referred_modules(
                principal,
                accepted_referrals(participant.referrals.values()),
                participant.status == "active",
            ),
            entry.name,
            data.get("module"),
            participant.municipality,
        )
        if entry.event is Participant.CaseAssigned and self.assignee_check is not None:
            self.assignee_check(
                str(data.get("assignee")), participant.provider, participant.municipality
            )

    def _apply_milestone(
        self,
        participant: Participant,
        entry: Any,
        envelope: Envelope,
        effective_date: date,
        data: dict[str, Any],
    ) -> None:
        """Run the milestone's command on the (loaded or new) participant; nothing is saved."""
        kwargs = dict(data)
        programme = self.programme(participant.programme)
        if effective_date < programme.earliest_intake_date:
            # Before anything could have happened: a typo (year 0001), not a rule.
            msg = (
                "effective_date must not be before "
                f"{programme.earliest_intake_date.isoformat()} (programme {programme.id})"
            )
            raise InvalidInputError(msg, field="effective_date", rule="date-implausible")
        if entry.needs_programme:
            kwargs["programme"] = programme
        if entry.event is Participant.CaseTransferred:
            kwargs["to_municipality"] = self.municipality_of_provider(
                kwargs.get("to_provider"), "to_provider"
            )
        entry.command(
            participant,
            envelope=envelope,
            effective_date=effective_date,
            today=self.clock(),
            **kwargs,
        )

    def import_participant(
        self,
        principal: Principal,
        request_id: str,
        *,
        programme: str,
        provider: str,
        details: dict[str, Any],
        milestones: Sequence[tuple[str, date, dict[str, Any]]],
        request_key: RequestKey,
        save: bool = True,
    ) -> Recorded:
        """Register a participant with its earlier milestones, saved as one transaction.

        The bulk import (``api/importer.py``): the registration and every milestone
        go through the same checks and commands as ``register`` and
        ``record_milestone``, on the new aggregate in memory; one save then writes
        all its events, with ``request_key`` (the provider's own reference and the
        fingerprint of its rows) claimed in the same transaction, so a participant
        is written whole or not at all, and once. A refused milestone raises
        ``ImportRefusedError`` naming its index; nothing is written then.
        """
        check_may_record(principal)
        config = self.programme(programme)
        municipality = self._registering_at(principal, provider)
        envelope = Envelope(principal.user, principal.role, principal.organisation, request_id)
        participant = Participant.register(
            envelope=envelope,
            today=self.clock(),
            programme=config,
            provider=provider,
            municipality=municipality,
            **details,
        )
        for index, (name, effective_date, data) in enumerate(milestones):
            try:
                entry = milestone_named(name)
                check_may_record_milestones(principal)
                self._check_may_record_entry(principal, participant, entry, data)
                self._apply_milestone(participant, entry, envelope, effective_date, data)
            except DomainError as e:
                raise ImportRefusedError(index, e) from e
        if not save:  # a dry run: every check made, nothing written
            return Recorded(participant.id, participant.version, 0)
        return self._save(participant, request_key)

    # ---------------------------------------------------------- referrals

    def _write(
        self,
        participant_id: UUID,
        act: Callable[[Participant], _T],
        key: RequestKey | None,
        operation: str,
    ) -> tuple[Recorded, _T | None]:
        """Load, act, save; a concurrent writer makes it load and act again.

        A retried request (same Idempotency-Key and body) returns the first result and
        ``None`` in place of ``act``'s result: the caller looks it up in the history.
        """
        replayed = self._replayed(key, operation)
        if replayed:
            return replayed, None
        for _attempt in range(MAX_CONFLICT_RETRIES):
            participant = self._load(participant_id)
            result = act(participant)
            try:
                return self._save(participant, key), result
            except IntegrityError:
                replayed = self._replayed(key, operation)
                if replayed:
                    return replayed, None
                continue
        msg = "the participant is being changed by many writers at once: try again"
        raise VersionConflictError(msg)

    def make_referral(
        self,
        principal: Principal,
        request_id: str,
        participant_id: UUID,
        *,
        provider: str,
        module: str,
        effective_date: date,
        request_key: RequestKey | None = None,
    ) -> tuple[Recorded, str]:
        """The lead provider refers the participant to ``provider`` for ``module``."""
        check_may_record(principal)
        receiving = self.configuration.providers.get(provider)
        envelope = Envelope(principal.user, principal.role, principal.organisation, request_id)

        def act(participant: Participant) -> str:
            check_may_refer(principal, participant.provider)
            if receiving is None:
                msg = "provider is not a configured provider"
                raise InvalidInputError(msg, field="provider", rule="unknown-provider")
            return participant.make_referral(
                envelope=envelope,
                effective_date=effective_date,
                today=self.clock(),
                programme=self.programme(participant.programme),
                receiving=receiving,
                module=module,
            )

        recorded, referral_id = self._write(participant_id, act, request_key, "referral")
        if referral_id is None:  # a replayed request: the referral its first call made
            referral_id = next(
                e.referral_id
                for e in self.history(participant_id)
                if isinstance(e, Participant.ReferralMade)
                and e.originator_version == recorded.version
            )
        return recorded, referral_id

    def accept_referral(
        self,
        principal: Principal,
        request_id: str,
        participant_id: UUID,
        referral_id: str,
        *,
        effective_date: date,
        request_key: RequestKey | None = None,
    ) -> Recorded:
        """The receiving provider accepts; anyone else who cannot see the case gets 404."""
        check_may_record(principal)
        envelope = Envelope(principal.user, principal.role, principal.organisation, request_id)

        def act(participant: Participant) -> None:
            referral = _seen_referral(principal, participant, referral_id)
            check_may_accept_referral(principal, referral.provider)
            participant.accept_referral(
                envelope=envelope,
                effective_date=effective_date,
                today=self.clock(),
                referral_id=referral_id,
            )

        return self._write(participant_id, act, request_key, "referral-acceptance")[0]

    def end_referral(
        self,
        principal: Principal,
        request_id: str,
        participant_id: UUID,
        referral_id: str,
        *,
        effective_date: date,
        reason: str,
        request_key: RequestKey | None = None,
    ) -> Recorded:
        check_may_record(principal)
        envelope = Envelope(principal.user, principal.role, principal.organisation, request_id)

        def act(participant: Participant) -> None:
            referral = _seen_referral(principal, participant, referral_id)
            check_may_end_referral(principal, participant.provider, referral.provider)
            participant.end_referral(
                envelope=envelope,
                effective_date=effective_date,
                today=self.clock(),
                referral_id=referral_id,
                reason=reason,
            )

        return self._write(participant_id, act, request_key, "referral-ending")[0]

    def municipality_of_provider(self, provider: Any, field: str = "provider") -> str:
        """The municipality of a configured provider; any other value is the caller's
        input error, named by ``field``."""
        municipality = (
            self.configuration.municipality_of(provider) if isinstance(provider, str) else None
        )
        if municipality is None:
            msg = f"{field} is not a configured provider"
            raise InvalidInputError(msg, field=field, rule="unknown-provider")
        return municipality

    def _registering_at(self, principal: Principal, provider: str) -> str:
        """The municipality of the provider a person is registered at (by the API or
        an import), once the caller may register there."""
        municipality = self.municipality_of_provider(provider)
        if not may_write(principal, provider):
            msg = "case workers register participants only for their own provider"
            raise AccessDeniedError(msg, field="provider")
        return municipality

    def erase(
        self,
        principal: Principal,
        request_id: str,
        participant_id: UUID,
        *,
        mode: ErasureMode,
        reason_code: str,
        request_key: RequestKey | None = None,
    ) -> tuple[Recorded, bool]:
        """Record erasure or restriction; returns (result, whether anything changed)."""
        check_may_erase(principal)
        replayed = self._replayed(request_key, "erasure")
        if replayed:
            return replayed, True
        participant = self._load(participant_id)
        if not may_see(principal, participant.provider, participant.municipality):
            msg = "no participant with this id"
            raise ParticipantNotFoundError(msg)
        envelope = Envelope(principal.user, principal.role, principal.organisation, request_id)
        changed = participant.erase_personal_data(
            envelope=envelope, today=self.clock(), mode=mode, reason_code=reason_code
        )
        if not changed:
            return Recorded(participant.id, participant.version, 0), False
        recorded = self._save(participant, request_key, shred=mode == ErasureMode.SHRED)
        with self._cache_lock:
            # The decoded events in memory still hold the identifiers in clear.
            self._decoded.pop(participant.id, None)
        return recorded, True

    # ----------------------------------------------------------- queries

    def history(self, participant_id: UUID) -> Iterator[Participant.Event]:
        yield from self._stored_events(participant_id)

    def access_log_of(self, principal: Principal, participant_id: UUID) -> list[dict[str, Any]]:
        """Who read a participant's data, when and why (Art. 15 GDPR), newest first.

        For the coordinator in scope and admins, also while processing is
        restricted or after an erasure: the log is about the readers. A
        participant out of scope looks like an unknown one.
        """
        check_may_read_access_log(principal)
        if self.placement_in_scope(principal, participant_id) is None:
            msg = "no participant with this id"
            raise ParticipantNotFoundError(msg)
        assert self.access_log is not None  # wired by the composition root
        return self.access_log.entries_for(participant_id)

    def placement_in_scope(
        self, principal: Principal, participant_id: UUID
    ) -> tuple[str, str] | None:
        """(provider, municipality) of a participant in the caller's scope; else ``None``.

        By the current placement only, restricted or erased alike: for what
        concerns the records (access log, audit export), not their content.
        """
        participant: object = None
        with contextlib.suppress(AggregateNotFoundError):
            participant = self.repository.get(participant_id)
        if not isinstance(participant, Participant) or not may_see(
            principal, participant.provider, participant.municipality
        ):
            return None
        return participant.provider, participant.municipality

    def entry_to_correct(
        self, principal: Principal, participant_id: UUID, corrects_version: int
    ) -> Participant.Event:
        """The earlier entry a correction names, once the caller may see the participant.

        The scope is checked before the history is read: an unknown version of a
        participant out of scope must look like an unknown participant.
        """
        self.participant_for_reading(principal, participant_id)
        entry = next(
            (e for e in self.history(participant_id) if e.originator_version == corrects_version),
            None,
        )
        if entry is None:
            msg = "corrects_version must name an earlier entry of this participant"
            raise RuleViolationError(msg, field="corrects_version", rule="unknown-version")
        return entry

    def _stored_events(
        self, participant_id: UUID, gt: int | None = None
    ) -> list[Participant.Event]:
        """The participant's events from the store, never decrypted with an erased key.

        An erasure recorded by another process (another API worker, the retention
        job) destroyed the key in the database, but this process may still hold
        it in memory and would decrypt the earlier events with it. The erasure
        event is committed with the key's destruction, so when it is among the
        events read, the key is forgotten here and, if it was still held, the
        events are read again: the identifying fields then read as erased.
        """
        events = cast(list[Participant.Event], list(self.events.get(participant_id, gt=gt)))
        shredded = any(
            isinstance(e, Participant.PersonalDataErased) and e.mode == ErasureMode.SHRED
            for e in events
        )
        keys = getattr(self.mapper, "keys", None)  # the encrypting mapper's key ring
        if shredded and keys is not None and keys.forget_if_held(participant_id):
            with self._cache_lock:
                self._decoded.pop(participant_id, None)
            events = cast(list[Participant.Event], list(self.events.get(participant_id, gt=gt)))
        return events
