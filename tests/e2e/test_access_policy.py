"""The findings of the hostile test against the access policy, one test each."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.builders.api import Auth, into_module, register, registration

ADMIN = ("admin", "lotse-operations")
COACHING = {
    "type": "CoachingContactLogged",
    "effective_date": "2021-04-01",
    "minutes": 30,
    "mode": "phone",
}


def restrict(client: TestClient, auth: Auth, pid: str) -> None:
    response = client.post(
        f"/participants/{pid}/erasure",
        json={"mode": "restrict", "reason": "participant_request"},
        headers=auth("coordinator", "warendorf"),
    )
    assert response.status_code == 200, response.text


def caught_up(client: TestClient, auth: Auth, pid: str) -> None:
    """Read your writes: wait until the read models hold the participant's last event."""
    response = client.post(f"/participants/{pid}/milestones", json=COACHING, headers=auth())
    if response.status_code != 201:  # restricted: write through another participant
        response = client.post(
            f"/participants/{register(client, auth)}/milestones", json=COACHING, headers=auth()
        )
    position = response.json()["position"]
    for path in ("/participants", f"/participants/{pid}/timeline"):
        client.get(path, params={"min_position": position}, headers=auth(*ADMIN))


def run_id(client: TestClient, auth: Auth, kind: str, **scope: str) -> str:
    response = client.get(
        f"/reports/{kind}", params={"period": "2021", **scope}, headers=auth(*ADMIN)
    )
    assert response.status_code == 200, response.text
    return response.headers["X-Report-Run"]


# ------------------------------------------------------------- report runs


def test_a_case_worker_cannot_read_a_statewide_evidence_run(client: TestClient, auth: Auth) -> None:
    register(client, auth)
    response = client.post(
        "/participants",
        json=registration(provider="diakonie-duesseldorf"),
        headers=auth("caseworker", "diakonie-duesseldorf"),
    )
    assert response.status_code == 201
    run = run_id(client, auth, "financial")

    response = client.get(f"/reports/runs/{run}", headers=auth())
    changes = client.get(f"/reports/runs/{run}/changes", headers=auth())

    assert response.status_code == 404
    assert changes.status_code == 404


def test_a_coordinator_reads_runs_of_the_own_municipality_only(
    client: TestClient, auth: Auth
) -> None:
    own = run_id(client, auth, "monitoring", municipality="warendorf")
    own_provider = run_id(client, auth, "monitoring", provider="vhs-warendorf")
    statewide = run_id(client, auth, "monitoring")
    other = run_id(client, auth, "monitoring", municipality="koeln")
    coordinator = auth("coordinator", "warendorf")

    statuses = [
        client.get(f"/reports/runs/{run}", headers=coordinator).status_code
        for run in (own, own_provider, statewide, other)
    ]

    assert statuses == [200, 200, 404, 404]


def test_changes_of_a_run_withhold_participants_who_left_the_callers_scope(
    client: TestClient, auth: Auth
) -> None:
    # A participant of caritas-ahlen in F4, in an unsuppressed run of that provider.
    pid = register(client, auth)
    for body in into_module():
        response = client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
        assert response.status_code == 201, response.text
    caught_up(client, auth, pid)
    response = client.get(
        "/reports/monitoring",
        params={"period": "2021", "unsuppressed": "true"},
        headers=auth(),
    )
    run = response.headers["X-Report-Run"]
    # Late: the module is left, then the participant moves to the other provider.
    for body in (
        {"type": "ModuleExited", "effective_date": "2021-05-01", "module": "F4",
         "reason": "completed"},
        {"type": "CaseTransferred", "effective_date": "2021-05-02",
         "to_provider": "vhs-warendorf"},
    ):  # fmt: skip
        response = client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
        assert response.status_code == 201, response.text
    client.get(
        "/reports/monitoring",
        params={"period": "2021", "min_position": response.json()["position"]},
        headers=auth(),
    )

    mine = client.get(f"/reports/runs/{run}/changes", headers=auth()).json()
    coordinators = client.get(
        f"/reports/runs/{run}/changes", headers=auth("coordinator", "warendorf")
    ).json()

    assert mine["events"], "the late exit changes the run's figures"
    assert {e["participant_id"] for e in mine["events"]} == {None}
    assert all("cells" not in e for e in mine["events"])
    assert {e["participant_id"] for e in coordinators["events"]} == {pid}


# ----------------------------------------------------- restricted participants


def test_a_restricted_participants_timeline_is_for_auditors_only(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)
    restrict(client, auth, pid)
    caught_up(client, auth, pid)

    case_worker = client.get(f"/participants/{pid}/timeline", headers=auth())
    coordinator = client.get(
        f"/participants/{pid}/timeline", headers=auth("coordinator", "warendorf")
    )
    auditor = client.get(f"/participants/{pid}/timeline", headers=auth("auditor", "warendorf"))

    assert case_worker.status_code == 403
    assert case_worker.json()["rule"] == "processing-restricted"
    assert coordinator.status_code == 403
    assert auditor.status_code == 200


def test_a_restricted_participant_is_not_found_by_name_except_by_auditors(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth, given_name="Zoraida", family_name="Quennell")
    restrict(client, auth, pid)
    caught_up(client, auth, pid)

    def found(*token: str) -> list[str]:
        response = client.get("/participants", params={"q": "Quennell"}, headers=auth(*token))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert found() == []
    assert found("coordinator", "warendorf") == []
    assert found(*ADMIN) == []
    assert found("auditor", "warendorf") == [pid]


# ------------------------------------------------------------ idempotency


def test_the_same_user_id_at_another_provider_gets_no_replay(
    client: TestClient, auth: Auth
) -> None:
    key = {"Idempotency-Key": "intake-2021-0001"}
    first = client.post(
        "/participants",
        json=registration(),
        headers={**auth("caseworker", "caritas-ahlen", user="m.schulz"), **key},
    )
    assert first.status_code == 201

    same_body = client.post(
        "/participants",
        json=registration(),
        headers={**auth("caseworker", "diakonie-duesseldorf", user="m.schulz"), **key},
    )
    other = client.post(
        "/participants",
        json=registration(provider="diakonie-duesseldorf"),
        headers={**auth("caseworker", "diakonie-duesseldorf", user="m.schulz"), **key},
    )

    assert same_body.status_code == 403  # its own decision, not caritas-ahlen's answer
    assert first.json()["id"] not in same_body.text
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert other.json()["id"] != first.json()["id"]


def test_the_same_user_id_in_another_role_gets_no_replay(client: TestClient, auth: Auth) -> None:
    key = {"Idempotency-Key": "intake-2021-0002"}
    first = client.post(
        "/participants",
        json=registration(),
        headers={**auth("caseworker", "caritas-ahlen", user="m.schulz"), **key},
    )

    again = client.post(
        "/participants",
        json=registration(),
        headers={**auth("admin", "lotse-operations", user="m.schulz"), **key},
    )
    retry = client.post(
        "/participants",
        json=registration(),
        headers={**auth("caseworker", "caritas-ahlen", user="m.schulz"), **key},
    )

    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json()["id"] == first.json()["id"]


# -------------------------------------------------- 403 before any input check


def test_coordinators_and_auditors_sending_a_correction_get_403(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)
    correction = {
        "type": "EntryCorrected",
        "effective_date": "2021-03-05",
        "corrects_version": 99,
        "reason": "typo",
        "changes": {"no_such_field": 1},
    }

    statuses = [
        client.post(
            f"/participants/{pid}/milestones", json=correction, headers=auth(*token)
        ).status_code
        for token in (("coordinator", "warendorf"), ("auditor", "warendorf"), ("auditor", "*"))
    ]

    assert statuses == [403, 403, 403]


def test_a_role_that_may_not_write_gets_403_for_a_malformed_body(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)
    auditor = auth("auditor", "warendorf")
    invalid = {"type": "CoachingContactLogged", "minutes": "many"}

    schema_error = client.post(f"/participants/{pid}/milestones", json=invalid, headers=auditor)
    not_json = client.post(
        f"/participants/{pid}/milestones",
        content=b'{"type": ',
        headers={**auditor, "Content-Type": "application/json"},
    )
    registration_error = client.post(
        "/participants", json={"given_name": 7}, headers=auth("funder", "bezirksregierung-arnsberg")
    )
    erasure_error = client.post(
        "/participants/not-a-uuid/erasure", json={"mode": "burn"}, headers=auth()
    )

    assert schema_error.status_code == 403
    assert not_json.status_code == 403
    assert not_json.headers["content-type"] == "application/problem+json"
    assert registration_error.status_code == 403
    assert erasure_error.status_code == 403


def test_a_caller_without_a_token_gets_401_for_a_malformed_body(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)

    not_json = client.post(
        f"/participants/{pid}/milestones",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    invalid = client.post(f"/participants/{pid}/milestones", json={"type": "Nonsense"})

    assert not_json.status_code == 401
    assert not_json.headers["WWW-Authenticate"] == "Bearer"
    assert invalid.status_code == 401


def test_a_funder_gets_403_before_the_query_is_checked(client: TestClient, auth: Auth) -> None:
    funder = auth("funder", "bezirksregierung-arnsberg")

    listing = client.get("/participants", params={"limit": "lots"}, headers=funder)
    verify = client.get("/audit/verify", params={"from_checkpoint": "x"}, headers=funder)

    assert listing.status_code == 403
    assert verify.status_code == 403


def test_a_writer_still_gets_422_naming_the_field(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = client.post(
        f"/participants/{pid}/milestones",
        json={**COACHING, "minutes": "many"},
        headers=auth(),
    )

    assert response.status_code == 422
    assert response.json()["field"] == "minutes"


def test_teilhabemanagement_records_f6_in_its_municipality_and_finds_nobody_elsewhere(
    client: TestClient, auth: Auth
) -> None:
    tm = auth("teilhabemanager", "warendorf")
    own = register(client, auth)  # caritas-ahlen, in Warendorf
    elsewhere = register(client, lambda: auth(org="caritas-koeln"), provider="caritas-koeln")
    eligibility, consent, f6 = into_module("F6")
    for body in (eligibility, consent):
        assert client.post(f"/participants/{own}/milestones", json=body, headers=auth()).is_success

    entered = client.post(f"/participants/{own}/milestones", json=f6, headers=tm)
    f4 = client.post(f"/participants/{own}/milestones", json={**f6, "module": "F4"}, headers=tm)
    other_read = client.get(f"/participants/{elsewhere}", headers=tm)
    other_write = client.post(f"/participants/{elsewhere}/milestones", json=f6, headers=tm)

    assert entered.status_code == 201, entered.text
    assert (f4.status_code, f4.json()["rule"]) == (403, "teilhabemanagement-only")
    # Another municipality's participant is as unknown as an id that does not exist.
    assert other_read.status_code == other_write.status_code == 404
    history = client.get(
        f"/participants/{elsewhere}/history", headers=auth(org="caritas-koeln")
    ).json()
    assert [e["type"] for e in history["events"]] == ["Registered"]
