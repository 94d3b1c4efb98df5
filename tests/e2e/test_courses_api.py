"""Courses through HTTP, against real PostgreSQL: every route and the bad inputs."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, into_module, registration

PROBLEM = "application/problem+json"
START, END = "2021-04-01", "2021-06-30"


def course_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "programme": "durchstarten",
        "module": "F4",
        "provider": "caritas-ahlen",
        "title": "Berufsvorbereitung Ahlen 1",
        "course_type": "berufsvorbereitender_kurs",
        "planned_lesson_hours": 42,
        "start_date": START,
        "end_date": END,
    }
    body.update(overrides)
    return body


def new_course(client: TestClient, auth: Auth, **overrides: Any) -> str:
    response = client.post("/courses", json=course_body(**overrides), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def participant_in_f4(client: TestClient, auth: Auth, provider: str = "caritas-ahlen") -> str:
    headers = auth(org=provider)
    response = client.post("/participants", json=registration(provider=provider), headers=headers)
    assert response.status_code == 201, response.text
    pid = str(response.json()["id"])
    for body in into_module():
        r = client.post(f"/participants/{pid}/milestones", json=body, headers=headers)
        assert r.status_code == 201, r.text
    return pid


def enrol(client: TestClient, auth: Auth, cid: str, pid: str) -> Any:
    return client.post(
        f"/courses/{cid}/enrolments",
        json={"participant_id": pid, "effective_date": START},
        headers=auth(),
    )


def session(client: TestClient, auth: Auth, cid: str, day: str, hours: Any, **headers: str) -> Any:
    return client.post(
        f"/courses/{cid}/sessions",
        json={"date": day, "lesson_hours": hours},
        headers={**auth(), **headers},
    )


def attendance(
    client: TestClient, auth: Auth, cid: str, sid: str, marks: list[tuple[str, str]], **headers: str
) -> Any:
    return client.post(
        f"/courses/{cid}/sessions/{sid}/attendance",
        json={"entries": [{"participant_id": p, "status": s} for p, s in marks]},
        headers={**auth(), **headers},
    )


def assert_problem(
    response: Any, status: int, *, rule: str | None = None, field: str | None = None
):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    if rule is not None:
        assert body["rule"] == rule
    if field is not None:
        assert body["field"] == field
    return body


def version_of(client: TestClient, auth: Auth, cid: str) -> int:
    return int(client.get(f"/courses/{cid}", headers=auth()).json()["version"])


# ------------------------------------------------------------------ the happy path


def test_a_course_is_scheduled_and_read_back(client: TestClient, auth: Auth) -> None:
    response = client.post("/courses", json=course_body(), headers=auth())

    assert response.status_code == 201
    body = response.json()
    assert body["version"] == 1
    assert response.headers["Location"] == f"/courses/{body['id']}"
    course = client.get(f"/courses/{body['id']}", headers=auth()).json()
    assert course["provider"] == "caritas-ahlen"
    assert course["municipality"] == "warendorf"
    assert course["status"] == "scheduled"
    assert course["held_lesson_hours"] == "0.00"


def test_sessions_and_the_whole_attendance_list_are_recorded(
    client: TestClient, auth: Auth
) -> None:
    cid = new_course(client, auth)
    a, b = participant_in_f4(client, auth), participant_in_f4(client, auth)
    assert enrol(client, auth, cid, a).status_code == 201
    assert enrol(client, auth, cid, b).status_code == 201

    held = session(client, auth, cid, "2021-04-06", "4.5")
    assert held.status_code == 201, held.text
    sid = held.json()["session_id"]
    listed = attendance(client, auth, cid, sid, [(a, "present"), (b, "excused")])

    assert listed.status_code == 201, listed.text
    course = client.get(f"/courses/{cid}", headers=auth()).json()
    assert course["held_lesson_hours"] == "4.50"
    [s] = course["sessions"]
    assert (s["id"], s["present"], s["excused"], s["absent"]) == (sid, 1, 1, 0)
    assert {e["participant_id"] for e in course["enrolments"]} == {a, b}


def test_a_session_and_its_attendance_list_are_recorded_in_one_request(
    client: TestClient, auth: Auth
) -> None:
    cid = new_course(client, auth)
    a, b = participant_in_f4(client, auth), participant_in_f4(client, auth)
    enrol(client, auth, cid, a)
    enrol(client, auth, cid, b)
    body = {
        "date": "2021-04-06",
        "lesson_hours": "4",
        "attendance": [
            {"participant_id": a, "status": "present"},
            {"participant_id": b, "status": "absent"},
        ],
    }
    key = {"Idempotency-Key": "session-with-list-1"}

    held = client.post(f"/courses/{cid}/sessions", json=body, headers={**auth(), **key})
    again = client.post(f"/courses/{cid}/sessions", json=body, headers={**auth(), **key})

    assert held.status_code == 201, held.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == held.json()
    [s] = client.get(f"/courses/{cid}", headers=auth()).json()["sessions"]
    assert s["id"] == held.json()["session_id"]
    assert (s["present"], s["absent"], s["excused"]) == (1, 1, 0)


def test_a_refused_attendance_list_leaves_no_session_behind(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)
    enrolled, stranger = participant_in_f4(client, auth), participant_in_f4(client, auth)
    enrol(client, auth, cid, enrolled)
    body = {
        "date": "2021-04-06",
        "lesson_hours": "4",
        "attendance": [
            {"participant_id": enrolled, "status": "present"},
            {"participant_id": stranger, "status": "present"},
        ],
    }

    refused = client.post(f"/courses/{cid}/sessions", json=body, headers=auth())

    assert_problem(refused, 409, rule="not-enrolled", field="entries[1].participant_id")
    assert client.get(f"/courses/{cid}", headers=auth()).json()["sessions"] == []


def test_the_course_list_is_scoped_to_the_callers_organisation(
    client: TestClient, auth: Auth
) -> None:
    ours = client.post("/courses", json=course_body(), headers=auth()).json()
    theirs = client.post(
        "/courses",
        json=course_body(provider="diakonie-duesseldorf"),
        headers=auth(org="diakonie-duesseldorf"),
    ).json()

    def listed(headers: dict[str, str], position: int) -> set[str]:
        response = client.get(f"/courses?min_position={position}", headers=headers)
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["items"]}

    position = theirs["position"]
    assert listed(auth(), position) == {ours["id"]}
    assert listed(auth("coordinator", "duesseldorf"), position) == {theirs["id"]}
    assert listed(auth("auditor", "*"), position) == {ours["id"], theirs["id"]}
    assert listed(auth("admin", "*"), position) == {ours["id"], theirs["id"]}
    assert_problem(client.get("/courses", headers=auth("funder", "land-nrw")), 403)


def test_a_course_outside_the_callers_scope_is_not_found(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)

    assert (
        client.get(f"/courses/{cid}", headers=auth("coordinator", "warendorf")).status_code == 200
    )
    assert_problem(client.get(f"/courses/{cid}", headers=auth(org="vhs-warendorf")), 404)
    assert_problem(client.get(f"/courses/{cid}", headers=auth("coordinator", "koeln")), 404)
    assert_problem(client.get(f"/courses/{cid}", headers=auth("funder", "land-nrw")), 403)
    assert_problem(session(client, lambda: auth(org="vhs-warendorf"), cid, "2021-04-06", 4), 404)


def test_a_participant_id_is_not_a_course(client: TestClient, auth: Auth) -> None:
    pid = participant_in_f4(client, auth)

    assert_problem(client.get(f"/courses/{pid}", headers=auth()), 404, rule="course-not-found")


def test_a_course_id_is_not_a_participant(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)

    response = client.get(f"/participants/{cid}", headers=auth())

    assert_problem(response, 404, rule="participant-not-found")


def test_only_case_workers_and_admins_schedule_courses(client: TestClient, auth: Auth) -> None:
    assert_problem(
        client.post("/courses", json=course_body(), headers=auth("coordinator", "warendorf")), 403
    )
    assert_problem(
        client.post("/courses", json=course_body(), headers=auth(org="vhs-warendorf")), 403
    )
    assert (
        client.post("/courses", json=course_body(), headers=auth("admin", "*")).status_code == 201
    )


def test_withdrawal_exam_fee_and_completion(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)
    a = participant_in_f4(client, auth)
    enrol(client, auth, cid, a)
    session(client, auth, cid, "2021-04-06", 4)

    withdrawn = client.post(
        f"/courses/{cid}/withdrawals",
        json={"participant_id": a, "effective_date": "2021-04-10", "reason": "participant_left"},
        headers=auth(),
    )
    fee = client.post(
        f"/courses/{cid}/exam-fees",
        json={
            "effective_date": "2021-06-01",
            "amount_eur": "120.00",
            "receipt_reference": "R-2021/17",
        },
        headers=auth(),
    )
    done = client.post(
        f"/courses/{cid}/completion", json={"effective_date": "2021-06-30"}, headers=auth()
    )

    assert [r.status_code for r in (withdrawn, fee, done)] == [201, 201, 201]
    course = client.get(f"/courses/{cid}", headers=auth()).json()
    assert course["status"] == "completed"
    assert course["exam_fees_eur"] == "120.00"
    assert course["enrolments"][0]["withdrawn_on"] == "2021-04-10"
    late = session(client, auth, cid, "2021-06-30", 1)
    assert_problem(late, 409, rule="course-completed")


def test_a_cancelled_course_takes_no_more_sessions(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)

    cancelled = client.post(
        f"/courses/{cid}/cancellation",
        json={"effective_date": "2021-04-02", "reason": "too_few_participants"},
        headers=auth(),
    )

    assert cancelled.status_code == 201
    assert_problem(session(client, auth, cid, "2021-04-06", 4), 409, rule="course-cancelled")


# ------------------------------------------------------- idempotency, If-Match


def test_a_retried_session_returns_the_same_session_once(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)

    first = session(client, auth, cid, "2021-04-06", 4, **{"Idempotency-Key": "s-1"})
    again = session(client, auth, cid, "2021-04-06", 4, **{"Idempotency-Key": "s-1"})

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(client.get(f"/courses/{cid}", headers=auth()).json()["sessions"]) == 1


def test_a_retried_attendance_list_is_recorded_once(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)
    a = participant_in_f4(client, auth)
    enrol(client, auth, cid, a)
    sid = session(client, auth, cid, "2021-04-06", 4).json()["session_id"]

    key = {"Idempotency-Key": "list-1"}
    first = attendance(client, auth, cid, sid, [(a, "present")], **key)
    again = attendance(client, auth, cid, sid, [(a, "present")], **key)
    other = attendance(client, auth, cid, sid, [(a, "absent")], **key)

    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert_problem(other, 422, rule="idempotency-key-reused")
    assert version_of(client, auth, cid) == first.json()["version"]


def test_a_stale_if_match_is_refused_and_nothing_written(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)
    a = participant_in_f4(client, auth)
    enrol(client, auth, cid, a)
    sid = session(client, auth, cid, "2021-04-06", 4).json()["session_id"]
    current = version_of(client, auth, cid)

    stale = attendance(client, auth, cid, sid, [(a, "present")], **{"If-Match": '"1"'})
    fresh = attendance(client, auth, cid, sid, [(a, "present")], **{"If-Match": f'"{current}"'})

    assert_problem(stale, 412, field="If-Match")
    assert fresh.status_code == 201
    assert fresh.json()["version"] == current + 1


# ------------------------------------------------------------------ bad input


def test_attendance_for_a_participant_not_enrolled_is_refused(
    client: TestClient, auth: Auth
) -> None:
    cid = new_course(client, auth)
    a, stranger = participant_in_f4(client, auth), participant_in_f4(client, auth)
    enrol(client, auth, cid, a)
    sid = session(client, auth, cid, "2021-04-06", 4).json()["session_id"]
    before = version_of(client, auth, cid)

    response = attendance(client, auth, cid, sid, [(a, "present"), (stranger, "present")])

    body = assert_problem(response, 409, rule="not-enrolled", field="entries[1].participant_id")
    assert stranger not in body["detail"]
    assert version_of(client, auth, cid) == before


def test_attendance_needs_the_module_stay_open_on_the_session_date(
    client: TestClient, auth: Auth
) -> None:
    cid = new_course(client, auth)
    a = participant_in_f4(client, auth)
    enrol(client, auth, cid, a)
    client.post(
        f"/participants/{a}/milestones",
        json={
            "type": "ModuleExited",
            "effective_date": "2021-04-05",
            "module": "F4",
            "reason": "completed",
        },
        headers=auth(),
    )
    sid = session(client, auth, cid, "2021-04-06", 4).json()["session_id"]

    response = attendance(client, auth, cid, sid, [(a, "present")])

    assert_problem(response, 409, rule="module-stay-not-open")


def test_a_session_in_the_future_is_refused(client: TestClient, auth: Auth) -> None:
    # Checked before the course's dates: tomorrow is after every funded course.
    cid = new_course(client, auth)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()

    response = session(client, auth, cid, tomorrow, 4)

    assert_problem(response, 422, rule="date-in-future", field="date")
    assert client.get(f"/courses/{cid}", headers=auth()).json()["sessions"] == []


def test_a_session_outside_the_course_dates_is_refused(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)

    before = session(client, auth, cid, "2021-03-31", 4)
    after = session(client, auth, cid, "2021-07-01", 4)

    assert_problem(before, 409, rule="outside-course-dates", field="date")
    assert_problem(after, 409, rule="outside-course-dates", field="date")
    assert version_of(client, auth, cid) == 1


def test_lesson_hours_must_be_positive(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)

    for hours in (0, -2):
        assert_problem(session(client, auth, cid, "2021-04-06", hours), 422, field="lesson_hours")
    assert version_of(client, auth, cid) == 1


def test_lesson_hours_above_the_daily_maximum_are_refused(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)

    too_many = session(client, auth, cid, "2021-04-06", 9)
    assert session(client, auth, cid, "2021-04-07", 5).status_code == 201
    adding_up = session(client, auth, cid, "2021-04-07", 4)

    assert_problem(too_many, 409, rule="daily-maximum-exceeded", field="lesson_hours")
    assert_problem(adding_up, 409, rule="daily-maximum-exceeded")
    assert version_of(client, auth, cid) == 2


def test_an_unknown_session_is_not_found(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)
    a = participant_in_f4(client, auth)
    enrol(client, auth, cid, a)

    response = attendance(client, auth, cid, cid, [(a, "present")])

    assert_problem(response, 404, rule="session-not-found")


def test_an_attendance_status_outside_the_vocabulary_is_refused(
    client: TestClient, auth: Auth
) -> None:
    cid = new_course(client, auth)
    a = participant_in_f4(client, auth)
    enrol(client, auth, cid, a)
    sid = session(client, auth, cid, "2021-04-06", 4).json()["session_id"]

    response = attendance(client, auth, cid, sid, [(a, "late")])

    assert response.status_code == 422
    assert "late" not in response.text


def test_only_the_providers_own_participants_are_enrolled(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)
    other = participant_in_f4(client, auth, provider="vhs-warendorf")

    response = enrol(client, auth, cid, other)

    assert_problem(response, 409, rule="not-own-participant", field="participant_id")


# ------------------------------------------- participants referred to the provider

VHS = ("caseworker", "vhs-warendorf")


def referred(
    client: TestClient, auth: Auth, module: str = "F4", *, accept: bool = True
) -> tuple[str, str]:
    """A caritas-ahlen participant referred to vhs-warendorf for ``module``."""
    lead = auth()
    response = client.post("/participants", json=registration(), headers=lead)
    assert response.status_code == 201, response.text
    pid = str(response.json()["id"])
    for body in (
        {"type": "EligibilityAssessed", "eligible": True, "target_group": "duldung"},
        {"type": "ConsentGiven", "consent_version": "2020-01"},
        {"type": "ModuleEntered", "module": "F1"},
    ):
        r = client.post(
            f"/participants/{pid}/milestones",
            json={**body, "effective_date": "2021-03-02"},
            headers=lead,
        )
        assert r.status_code == 201, r.text
    r = client.post(
        f"/participants/{pid}/referrals",
        json={"provider": "vhs-warendorf", "module": module, "effective_date": "2021-03-03"},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    referral_id = str(r.json()["referral_id"])
    if accept:
        r = client.post(
            f"/participants/{pid}/referrals/{referral_id}/acceptance",
            json={"effective_date": "2021-03-04"},
            headers=auth(*VHS),
        )
        assert r.status_code == 201, r.text
    return pid, referral_id


def vhs_course(client: TestClient, auth: Auth) -> str:
    body = course_body(provider="vhs-warendorf", title="Berufsvorbereitung VHS")
    response = client.post("/courses", json=body, headers=auth(*VHS))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def enrol_at_vhs(client: TestClient, auth: Auth, cid: str, pid: str) -> Any:
    return client.post(
        f"/courses/{cid}/enrolments",
        json={"participant_id": pid, "effective_date": START},
        headers=auth(*VHS),
    )


def test_a_participant_referred_for_the_courses_module_is_enrolled_and_attends(
    client: TestClient, auth: Auth
) -> None:
    pid, _ = referred(client, auth)
    # The receiving provider opens the F4 stay it was referred for.
    r = client.post(
        f"/participants/{pid}/milestones",
        json={"type": "ModuleEntered", "module": "F4", "effective_date": "2021-03-05"},
        headers=auth(*VHS),
    )
    assert r.status_code == 201, r.text
    own = participant_in_f4(client, auth, provider="vhs-warendorf")
    cid = vhs_course(client, auth)

    enrolled = [enrol_at_vhs(client, auth, cid, p) for p in (pid, own)]

    assert [r.status_code for r in enrolled] == [201, 201], [r.text for r in enrolled]
    held = client.post(
        f"/courses/{cid}/sessions",
        json={"date": "2021-04-06", "lesson_hours": 6},
        headers=auth(*VHS),
    )
    assert held.status_code == 201, held.text
    sid = held.json()["session_id"]
    marks = client.post(
        f"/courses/{cid}/sessions/{sid}/attendance",
        json={
            "entries": [
                {"participant_id": pid, "status": "present"},
                {"participant_id": own, "status": "excused"},
            ]
        },
        headers=auth(*VHS),
    )
    assert marks.status_code == 201, marks.text
    course = client.get(f"/courses/{cid}", headers=auth(*VHS)).json()
    assert course["held_lesson_hours"] == "6.00"


def test_a_participant_referred_for_another_module_is_not_enrolled(
    client: TestClient, auth: Auth
) -> None:
    pid, _ = referred(client, auth, module="F1")
    cid = vhs_course(client, auth)
    before = client.get(f"/courses/{cid}", headers=auth(*VHS)).json()["version"]

    response = enrol_at_vhs(client, auth, cid, pid)

    body = assert_problem(response, 409, rule="not-own-participant", field="participant_id")
    assert pid not in response.text
    assert body["detail"]
    assert client.get(f"/courses/{cid}", headers=auth(*VHS)).json()["version"] == before


def test_a_referral_not_yet_accepted_does_not_enrol(client: TestClient, auth: Auth) -> None:
    pid, _ = referred(client, auth, accept=False)
    cid = vhs_course(client, auth)

    response = enrol_at_vhs(client, auth, cid, pid)

    assert_problem(response, 409, rule="not-own-participant", field="participant_id")


def test_an_ended_referral_does_not_enrol(client: TestClient, auth: Auth) -> None:
    pid, referral_id = referred(client, auth)
    ended = client.post(
        f"/participants/{pid}/referrals/{referral_id}/ending",
        json={"effective_date": "2021-03-20", "reason": "no_longer_needed"},
        headers=auth(),
    )
    assert ended.status_code == 201, ended.text
    cid = vhs_course(client, auth)

    response = enrol_at_vhs(client, auth, cid, pid)

    assert_problem(response, 409, rule="not-own-participant", field="participant_id")


def test_the_lead_provider_does_not_enrol_in_a_course_of_the_provider_it_referred_to(
    client: TestClient, auth: Auth
) -> None:
    """The course belongs to the receiving provider: the lead provider does not manage it."""
    pid, _ = referred(client, auth)
    cid = vhs_course(client, auth)

    response = enrol(client, auth, cid, pid)  # caritas-ahlen's case worker

    assert response.status_code == 404, response.text


def test_an_unknown_participant_cannot_be_enrolled(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)

    response = enrol(client, auth, cid, cid)  # a course id, not a participant's

    assert_problem(response, 409, rule="unknown-participant", field="participant_id")


def test_a_course_in_a_module_not_held_in_courses_is_refused(
    client: TestClient, auth: Auth
) -> None:
    response = client.post("/courses", json=course_body(module="F1"), headers=auth())

    assert_problem(response, 422, field="module")


def test_the_openapi_document_lists_the_course_routes(client: TestClient, runtime: Runtime) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    for path in (
        "/courses",
        "/courses/{course_id}",
        "/courses/{course_id}/enrolments",
        "/courses/{course_id}/sessions",
        "/courses/{course_id}/sessions/{session_id}/attendance",
    ):
        assert path in paths


def test_an_exited_participant_cannot_be_enrolled(client: TestClient, auth: Auth) -> None:
    cid = new_course(client, auth)
    a = participant_in_f4(client, auth)
    exited = client.post(
        f"/participants/{a}/milestones",
        json={
            "type": "Exited",
            "effective_date": "2021-03-20",
            "reason": "completed",
            "destination": "school",
        },
        headers=auth(),
    )
    assert exited.status_code == 201, exited.text

    response = enrol(client, auth, cid, a)

    assert_problem(response, 409, rule="participant-exited")
    assert version_of(client, auth, cid) == 1


@pytest.mark.parametrize("field", ["title", "programme", "module"])
def test_a_control_character_in_a_course_field_is_422_and_nothing_written(
    client: TestClient, auth: Auth, field: str
) -> None:
    listed_before = client.get("/courses", headers=auth()).json()["items"]

    response = client.post("/courses", json=course_body(**{field: "Kurs\x00A"}), headers=auth())

    assert_problem(response, 422, field=field)
    assert "Kurs" not in response.text
    assert client.get("/courses", headers=auth()).json()["items"] == listed_before


def test_a_control_character_in_a_receipt_reference_is_422_and_nothing_written(
    client: TestClient, auth: Auth
) -> None:
    cid = new_course(client, auth)
    before = version_of(client, auth, cid)
    fee = {"effective_date": "2021-03-01", "amount_eur": "120.00", "receipt_reference": "R\x1b1"}

    response = client.post(f"/courses/{cid}/exam-fees", json=fee, headers=auth())

    assert_problem(response, 422, field="receipt_reference")
    assert version_of(client, auth, cid) == before
