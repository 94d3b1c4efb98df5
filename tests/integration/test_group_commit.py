"""Group commit on real PostgreSQL: one batch, each save judged on its own.

Concurrent single-event saves of one process are written by one statement
(``lotse_append_batch``). A conflict in that batch must refuse only the save
that conflicts, and leave nothing of it behind; everything else commits.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, StoredEvent

from lotse.api.runtime import Runtime
from lotse.domain.application import Journeys, RequestKey
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant
from lotse.storage.keys import KEYS_TABLE
from lotse.storage.recorder import REQUESTS_TABLE, LotseRecorder
from lotse.storage.verification import run_verification
from tests.builders.writers import COACH, CONTACT_DAY, INTAKE, all_at_once, log_contact, register

TODAY = date(2021, 7, 1)
ENVELOPE = Envelope(COACH.user, COACH.role, COACH.organisation, "req-batch")


def new_participant(journeys: Journeys) -> Participant:
    return Participant.register(
        envelope=ENVELOPE,
        today=TODAY,
        programme=journeys.programme("durchstarten"),
        provider="caritas-ahlen",
        municipality="warendorf",
        intake_date=INTAKE,
        given_name="Batch",
        family_name="Teilnehmerin",
        birth_date=date(2001, 5, 17),
        gender="female",
        nationality="AF",
        residence_status="duldung",
    )


def contact(journeys: Journeys, participant_id: UUID) -> Participant:
    participant = journeys.repository.get(participant_id)
    assert isinstance(participant, Participant)
    participant.log_coaching_contact(
        envelope=ENVELOPE, effective_date=CONTACT_DAY, today=TODAY, minutes=30, mode="phone"
    )
    return participant


def stored(journeys: Journeys, participant: Participant) -> StoredEvent:
    (event,) = participant.collect_events()
    return journeys.mapper.to_stored_event(event)


def rows(runtime: Runtime, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(runtime.database.url) as conn:
        return conn.execute(query, params).fetchall()


def test_a_batch_refuses_only_the_saves_that_conflict_and_leaves_nothing_of_them(
    runtime: Runtime,
) -> None:
    journeys = runtime.journeys
    recorder = journeys.recorder
    assert isinstance(recorder, LotseRecorder)
    existing = register(journeys).participant_id
    key = RequestKey(scope=COACH.user, key="intake-1", fingerprint="body", operation="register")
    first, second = new_participant(journeys), new_participant(journeys)

    outcomes = recorder.append_batch(
        [
            (stored(journeys, contact(journeys, existing)), None),
            (stored(journeys, contact(journeys, existing)), None),  # the same version again
            (stored(journeys, first), key),
            (stored(journeys, second), key),  # the same Idempotency-Key again
        ]
    )

    accepted, same_version, registered, same_key = outcomes
    assert isinstance(accepted, int)
    assert isinstance(registered, int)
    assert isinstance(same_version, IntegrityError)
    assert isinstance(same_key, IntegrityError)
    assert [e.originator_version for e in journeys.events.get(existing)] == [1, 2]
    assert rows(
        runtime, "SELECT count(*) FROM lotse_events WHERE originator_id = %s", second.id
    ) == [(0,)]
    assert rows(
        runtime, f"SELECT count(*) FROM {KEYS_TABLE} WHERE participant_id = %s", second.id
    ) == [(0,)]
    assert rows(runtime, f"SELECT participant_id FROM {REQUESTS_TABLE}") == [(first.id,)]


def test_concurrent_saves_share_commits_and_none_is_lost(runtime: Runtime) -> None:
    journeys = runtime.journeys
    recorder = journeys.recorder
    assert isinstance(recorder, LotseRecorder)
    participants = [register(journeys).participant_id for _ in range(4)]
    before = recorder.group_commit.items

    results = all_at_once(32, lambda i: log_contact(journeys, participants[i % 4]))

    assert not [r for r in results if isinstance(r, BaseException)]
    for participant_id in participants:
        versions = [e.originator_version for e in journeys.events.get(participant_id)]
        assert versions == list(range(1, 10))  # registration and 8 contacts each, no gap
    assert recorder.group_commit.items - before >= 32  # conflicts were retried, not dropped
    # The hash chain has no fork or gap where batches met.
    assert asyncio.run(run_verification(runtime.database.url, None)).ok
