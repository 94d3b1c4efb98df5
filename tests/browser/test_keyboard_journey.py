"""A coach works with the keyboard alone: signs in, registers a person (refused once:
the rule shown next to its field), records the eligibility
and signs out, with Tab, typing, Space and Enter; no mouse, no clicks.

Keyboard access is a duty under BITV 2.0 (WCAG 2.1.1): every control must be
reachable with Tab in a sensible order and work with the keys.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.builders.browser import check_accessibility, demo_choice, session_role, tab_to


def exactly(text: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(text)}$")


def type_into(page: Page, field: str, keys: str) -> None:
    tab_to(page, exactly(field))
    page.keyboard.type(keys)


def test_a_coach_registers_a_person_with_the_keyboard_alone(page: Page) -> None:
    page.goto("/auth/demo")
    tab_to(page, demo_choice("caseworker"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Meine Teilnehmenden")

    tab_to(page, "Neue Teilnehmende/r aufnehmen")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Neue Teilnehmende/r")
    type_into(page, "Aufnahmedatum", "01032021")
    type_into(page, "Vorname", "Jonas")
    type_into(page, "Familienname", "Tekle")
    type_into(page, "Geburtsdatum", "15082003")
    type_into(page, "Geschlecht", "m")  # a closed list picks the option typed
    type_into(page, "Staatsangehörigkeit", "Eritrea")
    type_into(page, "Aufenthaltsstatus", "Aufenthaltsg")
    assert page.get_by_label("Aufnahmedatum").input_value() == "2021-03-01"
    assert page.get_by_label("Aufenthaltsstatus", exact=True).input_value() == "gestattung"
    assert page.get_by_label("Staatsangehörigkeit").input_value() == "ER"
    tab_to(page, "Aufnahme speichern")
    page.keyboard.press("Enter")
    # 17 at intake: refused, the rule in German next to the field that would allow it.
    expect(page.get_by_role("alert")).to_contain_text("Es wurde nichts gespeichert")
    reason = page.get_by_label(re.compile("^Begründung der Altersausnahme"))
    rule = page.locator(".field", has=reason)
    expect(rule).to_contain_text("Außerhalb des Alters von 18 bis 27 Jahren")
    check_accessibility(page, "keyboard-registration-refused")
    type_into(page, "Geburtsdatum", "15082001")
    tab_to(page, "Aufnahme speichern")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Gespeichert: Aufnahme")
    expect(page.locator("dl.facts")).to_contain_text("15.08.2001")

    tab_to(page, exactly("Förderberechtigung geprüft"))
    if not page.evaluate("() => document.activeElement.parentElement.open"):
        page.keyboard.press("Enter")  # opens the step's form (the page may show it open)
    type_into(page, "Datum", "02032021")
    tab_to(page, exactly("förderberechtigt"))
    page.keyboard.press("Space")
    type_into(page, "Zielgruppe", "Gest")
    tab_to(page, "Förderberechtigung geprüft: speichern")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Gespeichert")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(re.compile(r"Förderberechtigt\s*ja"))
    expect(facts).to_contain_text(re.compile(r"Zielgruppe\s*Gestattete"))
    check_accessibility(page, "keyboard-journey")

    tab_to(page, "Abmelden")
    page.keyboard.press("Enter")
    # The sign-out is a form post: wait for the page it leads to, not the one still shown.
    expect(page.get_by_role("button", name="Abmelden")).to_have_count(0)
    assert session_role(page) is None
