"""Auditors over HTTP: time travel, read-access log, verification; auditors cannot write."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.storage.checkpoints import new_signing_key_text
from tests.builders.api import Auth, into_module, register, registration

PROBLEM = "application/problem+json"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, audit_signing_key=new_signing_key_text())


def milestone(client: TestClient, auth: Auth, pid: str, body: dict[str, Any]) -> None:
    response = client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
    assert response.status_code == 201, response.text


def enrolled(client: TestClient, auth: Auth) -> str:
    pid = register(client, auth)
    for body in into_module(entered="2021-03-10"):
        milestone(client, auth, pid, body)
    return pid


def access_log(runtime: Runtime, pid: str) -> list[dict[str, Any]]:
    assert runtime.access_log is not None
    from uuid import UUID

    return runtime.access_log.entries_for(UUID(pid))


# ---------------------------------------------------------------- time travel


def test_state_known_at_leaves_out_what_was_recorded_later(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)
    before_late_entry = datetime.now(UTC)
    time.sleep(0.01)
    milestone(
        client,
        auth,
        pid,
        {
            "type": "CoachingContactLogged",
            "effective_date": "2021-03-15",
            "minutes": 45,
            "mode": "phone",
        },
    )

    then = client.get(
        f"/participants/{pid}/state",
        params={"as_of": "2021-03-31", "known_at": before_late_entry.isoformat()},
        headers=auth(),
    )
    now = client.get(f"/participants/{pid}/state", params={"as_of": "2021-03-31"}, headers=auth())

    assert then.status_code == 200, then.text
    assert then.json()["coaching_contacts"] == 0
    assert then.json()["counted_versions"] == [1, 2, 3, 4]
    assert now.json()["coaching_contacts"] == 1
    assert now.json()["open_modules"] == [{"module": "F4", "since": "2021-03-10"}]


def test_state_as_of_before_module_entry_shows_no_module(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = client.get(
        f"/participants/{pid}/state", params={"as_of": "2021-03-05"}, headers=auth()
    )

    assert response.json()["open_modules"] == []
    assert response.json()["eligible"] is True


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_of": "2021-13-01"}, "as_of"),
        ({"known_at": "yesterday"}, "known_at"),
        ({"known_at": "2021-05-01T12:00:00"}, "known_at"),
    ],
)
def test_invalid_time_travel_parameters_are_named(
    client: TestClient, auth: Auth, params: dict[str, str], field: str
) -> None:
    pid = register(client, auth)

    response = client.get(f"/participants/{pid}/state", params=params, headers=auth())

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == field


def test_state_before_registration_is_not_found_and_no_refusal(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    pid = register(client, auth)

    response = client.get(
        f"/participants/{pid}/state", params={"as_of": "2020-01-01"}, headers=auth()
    )

    assert response.status_code == 404
    assert response.json()["rule"] == "not-yet-registered"
    assert access_log(runtime, pid) == []


def test_history_links_corrections_to_the_entries_they_correct(
    client: TestClient, auth: Auth
) -> None:
    pid = enrolled(client, auth)
    milestone(
        client,
        auth,
        pid,
        {
            "type": "EntryCorrected",
            "effective_date": "2021-04-01",
            "corrects_version": 4,
            "reason": "wrong date",
            "changes": {"effective_date": "2021-03-20"},
        },
    )

    full = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    early = client.get(
        f"/participants/{pid}/history", params={"as_of": "2021-03-15"}, headers=auth()
    ).json()["events"]

    assert full[3]["corrected_by"] == [5]
    assert full[4]["corrects_version"] == 4
    assert [e["version"] for e in early] == [1, 2, 3]


def test_history_known_at_shows_only_what_was_recorded_by_then(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)
    recorded = datetime.now(UTC)
    time.sleep(0.01)
    milestone(
        client,
        auth,
        pid,
        {"type": "ConsentGiven", "effective_date": "2021-03-02", "consent_version": "2020-01"},
    )

    response = client.get(
        f"/participants/{pid}/history", params={"known_at": recorded.isoformat()}, headers=auth()
    )

    assert [e["type"] for e in response.json()["events"]] == ["Registered"]


# ----------------------------------------------------------- read-access log


@pytest.mark.parametrize(
    "path",
    ["", "/history", "/state", "/state?as_of=2021-03-31", "/history?known_at=2030-01-01T00:00Z"],
)
def test_every_personal_data_read_writes_exactly_one_access_log_entry(
    client: TestClient, auth: Auth, runtime: Runtime, path: str
) -> None:
    pid = register(client, auth)
    other = register(client, auth)

    response = client.get(
        f"/participants/{pid}{path}", headers={**auth(), "X-Purpose": "Verwendungsnachweis 2021"}
    )

    assert response.status_code == 200, response.text
    entries = access_log(runtime, pid)
    assert len(entries) == 1
    assert entries[0]["user_id"] == "caseworker-caritas-ahlen"
    assert entries[0]["purpose"] == "Verwendungsnachweis 2021"
    assert entries[0]["outcome"] == 200
    assert entries[0]["endpoint"].startswith("GET /participants/{participant_id}")
    assert access_log(runtime, other) == []


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer forged"}, 401),
        ("funder", 403),
        ("other-provider", 404),
    ],
)
def test_refused_reads_are_logged_with_their_outcome(
    client: TestClient, auth: Auth, runtime: Runtime, headers: Any, status: int
) -> None:
    pid = register(client, auth)
    if headers == "funder":
        headers = auth("funder", "*")
    elif headers == "other-provider":
        headers = auth("caseworker", "diakonie-duesseldorf")

    response = client.get(f"/participants/{pid}/history", headers=headers)

    assert response.status_code == status
    entries = access_log(runtime, pid)
    assert [e["outcome"] for e in entries] == [status]


def test_coordinator_reads_who_saw_the_participant(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    pid = register(client, auth)
    client.get(f"/participants/{pid}", headers=auth("auditor", "*", user="pruefer-1"))

    response = client.get(
        f"/participants/{pid}/access-log", headers=auth("coordinator", "warendorf")
    )

    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert [(e["user_id"], e["role"], e["outcome"]) for e in entries] == [
        ("pruefer-1", "auditor", 200)
    ]


@pytest.mark.parametrize(
    ("role", "org", "status"),
    [("caseworker", "caritas-ahlen", 403), ("coordinator", "koeln", 404)],
)
def test_access_log_is_for_the_own_coordinator_and_admins_only(
    client: TestClient, auth: Auth, role: str, org: str, status: int
) -> None:
    pid = register(client, auth)

    response = client.get(f"/participants/{pid}/access-log", headers=auth(role, org))

    assert response.status_code == status


def test_access_log_chain_verifies(client: TestClient, auth: Auth, runtime: Runtime) -> None:
    pid = register(client, auth)
    for _ in range(3):
        client.get(f"/participants/{pid}", headers=auth())
    assert runtime.access_log is not None

    verified, broken_at = runtime.access_log.verify()

    assert (verified, broken_at) == (3, None)


# ------------------------------------------------------------------- auditors


def test_auditor_in_scope_reads_history_and_time_travel(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)
    auditor = auth("auditor", "warendorf")

    history = client.get(f"/participants/{pid}/history", headers=auditor)
    state = client.get(f"/participants/{pid}/state?as_of=2021-03-01", headers=auditor)

    assert (history.status_code, state.status_code) == (200, 200)


def test_auditor_out_of_scope_sees_nothing(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = client.get(f"/participants/{pid}/history", headers=auth("auditor", "koeln"))

    assert response.status_code == 404


WRITES: list[tuple[str, dict[str, Any]]] = [
    ("", registration()),
    (
        "/{pid}/milestones",
        {"type": "ConsentGiven", "effective_date": "2021-03-02", "consent_version": "2020-01"},
    ),
    (
        "/{pid}/milestones",
        {
            "type": "EntryCorrected",
            "effective_date": "2021-03-02",
            "corrects_version": 1,
            "reason": "typo",
            "changes": {"given_name": "Amira"},
        },
    ),
    ("/{pid}/erasure", {"mode": "shred", "reason": "participant_request"}),
    ("/{pid}/erasure", {"mode": "restrict", "reason": "participant_request"}),
]


@pytest.mark.parametrize("scope", ["*", "warendorf"])
@pytest.mark.parametrize(("path", "body"), WRITES)
def test_auditor_writes_are_refused(
    client: TestClient, auth: Auth, scope: str, path: str, body: dict[str, Any]
) -> None:
    pid = register(client, auth)

    response = client.post(
        "/participants" + path.format(pid=pid), json=body, headers=auth("auditor", scope)
    )

    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert len(history) == 1


def test_auditor_verifies_a_clean_log(client: TestClient, auth: Auth) -> None:
    register(client, auth)
    register(client, auth)

    response = client.get("/audit/verify", headers=auth("auditor", "*"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["ok"], body["verified"], body["first_problem"]) == (True, 2, None)


def test_verification_is_for_auditors_and_admins(client: TestClient, auth: Auth) -> None:
    response = client.get("/audit/verify", headers=auth("coordinator", "warendorf"))

    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM


def test_checkpoints_and_public_key_are_published_to_auditors(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    from lotse.storage.checkpoints import load_public_key

    register(client, auth)
    assert runtime.checkpoints is not None
    checkpoint = runtime.checkpoints.create()

    key = client.get("/audit/public-key", headers=auth("auditor", "*")).json()
    listed = client.get("/audit/checkpoints", headers=auth("auditor", "*")).json()

    assert [c["position"] for c in listed] == [checkpoint.position] == [1]
    assert checkpoint.signature_holds(load_public_key(key["public_key"]))


def test_the_newest_checkpoint_is_published_for_witnesses_with_what_it_covers(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    from lotse.storage.checkpoints import Checkpoint, load_public_key

    none_yet = client.get("/audit/checkpoints/newest", headers=auth("auditor", "*"))
    register(client, auth)
    assert runtime.checkpoints is not None
    runtime.checkpoints.create()
    signed = runtime.checkpoints.create()

    newest = client.get("/audit/checkpoints/newest", headers=auth("auditor", "*"))
    refused = client.get("/audit/checkpoints/newest", headers=auth("funder", "*"))

    assert none_yet.status_code == 404
    assert refused.status_code == 403
    body = newest.json()
    assert (body["id"], body["position"], body["keys_count"]) == (signed.id, 1, 1)
    key = client.get("/audit/public-key", headers=auth("auditor", "*")).json()["public_key"]
    assert Checkpoint.from_json(body).signature_holds(load_public_key(key))
