"""No raw code on the Kurse, Berichte, Prüfung and Datenschutz pages: a course with a
session and its list, a financial report with its evidence, an audit comparison and
the access log are read as a person reads them (the visible text)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.storage.checkpoints import new_signing_key_text
from tests.builders.api import Auth, into_module, registration
from tests.builders.page_text import raw_codes, visible
from tests.builders.pages import sign_in

COACH, COORDINATOR, AUDITOR, ADMIN = "s.berger", "k.yilmaz", "m.pruef", "t.schulz"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, audit_signing_key=new_signing_key_text())


def test_the_new_pages_show_no_raw_codes(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    coach = auth(user=COACH)
    pid = str(client.post("/participants", json=registration(), headers=coach).json()["id"])
    for body in into_module():
        assert client.post(f"/participants/{pid}/milestones", json=body, headers=coach).is_success
    course = client.post(
        "/courses",
        json={
            "programme": "durchstarten",
            "module": "F4",
            "provider": "caritas-ahlen",
            "title": "Berufsvorbereitung",
            "course_type": "berufsvorbereitender_kurs",
            "planned_lesson_hours": 42,
            "start_date": "2021-04-01",
            "end_date": "2021-06-30",
        },
        headers=coach,
    ).json()["id"]
    client.post(
        f"/courses/{course}/enrolments",
        json={"participant_id": pid, "effective_date": "2021-04-01"},
        headers=coach,
    )
    held = client.post(
        f"/courses/{course}/sessions",
        json={
            "date": "2021-04-06",
            "lesson_hours": "4",
            "attendance": [{"participant_id": pid, "status": "present"}],
        },
        headers=coach,
    ).json()
    client.get(
        "/reports/financial",
        params={"period": "2021", "min_position": held["position"]},
        headers=auth("coordinator", "warendorf"),
    )
    client.get(f"/participants/{pid}", headers=coach)  # an entry in the access log
    # A possible duplicate of the participant at another provider of Warendorf.
    other = auth(org="vhs-warendorf")
    twin = client.post(
        "/participants",
        json=registration(provider="vhs-warendorf", family_name="Haydari"),
        headers=other,
    )
    assert twin.json()["possible_duplicate"] is True
    shown: dict[str, str] = {}

    sign_in(web, runtime, "caseworker", user=COACH)
    for path in (
        "/kurse",
        "/kurse/neu",
        f"/kurse/{course}?stand={held['position']}",
        f"/kurse/{course}/teilnehmendenliste",
        f"/kurse/{course}/teilnehmendenliste?termin={held['session_id']}",
    ):
        page = web.get(path)
        assert page.status_code == 200, path
        shown[f"caseworker {path}"] = visible(page.text)
    web.cookies.clear()
    csrf = sign_in(web, runtime, "coordinator", user=COORDINATOR)
    made = web.post("/berichte", data={"csrf_token": csrf, "kind": "financial", "period": "2021"})
    run = made.headers["location"]
    for path in (
        "/berichte",
        "/berichte/datenqualitaet?quartal=2021-Q1",
        run,
        f"{run}/aenderungen",
        "/datenschutz",
        f"/datenschutz/{pid}/zugriffe",
        f"/datenschutz/{pid}/loeschung",
        "/doppelerfassungen",
    ):
        page = web.get(path)
        assert page.status_code == 200, path
        shown[f"coordinator {path}"] = visible(page.text)
    web.cookies.clear()
    sign_in(web, runtime, "auditor", "warendorf", user=AUDITOR)
    for path in (
        "/pruefung",
        f"/pruefung?teilnehmende={pid}&stichtag=2021-04-10&kenntnisstand=2030-01-01T00:00",
        "/pruefung/integritaet",
    ):
        page = web.get(path)
        assert page.status_code == 200, path
        shown[f"auditor {path}"] = visible(page.text)
    web.cookies.clear()
    person = {
        "issuer": "caritas",
        "subject": "e.beispiel",
        "display_name": "Erika Beispiel",
        "email": "erika@caritas.example",
        "memberships": [{"role": "caseworker", "member_of": "caritas-ahlen"}],
    }
    added = client.post("/users", json=person, headers=auth("admin", "*")).json()
    client.post(
        f"/users/{added['id']}/deactivation",
        json={"reason": "left-organisation"},
        headers=auth("admin", "*"),
    )
    position = runtime.journeys.recorder.max_notification_id()
    client.get("/users", params={"min_position": position}, headers=auth("admin", "*"))
    sign_in(web, runtime, "org_admin", user=ADMIN)
    for path in ("/benutzer", f"/benutzer/{added['id']}"):
        page = web.get(path)
        assert page.status_code == 200, path
        shown[f"org_admin {path}"] = visible(page.text)

    # Participant ids are pseudonyms, shown on purpose (the Prüfung's form, links).
    leaks = {
        where: codes
        for where, text in shown.items()
        if (codes := raw_codes(re.sub(r"[0-9a-f-]{36}", "", text)))
    }

    assert leaks == {}
