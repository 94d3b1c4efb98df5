"""Duplicate detection over HTTP on real PostgreSQL: registration, pairs, decisions, erasure.

Caritas Ahlen and VHS Warendorf are providers in Warendorf; the Köln providers are
elsewhere. Amina Haidari is registered at Caritas Ahlen; a second record with
another romanisation (Haydari), swapped names or day and month swapped is a possible
duplicate. The case worker learns only where, the coordinator sees the pair (ids and
placement), and the admin (data protection role) sees pairs across municipalities.
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import PROBLEM, Auth, registration
from tests.builders.privacy import erase

WARENDORF = ("caritas-ahlen", "vhs-warendorf")


def koeln_provider(runtime: Runtime) -> str:
    return next(p for p, m in runtime.configuration.providers.items() if m.municipality == "koeln")


def register(client: TestClient, auth: Auth, org: str, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/participants", json=registration(provider=org, **overrides), headers=auth(org=org)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def tokens_of(database_url: str, pid: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM lotse_duplicate_tokens WHERE participant_id = %s", (pid,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def decide(client: TestClient, headers: dict[str, str], a: str, b: str, **body: Any) -> Any:
    return client.post(
        "/duplicates/decisions",
        json={"participant_a": a, "participant_b": b, "decision": "linked", **body},
        headers=headers,
    )


def test_registration_says_whether_and_where_a_possible_duplicate_exists(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    first = register(client, auth, "caritas-ahlen")
    assert (first["possible_duplicate"], first["duplicate_scope"]) == (False, None)
    other = register(client, auth, "caritas-ahlen", given_name="Fatima", birth_date="1999-02-03")
    assert other["possible_duplicate"] is False

    same_town = register(client, auth, "vhs-warendorf", given_name="Haydari", family_name="AMINA")
    assert (same_town["possible_duplicate"], same_town["duplicate_scope"]) == (
        True,
        "municipality",
    )
    # Day and month swapped (2001-05-17 has day 17: not swappable); 2001-05-07 is.
    elsewhere = koeln_provider(runtime)
    register(client, auth, "caritas-ahlen", given_name="Yusuf", birth_date="2002-04-07")
    far = register(client, auth, elsewhere, given_name="Jusuf", birth_date="2002-07-04")
    assert (far["possible_duplicate"], far["duplicate_scope"]) == (True, "elsewhere")
    # The answer names no one: only the flag and the scope beside the usual fields.
    assert set(far) == {"id", "version", "position", "possible_duplicate", "duplicate_scope"}


def test_a_case_worker_may_not_list_pairs_a_coordinator_sees_its_own_the_admin_all(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    a = register(client, auth, "caritas-ahlen")["id"]
    b = register(client, auth, "vhs-warendorf", family_name="Haydari")["id"]
    c = register(client, auth, koeln_provider(runtime), given_name="Aminah")["id"]

    refused = client.get("/duplicates", headers=auth())
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith(PROBLEM)

    own = client.get("/duplicates", headers=auth("coordinator", "warendorf")).json()["pairs"]
    assert [{p["participant_a"], p["participant_b"]} for p in own] == [{a, b}]
    assert own[0]["state"] == "open"
    assert {own[0]["provider_a"], own[0]["provider_b"]} == set(WARENDORF)
    assert client.get("/duplicates", headers=auth("coordinator", "koeln")).json()["pairs"] == []

    every = client.get("/duplicates", headers=auth("admin", "lotse-operations")).json()["pairs"]
    assert sorted(sorted((p["participant_a"], p["participant_b"])) for p in every) == sorted(
        sorted(pair) for pair in ((a, b), (a, c), (b, c))
    )


def test_a_pair_is_linked_once_a_second_decision_is_a_conflict(
    client: TestClient, auth: Auth
) -> None:
    a = register(client, auth, "caritas-ahlen")["id"]
    b = register(client, auth, "vhs-warendorf", family_name="Haydari")["id"]
    coordinator = auth("coordinator", "warendorf")

    linked = decide(client, coordinator, a, b)
    assert linked.status_code == 201, linked.text
    assert linked.json()["versions"] == {a: 2, b: 2}

    again = decide(client, coordinator, b, a, decision="dismissed", reason="different_person")
    assert again.status_code == 409
    assert again.headers["content-type"].startswith(PROBLEM)
    assert again.json()["rule"] == "duplicate-already-decided"

    pairs = client.get("/duplicates", headers=coordinator).json()["pairs"]
    assert [p["state"] for p in pairs] == ["linked"]
    assert client.get("/duplicates?state=open", headers=coordinator).json()["pairs"] == []
    # Each provider's history records the decision, without the other's name.
    history = client.get(f"/participants/{b}/history", headers=auth(org="vhs-warendorf"))
    assert history.status_code == 200, history.text
    assert "DuplicatesLinked" in history.text
    assert "Amina" not in history.text.split("DuplicatesLinked", 1)[1][:300]


def test_dismissal_needs_a_reason_code(client: TestClient, auth: Auth) -> None:
    a = register(client, auth, "caritas-ahlen")["id"]
    b = register(client, auth, "vhs-warendorf", family_name="Haydari")["id"]
    coordinator = auth("coordinator", "warendorf")

    missing = decide(client, coordinator, a, b, decision="dismissed")
    assert missing.status_code == 422
    assert missing.json()["field"] == "reason"
    free_text = decide(client, coordinator, a, b, decision="dismissed", reason="Bruder von X")
    assert free_text.status_code == 422

    dismissed = decide(client, coordinator, a, b, decision="dismissed", reason="relatives")
    assert dismissed.status_code == 201, dismissed.text
    pairs = client.get("/duplicates", headers=coordinator).json()["pairs"]
    assert [p["state"] for p in pairs] == ["dismissed"]


def test_bad_decisions_reveal_nothing(client: TestClient, auth: Auth, runtime: Runtime) -> None:
    a = register(client, auth, "caritas-ahlen")["id"]
    b = register(client, auth, "vhs-warendorf", family_name="Haydari")["id"]
    c = register(client, auth, koeln_provider(runtime), given_name="Aminah")["id"]
    d = register(client, auth, "caritas-ahlen", given_name="Fatima", birth_date="1999-02-03")["id"]
    coordinator = auth("coordinator", "warendorf")

    itself = decide(client, coordinator, a, a)
    assert itself.status_code == 422
    assert itself.json()["rule"] == "duplicate-of-itself"

    # Another municipality's participant, an unknown id and a pair that shares no
    # pseudonym all answer the same 404.
    unknown = "00000000-0000-4000-8000-000000000000"
    answers = [decide(client, coordinator, a, other) for other in (c, unknown, d)]
    assert [r.status_code for r in answers] == [404, 404, 404]
    assert len({r.json()["detail"] for r in answers}) == 1
    assert decide(client, auth("coordinator", "koeln"), a, b).status_code == 404

    assert decide(client, auth(), a, b).status_code == 403
    assert decide(client, auth("funder", "bezirksregierung-arnsberg"), a, b).status_code == 403
    # The admin decides across municipalities.
    assert decide(client, auth("admin", "lotse-operations"), a, c).status_code == 201


def test_refused_registrations_store_no_pseudonyms(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    for body in (
        registration(given_name="Ami\x00na"),
        registration(family_name="Hai\x1bdari"),
        {k: v for k, v in registration().items() if k != "birth_date"},
    ):
        response = client.post("/participants", json=body, headers=auth())
        assert response.status_code == 422
        assert response.headers["content-type"].startswith(PROBLEM)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM lotse_duplicate_tokens").fetchone()
    assert row == (0,)


def test_erasure_deletes_the_participants_pseudonyms(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    a = register(client, auth, "caritas-ahlen")["id"]
    b = register(client, auth, "vhs-warendorf", family_name="Haydari")["id"]
    assert tokens_of(database_url, a) > 0
    coordinator = auth("coordinator", "warendorf")

    erased = erase(client, coordinator, a)
    assert erased.status_code in (200, 201), erased.text

    assert tokens_of(database_url, a) == 0
    assert tokens_of(database_url, b) > 0
    assert client.get("/duplicates", headers=coordinator).json()["pairs"] == []
    # A new registration of the same person no longer finds the erased one.
    again = register(client, auth, "vhs-warendorf", given_name="Aminah")
    assert again["possible_duplicate"] is True  # b is still there
    check = client.post(f"/participants/{b}/duplicate-check", headers=auth(org="vhs-warendorf"))
    assert check.status_code == 200
    assert check.json() == {"possible_duplicate": True, "duplicate_scope": "municipality"}


def test_a_retried_registration_answers_as_the_first_duplicate_check_included(
    client: TestClient, auth: Auth
) -> None:
    register(client, auth, "caritas-ahlen")
    headers = {**auth(org="vhs-warendorf"), "Idempotency-Key": "twin-1"}
    body = registration(provider="vhs-warendorf", family_name="Haydari")

    first = client.post("/participants", json=body, headers=headers)
    retry = client.post("/participants", json=body, headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json() == first.json()
    assert first.json()["duplicate_scope"] == "municipality"
