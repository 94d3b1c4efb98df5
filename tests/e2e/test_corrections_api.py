"""Corrections, voids and re-entries through HTTP: bad input is a 409 or 422 naming the
rule or field, and nothing is written."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.builders.api import PROBLEM, Auth, enrolled, milestone, register

COORDINATOR = ("coordinator", "warendorf")


def version_of(client: TestClient, auth: Auth, pid: str) -> int:
    return int(client.get(f"/participants/{pid}", headers=auth()).json()["version"])


def void(voids_version: int, reason: str = "doppelt erfasst") -> dict[str, Any]:
    return {
        "type": "EntryVoided",
        "effective_date": "2021-06-30",
        "voids_version": voids_version,
        "reason": reason,
    }


def refused(response: Any, status: int, rule: str | None = None, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    if rule is not None:
        assert body["rule"] == rule, body
    if field is not None:
        assert body["field"] == field, body


def test_a_correction_that_makes_a_stay_end_before_it_starts_is_409_and_writes_nothing(
    client: TestClient, auth: Auth
) -> None:
    pid = enrolled(client, auth)  # F4 entered 2021-03-03, version 4
    exit_ = {"type": "ModuleExited", "effective_date": "2021-04-30", "module": "F4"}
    assert milestone(client, auth, pid, {**exit_, "reason": "completed"}).status_code == 201
    before = version_of(client, auth, pid)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "EntryCorrected",
            "effective_date": "2021-05-02",
            "corrects_version": 5,
            "reason": "Datum vertauscht",
            "changes": {"effective_date": "2021-03-01"},
        },
    )

    refused(response, 409, "date-before-module-entry", "changes")
    assert "entry 5" in response.json()["detail"]
    assert version_of(client, auth, pid) == before


def test_voiding_an_entry_of_another_provider_is_409_and_writes_nothing(
    client: TestClient, auth: Auth
) -> None:
    pid = enrolled(client, auth)
    coaching = {"type": "CoachingContactLogged", "effective_date": "2021-03-10", "minutes": 30}
    assert milestone(client, auth, pid, {**coaching, "mode": "phone"}).status_code == 201  # v5
    transfer = {"type": "CaseTransferred", "effective_date": "2021-04-01"}
    response = milestone(client, auth, pid, {**transfer, "to_provider": "vhs-warendorf"})
    assert response.status_code == 201
    vhs = auth(org="vhs-warendorf")
    before = int(client.get(f"/participants/{pid}", headers=vhs).json()["version"])

    response = client.post(f"/participants/{pid}/milestones", json=void(5), headers=vhs)

    refused(response, 409, "entry-of-another-provider", "voids_version")
    assert int(client.get(f"/participants/{pid}", headers=vhs).json()["version"]) == before
    # The coordinator of the municipality may void it.
    by_coordinator = client.post(
        f"/participants/{pid}/milestones", json=void(5), headers=auth(*COORDINATOR)
    )
    assert by_coordinator.status_code == 201, by_coordinator.text


def test_a_case_worker_of_another_provider_cannot_void_at_all(
    client: TestClient, auth: Auth
) -> None:
    pid = enrolled(client, auth)

    response = client.post(
        f"/participants/{pid}/milestones", json=void(4), headers=auth(org="vhs-warendorf")
    )

    refused(response, 404)


def test_a_coordinator_of_another_municipality_cannot_void(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = client.post(
        f"/participants/{pid}/milestones", json=void(4), headers=auth("coordinator", "koeln")
    )

    refused(response, 404)


def test_coordinators_void_but_record_nothing_else(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)
    body = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"}

    response = client.post(f"/participants/{pid}/milestones", json=body, headers=auth(*COORDINATOR))

    refused(response, 403)


def test_voiding_a_stay_with_hours_in_it_is_409_naming_the_rule(
    client: TestClient, auth: Auth
) -> None:
    pid = enrolled(client, auth)
    hours = {"type": "CourseAttendanceRecorded", "effective_date": "2021-03-10", "module": "F4"}
    assert milestone(client, auth, pid, {**hours, "lesson_hours": 4}).status_code == 201
    before = version_of(client, auth, pid)

    response = milestone(client, auth, pid, void(4))

    refused(response, 409, "module-not-open", "voids_version")
    assert version_of(client, auth, pid) == before


def test_a_void_shows_in_state_history_and_timeline(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)
    coaching = {"type": "CoachingContactLogged", "effective_date": "2021-03-10", "mode": "phone"}
    assert milestone(client, auth, pid, {**coaching, "minutes": 30}).status_code == 201

    response = milestone(client, auth, pid, void(5, reason="falsche Person"))

    assert response.status_code == 201, response.text
    position = response.json()["position"]
    state = client.get(f"/participants/{pid}", headers=auth()).json()
    assert (state["coaching_contacts"], state["coaching_minutes"]) == (0, 0)
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert (history[4]["voided_by"], history[5]["voids_version"]) == (6, 5)
    timeline = client.get(
        f"/participants/{pid}/timeline", params={"min_position": position}, headers=auth()
    ).json()["entries"]
    assert timeline[4]["summary"].endswith("(für ungültig erklärt)")
    assert timeline[5]["summary"] == "Eintrag 5 (Coaching-Kontakt) für ungültig erklärt"
    assert "falsche Person" not in str(timeline)


def test_voiding_the_same_entry_twice_is_409(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)
    coaching = {"type": "CoachingContactLogged", "effective_date": "2021-03-10", "mode": "phone"}
    assert milestone(client, auth, pid, {**coaching, "minutes": 30}).status_code == 201
    assert milestone(client, auth, pid, void(5)).status_code == 201

    refused(milestone(client, auth, pid, void(5)), 409, "already-voided", "voids_version")


def test_a_void_needs_a_reason_and_a_version(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    refused(milestone(client, auth, pid, void(4, reason="")), 422, field="reason")
    refused(milestone(client, auth, pid, {**void(4), "voids_version": 0}), 422)
    refused(milestone(client, auth, pid, void(99)), 409, "unknown-version", "voids_version")


def test_re_entry_while_still_active_is_409_and_writes_nothing(
    client: TestClient, auth: Auth
) -> None:
    pid = enrolled(client, auth)
    before = version_of(client, auth, pid)

    response = milestone(
        client,
        auth,
        pid,
        {"type": "Reentered", "effective_date": "2021-05-01", "intake_date": "2021-05-01"},
    )

    refused(response, 409, "participant-active")
    assert version_of(client, auth, pid) == before


def test_re_entry_after_the_exit_starts_a_new_period(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)
    steps = [
        {"type": "Exited", "effective_date": "2021-04-01", "reason": "completed"},
        {"type": "Reentered", "effective_date": "2021-05-01", "intake_date": "2021-05-01"},
    ]
    steps[0]["destination"] = "school"
    for step in steps:
        assert milestone(client, auth, pid, step).status_code == 201
    entry = {"type": "ModuleEntered", "effective_date": "2021-05-02", "module": "F1"}

    refused(milestone(client, auth, pid, entry), 409, "not-eligible")
    state = client.get(f"/participants/{pid}", headers=auth()).json()
    assert (state["status"], state["periods"], state["period_start"]) == (
        "active",
        2,
        "2021-05-01",
    )
    assert state["eligible"] is None


def test_re_entry_with_an_intake_other_than_its_date_is_422(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)
    exit_ = {"type": "Exited", "effective_date": "2021-04-01", "reason": "completed"}
    assert milestone(client, auth, pid, {**exit_, "destination": "school"}).status_code == 201

    response = milestone(
        client,
        auth,
        pid,
        {"type": "Reentered", "effective_date": "2021-05-01", "intake_date": "2021-05-02"},
    )

    refused(response, 422, field="intake_date")
