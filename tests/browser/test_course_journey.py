"""A course in Chromium: a coach creates it, enrols participants, records a session
with the attendance of everyone enrolled in one form, and prints the
Teilnehmendenliste for signatures.

The participants (in F4) are registered through the JSON API of the same served
Lotse (the coach's journey covers registering on the pages); every page is
checked with axe-core.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.builders.api import into_module, registration
from tests.builders.browser import (
    Served,
    check_accessibility,
    screenshot,
    sign_in_as_demo,
)

PEOPLE = [("Amina", "Haddad"), ("Jonas", "Tekle"), ("Samira", "Osei")]


@pytest.fixture(scope="module")
def participant_ids(lotse: Served) -> list[str]:
    ids = []
    with lotse.api() as api:
        for given, family in PEOPLE:
            created = api.post(
                "/participants", json=registration(given_name=given, family_name=family)
            )
            assert created.status_code == 201, created.text
            pid = created.json()["id"]
            for body in into_module():
                assert api.post(f"/participants/{pid}/milestones", json=body).is_success
            ids.append(pid)
    return ids


@pytest.mark.usefixtures("participant_ids")
def test_a_coach_records_a_session_with_the_attendance_of_everyone_enrolled(page: Page) -> None:
    sign_in_as_demo(page, "caseworker")
    page.get_by_role("navigation").get_by_role("link", name="Kurse").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kurse")
    check_accessibility(page, "courses-empty")

    page.get_by_role("link", name="Neuen Kurs anlegen").click()
    check_accessibility(page, "course-new")
    page.get_by_label("Titel des Kurses").fill("Berufsvorbereitung Ahlen")
    page.get_by_label("Förderbaustein").select_option("durchstarten/F4")
    page.get_by_label("Art des Kurses").select_option(label="berufsvorbereitender Kurs")
    page.get_by_label("Geplante Unterrichtsstunden").fill("42")
    page.get_by_label("Beginn").fill("2021-04-01")
    page.get_by_label("Ende").fill("2021-06-30")
    page.get_by_role("button", name="Kurs anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Berufsvorbereitung Ahlen")
    course_id = re.search(r"/kurse/([0-9a-f-]{36})", page.url)
    assert course_id is not None, page.url

    enrolment = page.locator("form[action$='/anmeldungen']")
    for given, family in PEOPLE:
        enrolment.get_by_label("Person").select_option(label=f"{family}, {given}")
        enrolment.get_by_label("Angemeldet ab").fill("2021-04-01")
        enrolment.get_by_role("button", name="Anmelden").click()
        page.wait_for_load_state()
        # The list under "Angemeldete Teilnehmende" (the form's choices name them too).
        expect(page.locator("#angemeldet + ul")).to_contain_text(f"{family}, {given}")
    check_accessibility(page, "course")

    page.get_by_label("Datum des Termins").fill("2021-04-07")
    page.get_by_label("Gehaltene Unterrichtsstunden").fill("4,5")
    attendance = page.get_by_role("group", name="Anwesenheit")
    rows = attendance.get_by_role("row")
    (amina, jonas, samira) = (rows.filter(has_text=family) for _, family in PEOPLE)
    # The list comes ticked "anwesend" for everyone: untick who was not there.
    expect(amina.get_by_role("checkbox", name=re.compile("anwesend$"))).to_be_checked()
    jonas.get_by_role("checkbox", name=re.compile("anwesend$")).uncheck()
    samira.get_by_role("checkbox", name=re.compile("anwesend$")).uncheck()
    samira.get_by_role("checkbox", name=re.compile("entschuldigt$")).check()
    page.get_by_role("button", name="Termin und Anwesenheit speichern").click()
    page.wait_for_load_state()

    session = page.get_by_role("table").filter(has_text="Termine").get_by_role("row").nth(1)
    expect(session).to_contain_text("07.04.2021")
    expect(session.get_by_role("cell")).to_have_text(
        ["07.04.2021", re.compile(r"^4[,.]5"), "1", "1", "1", re.compile("Teilnehmendenliste")]
    )
    check_accessibility(page, "course-with-session")
    screenshot(page, "course-with-session")

    page.get_by_role("link", name=re.compile("Teilnehmendenliste vom 07.04.2021")).click()
    page.emulate_media(media="print")
    for _, family in PEOPLE:
        expect(page.locator("body")).to_contain_text(family)
    check_accessibility(page, "course-sheet")
    screenshot(page, "course-sheet-print")
