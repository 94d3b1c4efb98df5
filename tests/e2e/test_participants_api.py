"""The HTTP contract, against real PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.builders.api import PROBLEM, Auth, enrolled, milestone, register, registration

# ------------------------------------------------------------------ catalogue


def test_programmes_list_their_modules(client: TestClient) -> None:
    response = client.get("/programmes")

    assert response.status_code == 200
    modules = response.json()[0]["modules"]
    assert {"code": "F4", "name": modules[3]["name"], "per_participant": True} in modules


def test_organisations_list_municipalities_and_their_providers(client: TestClient) -> None:
    organisations = client.get("/organisations").json()

    assert {
        "id": "koeln",
        "name": "Stadt Köln",
        "kind": "municipality",
        "municipality": None,
    } in organisations
    assert any(o["kind"] == "provider" and o["municipality"] == "warendorf" for o in organisations)


# --------------------------------------------------------------- registration


def test_registration_returns_id_version_and_location(client: TestClient, auth: Auth) -> None:
    response = client.post("/participants", json=registration(), headers=auth())

    assert response.status_code == 201
    body = response.json()
    assert body["version"] == 1
    assert response.headers["Location"] == f"/participants/{body['id']}"
    assert response.headers["ETag"] == '"1"'


def test_participant_state_carries_version_and_etag(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = client.get(f"/participants/{pid}", headers=auth())

    assert response.status_code == 200
    state = response.json()
    assert (state["version"], state["given_name"], state["age_at_intake"]) == (4, "Amina", 19)
    assert state["open_modules"] == [{"module": "F4", "since": "2021-03-03"}]
    assert response.headers["ETag"] == '"4"'


def test_history_lists_every_event_with_its_envelope(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    events = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]

    assert [e["type"] for e in events] == [
        "Registered",
        "EligibilityAssessed",
        "ConsentGiven",
        "ModuleEntered",
    ]
    last = events[-1]
    assert last["recorded_by"] == {"user": "caseworker-caritas-ahlen", "role": "caseworker"}
    assert (last["organisation"], last["effective_date"], last["data"]) == (
        "caritas-ahlen",
        "2021-03-03",
        {"module": "F4"},
    )
    assert last["recorded_at"].endswith(("Z", "+00:00"))


def test_missing_field_is_422_naming_it(client: TestClient, auth: Auth) -> None:
    body = registration()
    del body["birth_date"]

    response = client.post("/participants", json=body, headers=auth())

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == "birth_date"


def test_unknown_field_is_422_not_silently_dropped(client: TestClient, auth: Auth) -> None:
    response = client.post("/participants", json=registration(nickname="A"), headers=auth())

    assert response.status_code == 422
    # The unknown key is submitted data (it could be a name): named by its place only.
    assert response.json()["field"] == "body"
    assert "not accepted" in response.json()["detail"]
    assert "nickname" not in response.text


def test_error_bodies_never_echo_personal_data(client: TestClient, auth: Auth) -> None:
    response = client.post(
        "/participants", json=registration(birth_date="Canary-Zebra"), headers=auth()
    )

    assert response.status_code == 422
    assert "Canary-Zebra" not in response.text


def test_future_birth_date_is_422(client: TestClient, auth: Auth) -> None:
    tomorrow = (date.today() + timedelta(days=2)).isoformat()

    response = client.post("/participants", json=registration(birth_date=tomorrow), headers=auth())

    assert response.status_code == 422
    assert response.json()["field"] == "birth_date"


def test_age_outside_the_rule_without_justification_is_409(client: TestClient, auth: Auth) -> None:
    response = client.post(
        "/participants", json=registration(birth_date="1985-01-01"), headers=auth()
    )

    assert response.status_code == 409
    assert response.json()["rule"] == "age-exception-required"


def test_unknown_provider_is_422(client: TestClient, auth: Auth) -> None:
    response = client.post("/participants", json=registration(provider="nowhere"), headers=auth())

    assert response.status_code == 422
    assert response.json()["field"] == "provider"


def test_caseworker_cannot_register_for_another_provider(client: TestClient, auth: Auth) -> None:
    response = client.post(
        "/participants", json=registration(provider="vhs-warendorf"), headers=auth()
    )

    assert response.status_code == 403


def test_nothing_is_written_when_a_request_fails(
    client: TestClient, auth: Auth, runtime: Any
) -> None:
    client.post("/participants", json=registration(birth_date="1985-01-01"), headers=auth())

    assert runtime.journeys.recorder.max_notification_id() in (None, 0)


# ------------------------------------------------------------------ milestones


def test_milestone_returns_the_new_version(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "CourseAttendanceRecorded",
            "effective_date": "2021-03-10",
            "module": "F4",
            "lesson_hours": 6,
        },
    )

    assert response.status_code == 201
    assert response.json()["version"] == 5
    assert response.headers["ETag"] == '"5"'


def test_module_entry_without_eligibility_is_409_naming_the_rule(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)

    response = milestone(
        client, auth, pid, {"type": "ModuleEntered", "effective_date": "2021-03-03", "module": "F1"}
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["rule"] == "not-eligible"


def test_unknown_module_is_422(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = milestone(
        client, auth, pid, {"type": "ModuleEntered", "effective_date": "2021-03-03", "module": "F9"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "module"


def test_unknown_milestone_type_is_422(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = milestone(client, auth, pid, {"type": "Teleported", "effective_date": "2021-03-03"})

    assert response.status_code == 422
    assert response.json()["field"] == "type"


def test_effective_date_before_intake_is_409(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {"type": "LanguageLevelAssessed", "effective_date": "2020-01-01", "level": "A2"},
    )

    assert response.status_code == 409
    assert response.json()["field"] == "effective_date"


def test_malformed_date_is_422(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {"type": "LanguageLevelAssessed", "effective_date": "31.12.2021", "level": "A2"},
    )

    assert response.status_code == 422
    assert response.json()["field"] == "effective_date"


def test_every_contract_milestone_type_is_accepted(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)
    steps = [
        {"type": "LanguageLevelAssessed", "level": "A2"},
        {"type": "CoachingContactLogged", "minutes": 45, "mode": "phone"},
        {"type": "CourseAttendanceRecorded", "module": "F4", "lesson_hours": 4},
        {"type": "LanguageCourseStarted", "course_type": "jugendintegrationskurs"},
        {
            "type": "LanguageCourseCompleted",
            "course_type": "jugendintegrationskurs",
            "achieved_level": "B1",
        },
        {"type": "CertificateObtained", "certificate": "hauptschulabschluss_9"},
        {"type": "InternshipStarted", "occupation": "Koch"},
        {"type": "InternshipEnded", "reason": "completed"},
        {"type": "EntryQualificationStarted", "occupation": "Koch"},
        {"type": "EntryQualificationEnded", "reason": "completed"},
        {"type": "ApprenticeshipStarted", "occupation": "Koch"},
        {
            "type": "ResidenceStatusChanged",
            "status": "ausbildungsduldung_60c",
            "valid_until": "2024-08-31",
        },
        {"type": "ApprenticeshipAborted", "reason": "aborted_employer"},
        {"type": "EmploymentStarted", "employment_type": "geringfuegig", "hours_per_week": 8},
        {"type": "EmploymentEnded", "reason": "other"},
        {"type": "ModuleExited", "module": "F4", "reason": "completed"},
        {"type": "ApprenticeshipStarted", "occupation": "Elektroniker"},
        {"type": "ApprenticeshipCompleted"},
        {"type": "Exited", "reason": "completed", "destination": "employment_svp"},
        {"type": "FollowUpRecorded", "destination": "employment_svp", "months_after_exit": 6},
        {
            "type": "EntryCorrected",
            "corrects_version": 5,
            "reason": "Stufe falsch",
            "changes": {"level": "B1"},
        },
        {"type": "ConsentWithdrawn"},
    ]
    for day, step in enumerate(steps, start=10):
        body = {"effective_date": (date(2021, 3, 1) + timedelta(days=day * 3)).isoformat(), **step}
        response = milestone(client, auth, pid, body)
        assert response.status_code == 201, (step["type"], response.text)

    state = client.get(f"/participants/{pid}", headers=auth()).json()
    assert (state["status"], state["language_level"], state["corrections"]) == ("exited", "B1", 1)


def test_transfer_hands_the_participant_to_the_new_provider(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "CaseTransferred",
            "effective_date": "2021-04-01",
            "to_provider": "awo-duesseldorf",
        },
    )

    assert response.status_code == 201
    assert client.get(f"/participants/{pid}", headers=auth()).status_code == 404
    new = auth(org="awo-duesseldorf")
    assert client.get(f"/participants/{pid}", headers=new).json()["municipality"] == "duesseldorf"


def test_correction_keeps_both_entries_and_applies_the_new_value(
    client: TestClient, auth: Auth
) -> None:
    pid = enrolled(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "EntryCorrected",
            "effective_date": "2021-03-05",
            "corrects_version": 4,
            "reason": "falscher Baustein",
            "changes": {"module": "F1"},
        },
    )

    assert response.status_code == 201
    events = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert events[3]["data"] == {"module": "F4"}
    assert events[4]["data"]["changes"] == {"module": "F1"}
    assert (
        client.get(f"/participants/{pid}", headers=auth()).json()["open_modules"][0]["module"]
        == "F1"
    )


def test_correction_with_invalid_value_names_the_changed_field(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "EntryCorrected",
            "effective_date": "2021-03-05",
            "corrects_version": 1,
            "reason": "x",
            "changes": {"birth_date": "soon"},
        },
    )

    assert response.status_code == 422
    assert response.json()["field"] == "changes.birth_date"


def test_correction_of_unknown_version_is_409(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "EntryCorrected",
            "effective_date": "2021-03-05",
            "corrects_version": 9,
            "reason": "x",
            "changes": {"gender": "male"},
        },
    )

    assert response.status_code == 409
    assert response.json()["field"] == "corrects_version"


# ----------------------------------------------------------- concurrency control


def test_stale_if_match_is_412(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)
    body = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"}

    assert milestone(client, auth, pid, body, **{"If-Match": '"1"'}).status_code == 201
    response = milestone(client, auth, pid, body, **{"If-Match": '"1"'})

    assert response.status_code == 412
    assert response.headers["content-type"] == PROBLEM


def test_malformed_if_match_is_422(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"},
        **{"If-Match": "seven"},
    )

    assert response.status_code == 422
    assert response.json()["field"] == "If-Match"


def test_same_idempotency_key_and_body_returns_the_original_and_writes_nothing(
    client: TestClient, auth: Auth, runtime: Any
) -> None:
    headers = {**auth(), "Idempotency-Key": "intake-4711"}
    first = client.post("/participants", json=registration(), headers=headers)
    head = runtime.journeys.recorder.max_notification_id()

    second = client.post("/participants", json=registration(), headers=headers)

    assert second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"]
    assert runtime.journeys.recorder.max_notification_id() == head


def test_same_idempotency_key_with_another_body_is_422(client: TestClient, auth: Auth) -> None:
    headers = {**auth(), "Idempotency-Key": "intake-4712"}
    client.post("/participants", json=registration(), headers=headers)

    response = client.post("/participants", json=registration(given_name="Other"), headers=headers)

    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


def test_idempotent_milestone_retry_is_not_recorded_twice(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)
    body = {
        "type": "CoachingContactLogged",
        "effective_date": "2021-03-05",
        "minutes": 30,
        "mode": "phone",
    }

    first = milestone(client, auth, pid, body, **{"Idempotency-Key": "contact-1"})
    second = milestone(client, auth, pid, body, **{"Idempotency-Key": "contact-1"})

    assert first.json() == second.json()
    assert client.get(f"/participants/{pid}", headers=auth()).json()["coaching_contacts"] == 1


# --------------------------------------------------------------------- identity


def test_missing_token_is_401(client: TestClient) -> None:
    response = client.post("/participants", json=registration())

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_forged_token_is_401(client: TestClient) -> None:
    response = client.get(
        "/participants/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": "Bearer abc.def.ghi"},
    )

    assert response.status_code == 401


def test_unknown_participant_is_404(client: TestClient, auth: Auth) -> None:
    response = client.get("/participants/00000000-0000-4000-8000-000000000000", headers=auth())

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_participant_of_another_provider_looks_unknown(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)
    other = auth(org="vhs-warendorf")

    assert client.get(f"/participants/{pid}", headers=other).status_code == 404
    assert client.get(f"/participants/{pid}/history", headers=other).status_code == 404
    body = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"}
    assert (
        client.post(f"/participants/{pid}/milestones", json=body, headers=other).status_code == 404
    )


def test_coordinator_reads_own_municipality_only(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    assert (
        client.get(f"/participants/{pid}", headers=auth("coordinator", "warendorf")).status_code
        == 200
    )
    assert (
        client.get(f"/participants/{pid}", headers=auth("coordinator", "koeln")).status_code == 404
    )


def test_coordinator_may_not_record_milestones(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)
    body = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"}

    response = client.post(
        f"/participants/{pid}/milestones", json=body, headers=auth("coordinator", "warendorf")
    )

    assert response.status_code == 403


def test_funder_gets_no_personal_data(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    assert client.get(f"/participants/{pid}", headers=auth("funder", "*")).status_code == 403
    assert (
        client.get(f"/participants/{pid}/history", headers=auth("funder", "*")).status_code == 403
    )


def test_auditor_reads_in_scope_and_writes_nothing(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)
    auditor = auth("auditor", "warendorf")

    assert client.get(f"/participants/{pid}/history", headers=auditor).status_code == 200
    assert client.get(f"/participants/{pid}", headers=auth("auditor", "koeln")).status_code == 404
    body = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"}
    assert (
        client.post(f"/participants/{pid}/milestones", json=body, headers=auditor).status_code
        == 403
    )
    assert client.post("/participants", json=registration(), headers=auditor).status_code == 403


# ----------------------------------------------------------------------- openapi


def test_every_route_has_a_description(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("description") or operation.get("summary"), (method, path)
    assert client.get("/docs").status_code == 200
