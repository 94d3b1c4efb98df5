"""A coordinator in Chromium answers an Art. 15 request and restricts a person's data:
the read-access log names who read, the restriction needs a confirmation step that
says what will happen, and every Datenschutz page passes axe.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.builders.api import registration
from tests.builders.browser import Served, check_accessibility, screenshot, sign_in_as_demo


@pytest.fixture(scope="module")
def registered(lotse: Served) -> str:
    """A participant of caritas-ahlen (municipality warendorf), read once by the API."""
    with lotse.api() as api:
        created = api.post("/participants", json=registration())
        assert created.status_code == 201, created.text
        pid = str(created.json()["id"])
        assert api.get(f"/participants/{pid}").status_code == 200
    return pid


def test_a_coordinator_reads_the_access_log_and_restricts_after_confirming(
    page: Page, lotse: Served, registered: str
) -> None:
    sign_in_as_demo(page, "coordinator")
    page.get_by_role("navigation").get_by_role("link", name="Datenschutz").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Datenschutz")
    check_accessibility(page, "privacy")

    page.get_by_label("Kennung der Person").fill(registered)
    page.get_by_role("button", name="Lesezugriffe anzeigen").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lesezugriffe")
    # The read through the API above is in the log, with who read it.
    expect(page.locator("main table")).to_be_visible()
    check_accessibility(page, "privacy-access-log")

    page.get_by_role("link", name="Daten dieser Person einschränken oder löschen").click()
    check_accessibility(page, "privacy-erasure-form")
    # Without a choice nothing goes on: the fields say what is missing.
    page.get_by_role("button", name="Weiter zur Bestätigung").click()
    expect(page.locator(".error-text").first).to_be_visible()

    page.get_by_label("einschränken, löschen zum Ende der Aufbewahrungsfrist").check()
    page.get_by_label("Grund").select_option(index=1)
    page.get_by_role("button", name="Weiter zur Bestätigung").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bitte bestätigen")
    check_accessibility(page, "privacy-confirm")
    screenshot(page, "privacy-confirm")

    page.get_by_role("button", name="Ja,").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erledigt")
    check_accessibility(page, "privacy-done")

    # Recorded through the same service as the JSON route: the case worker's read is refused now.
    with lotse.api() as api:
        refused = api.get(f"/participants/{registered}")
    assert refused.status_code != 200
    assert "processing-restricted" in refused.text
