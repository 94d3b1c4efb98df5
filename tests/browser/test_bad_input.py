"""Bad input in Chromium: script typed into the text fields stays text, and a form sent
after the session expired is told plainly that nothing was saved."""

from __future__ import annotations

import re

from playwright.sync_api import Dialog, Page, expect

from tests.builders.browser import check_accessibility, sign_in_as_demo

SCRIPT = "<script>alert('x')</script><img src=x onerror=alert('y')>"


def fill_registration(page: Page, given: str, family: str) -> None:
    page.get_by_label("Aufnahmedatum").fill("2021-03-01")
    page.get_by_label("Vorname").fill(given)
    page.get_by_label("Familienname").fill(family)
    page.get_by_label("Geburtsdatum").fill("2002-05-04")
    page.get_by_label("Geschlecht").select_option(label="divers")
    page.get_by_label("Staatsangehörigkeit").select_option("SY")
    page.get_by_label("Aufenthaltsstatus", exact=True).select_option("gestattung")


def test_script_in_every_text_field_stays_text(page: Page) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    sign_in_as_demo(page, "caseworker")
    page.goto("/teilnehmende/neu")
    fill_registration(page, SCRIPT, SCRIPT)
    page.get_by_label(re.compile("^Begründung der Altersausnahme")).fill(SCRIPT)

    page.get_by_role("button", name="Aufnahme speichern").click()
    page.wait_for_load_state()

    # Saved, and shown as the characters typed wherever the name appears: nothing
    # runs (no dialog), and nothing had to be blocked by the policy either.
    expect(page.get_by_role("status")).to_contain_text("Gespeichert: Aufnahme")
    expect(page.locator("dl.facts")).to_contain_text(f"{SCRIPT} {SCRIPT}")
    check_accessibility(page, "script-in-fields")  # fails on a script the CSP blocked
    page.get_by_role("link", name="Meine Teilnehmenden").click()
    expect(page.get_by_role("table", name=re.compile(r"^\d+ Teilnehmende"))).to_contain_text(
        f"{SCRIPT}, {SCRIPT}"
    )
    assert page.locator("main script, main img").count() == 0
    assert dialogs == []


def test_a_form_sent_after_the_session_expired_is_told_it_was_not_saved(page: Page) -> None:
    sign_in_as_demo(page, "caseworker")
    page.goto("/teilnehmende/neu")
    fill_registration(page, "Mariam", "Karimi")

    page.context.clear_cookies()  # the session ended while the form was open
    page.get_by_role("button", name="Aufnahme speichern").click()
    page.wait_for_load_state()

    expect(page.get_by_role("alert")).to_contain_text("nicht gespeichert")
    assert "Karimi" not in page.url
    check_accessibility(page, "session-expired")
