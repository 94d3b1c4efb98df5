"""A coach's day in Chromium: register a person, record eligibility, consent and a
module entry, be refused a step (the rule shown in German), correct an entry.

Every page on the way is checked with axe-core; screenshots are kept, three of
them for the README.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.builders.browser import check_accessibility, screenshot, sign_in_as_demo

PERSON = {"given": "Amina", "family": "Haddad"}


def step(page: Page, title: str) -> Locator:
    """Open the milestone form ``title`` of the participant's page (a disclosure)."""
    found = page.locator("details.step").filter(has=page.get_by_text(title, exact=True))
    if found.get_attribute("open") is None:
        found.locator("summary").click()
    return found


def save(form: Locator) -> None:
    form.get_by_role("button", name=re.compile("speichern$")).click()
    form.page.wait_for_load_state()


def register(page: Page) -> None:
    page.get_by_role("link", name="Neue Teilnehmende/r aufnehmen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Neue Teilnehmende/r")
    check_accessibility(page, "registration")
    page.get_by_label("Aufnahmedatum").fill("2021-03-01")
    page.get_by_label("Vorname").fill(PERSON["given"])
    page.get_by_label("Familienname").fill(PERSON["family"])
    page.get_by_label("Geburtsdatum").fill("2002-05-04")
    page.get_by_label("Geschlecht").select_option(label="weiblich")
    page.get_by_label("Staatsangehörigkeit").select_option("SY")
    status = page.get_by_label("Aufenthaltsstatus", exact=True)
    status.select_option(label="Duldung (§ 60a AufenthG)")
    page.get_by_role("button", name="Aufnahme speichern").click()
    page.wait_for_load_state()


def test_a_coach_registers_a_person_and_records_the_first_steps(page: Page) -> None:
    sign_in_as_demo(page, "caseworker")
    expect(page.get_by_role("heading", level=1)).to_have_text("Meine Teilnehmenden")
    check_accessibility(page, "caseload-empty")

    register(page)
    expect(page.get_by_role("status")).to_contain_text("Gespeichert: Aufnahme")
    expect(page.locator("main")).to_contain_text(f"{PERSON['given']} {PERSON['family']}")
    # Personal data never in the address or the title (history, proxies, screen sharing).
    assert PERSON["family"] not in page.url
    assert PERSON["family"] not in page.title()
    check_accessibility(page, "participant-registered")

    # Refused: a module entry before the eligibility is established; the rule in German.
    entry = step(page, "Eintritt in einen Förderbaustein")
    entry.get_by_label("Datum").fill("2021-03-03")
    entry.get_by_label("Förderbaustein").select_option("F4")
    save(entry)
    refused = step(page, "Eintritt in einen Förderbaustein")
    alert = refused.get_by_role("alert")
    expect(alert).to_contain_text("Es wurde nichts gespeichert")
    expect(alert).to_contain_text("Die Förderberechtigung ist nicht festgestellt")
    check_accessibility(page, "participant-refused")
    refused.locator("summary").scroll_into_view_if_needed()
    screenshot(page, "participant-refused-step", readme=True)

    eligibility = step(page, "Förderberechtigung geprüft")
    eligibility.get_by_label("Datum").fill("2021-03-02")
    eligibility.get_by_label("förderberechtigt").check()
    eligibility.get_by_label("Zielgruppe").select_option(label="Geduldete")
    save(eligibility)
    expect(page.get_by_role("status")).to_contain_text("Gespeichert")

    consent = step(page, "Einwilligung erteilt")
    consent.get_by_label("Datum").fill("2021-03-02")
    consent.get_by_label("Fassung der Einwilligung").select_option("2020-01")
    save(consent)
    expect(page.get_by_role("status")).to_contain_text("Gespeichert")

    entry = step(page, "Eintritt in einen Förderbaustein")
    entry.get_by_label("Datum").fill("2021-03-03")
    entry.get_by_label("Förderbaustein").select_option("F4")
    save(entry)
    expect(page.get_by_role("status")).to_contain_text("Gespeichert")
    current = page.get_by_role("heading", name="Aktuelle Förderbausteine")
    modules = page.locator("section", has=current)
    expect(modules).to_contain_text("seit 03.03.2021")
    check_accessibility(page, "participant-in-module")

    # A correction: the module was entered a day later; the original stays in the timeline.
    page.get_by_role("link", name="Eintrag 4 korrigieren oder für ungültig erklären").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Eintrag 4: Eintritt in einen Förderbaustein"
    )
    check_accessibility(page, "entry")
    correction = page.locator("section", has=page.get_by_role("heading", name="Korrigieren"))
    correction.get_by_role("group", name="Richtige Werte").get_by_label("Datum").fill("2021-03-04")
    correction.get_by_label("Grund").fill("Eintritt war am Folgetag")
    correction.get_by_role("button", name="Korrektur speichern").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status")).to_contain_text("Gespeichert")
    expect(modules).to_contain_text("seit 04.03.2021")
    timeline = page.locator("#verlauf")
    expect(timeline).to_contain_text("korrigiert durch Eintrag 5")
    check_accessibility(page, "participant-corrected")
    screenshot(page, "participant", readme=True)

    page.get_by_role("link", name="Meine Teilnehmenden").click()
    expect(page.get_by_role("table", name=re.compile(r"^\d+ Teilnehmende"))).to_contain_text(
        f"{PERSON['family']}, {PERSON['given']}"
    )
    check_accessibility(page, "caseload")
    screenshot(page, "caseload", readme=True)
