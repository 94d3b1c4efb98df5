"""The Kurse pages over HTTP against real PostgreSQL: list, new course, a session with
its whole attendance list in one post, the printable Teilnehmendenliste, refusals."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, into_module, registration
from tests.builders.pages import hidden, sign_in

START, END = "2021-04-01", "2021-06-30"
SCRIPT = "<script>alert(1)</script>"


def course(client: TestClient, auth: Auth, **overrides: Any) -> tuple[str, int]:
    body = {
        "programme": "durchstarten",
        "module": "F4",
        "provider": "caritas-ahlen",
        "title": "Berufsvorbereitung Ahlen",
        "course_type": "berufsvorbereitender_kurs",
        "planned_lesson_hours": 42,
        "start_date": START,
        "end_date": END,
        **overrides,
    }
    response = client.post("/courses", json=body, headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), int(response.json()["position"])


def enrolled_participant(
    client: TestClient, auth: Auth, cid: str, given_name: str = "Amina"
) -> tuple[str, int]:
    response = client.post(
        "/participants", json=registration(given_name=given_name), headers=auth()
    )
    assert response.status_code == 201, response.text
    pid = str(response.json()["id"])
    for body in into_module():
        assert client.post(f"/participants/{pid}/milestones", json=body, headers=auth()).is_success
    enrolled = client.post(
        f"/courses/{cid}/enrolments",
        json={"participant_id": pid, "effective_date": START},
        headers=auth(),
    )
    assert enrolled.status_code == 201, enrolled.text
    return pid, int(enrolled.json()["position"])


def test_the_course_list_shows_the_callers_courses_with_labels(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, position = course(client, auth)
    course(client, lambda: auth(org="diakonie-duesseldorf"), provider="diakonie-duesseldorf")
    sign_in(web, runtime)
    runtime_reads_wait(web, position)

    page = web.get("/kurse")

    assert page.status_code == 200
    assert f'href="/kurse/{cid}"' in page.text
    assert page.text.count('href="/kurse/') - page.text.count('href="/kurse/neu"') == 1
    assert "berufsvorbereitender Kurs" in page.text
    assert "berufsvorbereitender_kurs" not in page.text


def runtime_reads_wait(web: TestClient, position: int) -> None:
    """Wait for the read models as a page after a write does (``?stand=``)."""
    assert web.get(f"/kurse/00000000-0000-0000-0000-000000000000?stand={position}").status_code in (
        404,
        200,
    )


@pytest.mark.parametrize(("role", "org"), [("funder", "*"), ("org_admin", "caritas-ahlen")])
def test_roles_without_course_lists_are_refused_and_see_no_nav_entry(
    web: TestClient, runtime: Runtime, role: str, org: str
) -> None:
    sign_in(web, runtime, role, org)

    page = web.get("/kurse")

    assert page.status_code == 403
    assert 'href="/kurse"' not in web.get("/start").text


def test_a_course_of_another_provider_is_a_404_page(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, _ = course(client, auth)
    sign_in(web, runtime, "caseworker", "vhs-warendorf")

    page = web.get(f"/kurse/{cid}")

    assert page.status_code == 404
    assert "Berufsvorbereitung" not in page.text


def test_a_new_course_is_scheduled_through_the_form_once_per_form(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    csrf = sign_in(web, runtime)
    form = web.get("/kurse/neu")
    assert form.status_code == 200
    fields = {
        "csrf_token": csrf,
        "idempotency_key": hidden(form.text, "idempotency_key"),
        "title": "Sprachkurs am Nachmittag",
        "module": "durchstarten/F4",
        "provider": "caritas-ahlen",
        "course_type": "sprachkurs",
        "planned_lesson_hours": "40,5",
        "start_date": START,
        "end_date": END,
    }

    first = web.post("/kurse/neu", data=fields)
    again = web.post("/kurse/neu", data=fields)

    assert first.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    stand = first.headers["location"].rpartition("stand=")[2]
    courses = client.get(f"/courses?min_position={stand}", headers=auth()).json()["items"]
    assert [(c["title"], c["planned_lesson_hours"]) for c in courses] == [
        ("Sprachkurs am Nachmittag", "40.50")
    ]


def test_a_new_course_with_its_end_before_its_start_is_refused_next_to_the_field(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    csrf = sign_in(web, runtime)

    page = web.post(
        "/kurse/neu",
        data={
            "csrf_token": csrf,
            "title": "Kurs",
            "module": "durchstarten/F4",
            "provider": "caritas-ahlen",
            "course_type": "sprachkurs",
            "planned_lesson_hours": "10",
            "start_date": END,
            "end_date": START,
        },
    )

    assert page.status_code == 422
    assert 'id="kurs-end_date-error"' in page.text
    assert "Das Ende liegt vor dem Beginn." in page.text
    assert client.get("/courses", headers=auth()).json()["items"] == []


def test_a_post_without_csrf_token_records_nothing(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    sign_in(web, runtime)

    page = web.post(
        "/kurse/neu",
        data={"title": "Kurs", "module": "durchstarten/F4", "provider": "caritas-ahlen"},
    )

    assert page.status_code == 403
    assert client.get("/courses", headers=auth()).json()["items"] == []


def test_a_session_with_attendance_for_all_enrolled_is_one_post(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, _ = course(client, auth)
    a, _ = enrolled_participant(client, auth, cid, "Amina")
    b, _ = enrolled_participant(client, auth, cid, "Bahar")
    c, position = enrolled_participant(client, auth, cid, "Cemal")
    csrf = sign_in(web, runtime)
    page = web.get(f"/kurse/{cid}?stand={position}")
    assert page.status_code == 200
    listed = re.findall(r'name="teilnehmende" value="([^"]+)"', page.text)
    assert sorted(listed) == sorted([a, b, c])
    assert "Haidari, Amina" in page.text
    fields = {
        "csrf_token": csrf,
        "idempotency_key": hidden(page.text, "idempotency_key"),
        "date": "2021-04-06",
        "lesson_hours": "4,5",
        "teilnehmende": listed,
        "anwesend": [a, b],
        "entschuldigt": [c],
    }

    first = web.post(f"/kurse/{cid}/termine", data=fields)
    again = web.post(f"/kurse/{cid}/termine", data=fields)

    assert first.status_code == 303, first.text
    assert again.status_code == 303
    stored = client.get(f"/courses/{cid}", headers=auth()).json()
    [session] = stored["sessions"]
    assert session["lesson_hours"] == "4.50"
    marks = {m["participant_id"]: m["status"] for m in session["attendance"]}
    assert marks == {a: "present", b: "present", c: "excused"}
    shown = web.get(first.headers["location"])
    assert "<td>4,5</td>" in shown.text  # the held hours, written the German way


def test_an_unticked_person_is_marked_absent(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, _ = course(client, auth)
    a, _ = enrolled_participant(client, auth, cid)
    csrf = sign_in(web, runtime)

    answer = web.post(
        f"/kurse/{cid}/termine",
        data={"csrf_token": csrf, "date": "2021-04-06", "lesson_hours": "2", "teilnehmende": [a]},
    )

    assert answer.status_code == 303
    [session] = client.get(f"/courses/{cid}", headers=auth()).json()["sessions"]
    assert session["attendance"] == [{"participant_id": a, "status": "absent"}]


def test_a_refused_session_shows_the_rule_next_to_the_field_and_records_nothing(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, _ = course(client, auth)
    a, _ = enrolled_participant(client, auth, cid)
    csrf = sign_in(web, runtime)

    page = web.post(
        f"/kurse/{cid}/termine",
        data={"csrf_token": csrf, "date": "2021-07-15", "lesson_hours": "4", "teilnehmende": [a]},
    )

    assert page.status_code == 422
    assert "Das Datum liegt außerhalb der Kursdauer." in page.text
    assert 'id="termin-date-error"' in page.text
    assert client.get(f"/courses/{cid}", headers=auth()).json()["sessions"] == []


def test_a_coordinator_reads_the_course_but_gets_no_session_form(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, _ = course(client, auth)
    _a, position = enrolled_participant(client, auth, cid)
    csrf = sign_in(web, runtime, "coordinator", "warendorf")

    page = web.get(f"/kurse/{cid}?stand={position}")
    post = web.post(
        f"/kurse/{cid}/termine",
        data={"csrf_token": csrf, "date": "2021-04-06", "lesson_hours": "4"},
    )

    assert page.status_code == 200
    assert 'data-form="session"' not in page.text
    assert "Haidari, Amina" in page.text
    assert post.status_code == 403


def test_the_printable_list_names_the_enrolled_and_has_a_print_stylesheet(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, _ = course(client, auth)
    _a, position = enrolled_participant(client, auth, cid)
    sign_in(web, runtime)
    web.get(f"/kurse/{cid}?stand={position}")

    sheet = web.get(f"/kurse/{cid}/teilnehmendenliste")
    css = web.get("/static/teilnehmendenliste.css")

    assert sheet.status_code == 200
    assert "Haidari, Amina" in sheet.text
    assert "Unterschrift" in sheet.text
    assert 'href="/static/teilnehmendenliste.css"' in sheet.text
    assert css.status_code == 200
    assert "@media print" in css.text


def test_script_in_a_course_title_renders_inert(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, position = course(client, auth, title=f"Kurs {SCRIPT}")
    sign_in(web, runtime)

    pages = [
        web.get(f"/kurse/{cid}?stand={position}"),
        web.get("/kurse"),
        web.get(f"/kurse/{cid}/teilnehmendenliste"),
    ]

    for page in pages:
        assert page.status_code == 200
        assert SCRIPT not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_participant_of_the_caseload_is_enrolled_through_the_course_page(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    cid, _ = course(client, auth)
    response = client.post("/participants", json=registration(), headers=auth())
    pid = str(response.json()["id"])
    position = 0
    for body in into_module():
        recorded = client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
        position = int(recorded.json()["position"])
    csrf = sign_in(web, runtime)
    page = web.get(f"/kurse/{cid}?stand={position}")
    assert f'<option value="{pid}">Haidari, Amina</option>' in page.text
    fields = {
        "csrf_token": csrf,
        "idempotency_key": re.findall(r'name="idempotency_key" value="([^"]+)"', page.text)[0],
        "participant_id": pid,
        "effective_date": START,
    }

    late = web.post(
        f"/kurse/{cid}/anmeldungen",
        data={**fields, "idempotency_key": "late-1", "effective_date": "2021-07-15"},
    )
    first = web.post(f"/kurse/{cid}/anmeldungen", data=fields)
    again = web.post(f"/kurse/{cid}/anmeldungen", data=fields)

    assert late.status_code == 422
    assert 'id="anmeldung-datum-error"' in late.text
    assert "Das Datum liegt außerhalb der Kursdauer." in late.text
    assert first.status_code == 303
    assert again.status_code == 303
    enrolments = client.get(f"/courses/{cid}", headers=auth()).json()["enrolments"]
    assert [e["participant_id"] for e in enrolments] == [pid]


def test_the_course_provider_reads_the_name_of_a_participant_referred_to_it(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    lead, vhs = auth(), auth("caseworker", "vhs-warendorf")
    pid = str(client.post("/participants", json=registration(), headers=lead).json()["id"])
    for body in into_module(module="F1"):
        assert client.post(f"/participants/{pid}/milestones", json=body, headers=lead).is_success
    referral = client.post(
        f"/participants/{pid}/referrals",
        json={"provider": "vhs-warendorf", "module": "F4", "effective_date": "2021-03-04"},
        headers=lead,
    ).json()["referral_id"]
    accepted = client.post(
        f"/participants/{pid}/referrals/{referral}/acceptance",
        json={"effective_date": "2021-03-05"},
        headers=vhs,
    )
    assert accepted.status_code == 201, accepted.text
    entered = client.post(
        f"/participants/{pid}/milestones",
        json={"type": "ModuleEntered", "effective_date": "2021-03-06", "module": "F4"},
        headers=vhs,
    )
    assert entered.status_code == 201, entered.text
    cid, _ = course(client, lambda: vhs, provider="vhs-warendorf")
    enrolment = client.post(
        f"/courses/{cid}/enrolments",
        json={"participant_id": pid, "effective_date": START},
        headers=vhs,
    )
    assert enrolment.status_code == 201, enrolment.text
    position = int(enrolment.json()["position"])

    sign_in(web, runtime, "caseworker", "vhs-warendorf")
    at_vhs = web.get(f"/kurse/{cid}?stand={position}")
    web.cookies.clear()
    sign_in(web, runtime, "caseworker", "caritas-ahlen")
    at_caritas = web.get(f"/kurse/{cid}")

    assert at_vhs.status_code == 200
    assert "Haidari, Amina" in at_vhs.text
    assert at_caritas.status_code == 404
