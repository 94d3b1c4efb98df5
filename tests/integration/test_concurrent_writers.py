"""Concurrent writers on one participant, against real PostgreSQL.

Case workers of one provider share a caseload, and clients retry: several writes to
the same participant at the same moment are normal. None may be lost, versions must
stay contiguous, a stale If-Match must lose visibly (412), and a retried registration
must not create a second person.
"""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.domain.application import Recorded, RequestKey
from lotse.domain.errors import VersionConflictError
from tests.builders.api import Auth, registration
from tests.builders.writers import COACH, all_at_once, log_contact, register

WRITERS = 16


def participants_in_database(runtime: Runtime) -> int:
    with psycopg.connect(runtime.database.url) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT originator_id) FROM lotse_events"  # the application's table
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_concurrent_milestones_on_one_participant_are_all_recorded(runtime: Runtime) -> None:
    journeys = runtime.journeys
    participant_id = register(journeys).participant_id

    results = all_at_once(WRITERS, lambda _: log_contact(journeys, participant_id))

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    versions = sorted(r.version for r in results if isinstance(r, Recorded))
    assert versions == list(range(2, WRITERS + 2))
    history = list(journeys.history(participant_id))
    assert [e.originator_version for e in history] == list(range(1, WRITERS + 2))
    participant = journeys.participant_for_reading(COACH, participant_id)
    assert participant.coaching_contacts == WRITERS
    assert participant.coaching_minutes == 30 * WRITERS


def test_concurrent_milestones_with_the_same_expected_version_let_exactly_one_win(
    runtime: Runtime,
) -> None:
    journeys = runtime.journeys
    participant_id = register(journeys).participant_id

    results = all_at_once(2, lambda _: log_contact(journeys, participant_id, expected_version=1))

    winners = [r for r in results if isinstance(r, Recorded)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert [w.version for w in winners] == [2]
    assert len(losers) == 1
    assert isinstance(losers[0], VersionConflictError)
    assert journeys.participant_for_reading(COACH, participant_id).version == 2


def test_concurrent_milestones_with_a_stale_if_match_answer_412_to_the_loser(
    runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    participant_id = register(runtime.journeys).participant_id
    body = {
        "type": "CoachingContactLogged",
        "effective_date": "2021-06-01",
        "minutes": 30,
        "mode": "phone",
    }
    headers = {**auth(), "If-Match": '"1"'}

    responses = all_at_once(
        2,
        lambda _: client.post(
            f"/participants/{participant_id}/milestones", json=body, headers=headers
        ),
    )

    statuses = sorted(r.status_code for r in responses if not isinstance(r, BaseException))
    assert statuses == [201, 412]
    loser = next(r for r in responses if not isinstance(r, BaseException) and r.status_code == 412)
    assert loser.headers["content-type"] == "application/problem+json"
    assert loser.json()["field"] == "If-Match"


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_registrations_with_one_idempotency_key_create_one_participant(
    runtime: Runtime, attempt: int
) -> None:
    journeys = runtime.journeys
    key = RequestKey(
        scope=COACH.user, key=f"intake-{attempt}", fingerprint="same-body", operation="register"
    )

    results = all_at_once(2, lambda _: register(journeys, request_key=key))

    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    recorded = [r for r in results if isinstance(r, Recorded)]
    assert {(r.participant_id, r.version, r.position) for r in recorded} == {
        (recorded[0].participant_id, 1, recorded[0].position)
    }
    assert participants_in_database(runtime) == 1


def test_concurrent_registrations_over_http_with_one_idempotency_key_answer_alike(
    runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    headers = {**auth(), "Idempotency-Key": "intake-amina-1"}

    responses = all_at_once(
        2, lambda _: client.post("/participants", json=registration(), headers=headers)
    )

    answered = [r for r in responses if not isinstance(r, BaseException)]
    assert [r.status_code for r in answered] == [201, 201]
    assert answered[0].json() == answered[1].json()
    replayed = sorted(r.headers.get("Idempotent-Replayed", "false") for r in answered)
    assert replayed == ["false", "true"]
    assert participants_in_database(runtime) == 1
