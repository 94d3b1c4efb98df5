"""Caseload lists, name search, timelines and health, served from the read models."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.builders.api import Auth, into_module, registration


def register(client: TestClient, auth: Auth, provider: str, **overrides: Any) -> tuple[str, int]:
    headers = auth(org=provider)
    response = client.post(
        "/participants", json=registration(provider=provider, **overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], body["position"]


def listing(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/participants", params=params, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_write_is_visible_in_the_list_with_min_position(client: TestClient, auth: Auth) -> None:
    pid, position = register(client, auth, "caritas-ahlen")

    page = listing(client, auth(), min_position=position)

    assert [item["id"] for item in page["items"]] == [pid]
    assert page["items"][0]["given_name"] == "Amina"
    assert page["position"] >= position


def test_min_position_beyond_the_log_is_422(client: TestClient, auth: Auth) -> None:
    response = client.get("/participants", params={"min_position": 10**9}, headers=auth())

    assert response.status_code == 422
    assert response.json()["field"] == "min_position"


def test_caseworker_never_sees_another_providers_participants(
    client: TestClient, auth: Auth
) -> None:
    mine, _ = register(client, auth, "caritas-ahlen", family_name="Eigen")
    theirs, position = register(client, auth, "vhs-warendorf", family_name="Fremd")
    headers = auth(org="caritas-ahlen")

    everything = listing(client, headers, min_position=position)
    asked_for_theirs = listing(client, headers, provider="vhs-warendorf")
    searched = listing(client, headers, q="Fremd")
    timeline = client.get(f"/participants/{theirs}/timeline", headers=headers)

    assert [i["id"] for i in everything["items"]] == [mine]
    assert asked_for_theirs["items"] == []
    assert searched["items"] == []
    assert timeline.status_code == 404


def test_coordinator_sees_the_whole_municipality_and_nothing_else(
    client: TestClient, auth: Auth
) -> None:
    a, _ = register(client, auth, "caritas-ahlen")
    b, _ = register(client, auth, "vhs-warendorf")
    _, position = register(client, auth, "caritas-koeln")

    page = listing(client, auth("coordinator", "warendorf"), min_position=position)

    assert sorted(i["id"] for i in page["items"]) == sorted([a, b])


def test_funder_gets_no_personal_lists(client: TestClient, auth: Auth) -> None:
    response = client.get("/participants", headers=auth("funder", "*"))

    assert response.status_code == 403


def test_name_search_finds_by_word_prefix_without_storing_names(
    client: TestClient, auth: Auth
) -> None:
    wanted, _ = register(
        client, auth, "caritas-ahlen", given_name="Mariam", family_name="Tesfay-Özdemir"
    )
    _, position = register(client, auth, "caritas-ahlen", given_name="Yusuf", family_name="Karimi")

    by_prefix = listing(client, auth(), q="tesf", min_position=position)
    by_accentless = listing(client, auth(), q="ozdemir")
    by_both = listing(client, auth(), q="mariam tesfay")

    assert [i["id"] for i in by_prefix["items"]] == [wanted]
    assert [i["id"] for i in by_accentless["items"]] == [wanted]
    assert [i["id"] for i in by_both["items"]] == [wanted]


def test_cursor_pages_through_everything_once(client: TestClient, auth: Auth) -> None:
    created = set()
    position = 0
    for day in range(1, 8):
        pid, position = register(client, auth, "caritas-ahlen", intake_date=f"2021-03-{day:02d}")
        created.add(pid)

    seen: list[str] = []
    page = listing(client, auth(), limit=3, min_position=position)
    while True:
        seen.extend(i["id"] for i in page["items"])
        if page["next_cursor"] is None:
            break
        page = listing(client, auth(), limit=3, cursor=page["next_cursor"])

    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))


def test_garbage_cursor_is_422(client: TestClient, auth: Auth) -> None:
    response = client.get("/participants", params={"cursor": "not-a-cursor"}, headers=auth())

    assert response.status_code == 422
    assert response.json()["field"] == "cursor"


def test_filters_by_status_and_module(client: TestClient, auth: Auth) -> None:
    pid, _ = register(client, auth, "caritas-ahlen")
    other, _ = register(client, auth, "caritas-ahlen", given_name="Ohne")
    for body in into_module():
        response = client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
        assert response.status_code == 201
    position = response.json()["position"]

    in_f4 = listing(client, auth(), module="F4", min_position=position)
    exited = listing(client, auth(), status="exited")

    assert [i["id"] for i in in_f4["items"]] == [pid]
    assert in_f4["items"][0]["open_modules"] == ["F4"]
    assert exited["items"] == []
    assert other not in [i["id"] for i in in_f4["items"]]


def test_timeline_lists_every_event_with_who_and_a_summary(client: TestClient, auth: Auth) -> None:
    pid, _ = register(client, auth, "caritas-ahlen")
    body = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A2"}
    client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
    correction = {
        "type": "EntryCorrected",
        "effective_date": "2021-03-06",
        "corrects_version": 2,
        "reason": "Test falsch ausgewertet",
        "changes": {"level": "B1"},
    }
    position = client.post(
        f"/participants/{pid}/milestones", json=correction, headers=auth()
    ).json()["position"]

    response = client.get(
        f"/participants/{pid}/timeline", params={"min_position": position}, headers=auth()
    )

    entries = response.json()["entries"]
    assert [e["type"] for e in entries] == ["Registered", "LanguageLevelAssessed", "EntryCorrected"]
    assert entries[1]["corrected_by"] == [3]
    assert entries[2]["corrects_version"] == 2
    assert "Amina" not in response.text
    assert "Haidari" not in response.text
    assert entries[0]["recorded_role"] == "caseworker"


def test_health_reports_each_read_model_position_and_lag_to_an_admin(
    client: TestClient, auth: Auth
) -> None:
    _, position = register(client, auth, "caritas-ahlen")
    listing(client, auth(), min_position=position)

    health = client.get("/health", headers=auth("admin", "*")).json()

    assert health["database"] == "reachable"
    assert health["head"] == position
    names = {p["name"] for p in health["projections"]}
    assert names == {
        "participants",
        "timeline",
        "module_stays",
        "outcomes",
        "units",
        "transitions",
        "courses",
        "course_quarters",
        "referrals",
        "person_facts",
        "users",
        "worklist",
        "data_quality",
        "person_links",
    }
    assert all(p["state"] == "active" for p in health["projections"])
    assert health["parked"] == []


def test_health_says_only_ok_without_an_admin_token(client: TestClient, auth: Auth) -> None:
    _, position = register(client, auth, "caritas-ahlen")
    listing(client, auth(), min_position=position)

    anonymous = client.get("/health")
    caseworker = client.get("/health", headers=auth())
    forged = client.get("/health", headers={"Authorization": "Bearer not-a-token"})

    for response in (anonymous, caseworker, forged):
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
