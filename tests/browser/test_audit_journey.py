"""An auditor in Chromium compares a participant's history as of a date, as known
today and as it was known at an earlier time, side by side; a correction recorded
after that time shows as the difference.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.builders.api import into_module, registration
from tests.builders.browser import (
    Served,
    check_accessibility,
    screenshot,
    sign_in_as_demo,
)


@pytest.fixture(scope="module")
def corrected_later(lotse: Served) -> tuple[str, str]:
    """A participant in F4 from 3 March 2021, corrected to 10 March after a moment
    ``known_at`` (Lotse's local time, whole seconds, as the form takes it)."""
    with lotse.api() as api:
        created = api.post("/participants", json=registration())
        assert created.status_code == 201, created.text
        pid = str(created.json()["id"])
        for body in into_module():
            assert api.post(f"/participants/{pid}/milestones", json=body).is_success
        time.sleep(1.1)
        known_at = datetime.now(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M:%S")
        time.sleep(1.1)
        corrected = api.post(
            f"/participants/{pid}/milestones",
            json={
                "type": "EntryCorrected",
                "effective_date": "2021-03-10",
                "corrects_version": 4,
                "reason": "Eintritt war erst später",
                "changes": {"effective_date": "2021-03-10"},
            },
        )
        assert corrected.status_code == 201, corrected.text
    return pid, known_at


def test_an_auditor_compares_as_of_and_known_at_side_by_side(
    page: Page, corrected_later: tuple[str, str]
) -> None:
    pid, known_at = corrected_later
    sign_in_as_demo(page, "auditor")
    page.get_by_role("navigation").get_by_role("link", name="Prüfung").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Prüfung")
    check_accessibility(page, "audit")

    page.get_by_label("Kennung der Person").first.fill(pid)
    page.get_by_label("Stichtag").fill("2021-03-05")
    page.get_by_label("Kenntnisstand (Datum und Uhrzeit)").fill(known_at)
    page.get_by_role("button", name="Vergleichen").click()

    today = page.get_by_role("region", name="nach heutigem Wissen")
    then = page.get_by_role("region", name="wie bekannt am")
    expect(today).to_be_visible()
    # On 5 March 2021 the person was in F4 as known then; today's knowledge says
    # the entry was on 10 March.
    expect(then).to_contain_text("Eintritt in einen Förderbaustein")
    expect(today).not_to_contain_text("Eintritt in einen Förderbaustein")
    expect(page.locator("main")).to_contain_text("(abweichend)")
    check_accessibility(page, "audit-compared")
    screenshot(page, "audit-compared")


def test_the_auditor_checks_the_chain_of_events(page: Page) -> None:
    sign_in_as_demo(page, "auditor")
    page.goto("/pruefung")

    page.get_by_role("link", name="Unveränderbarkeit des Protokolls prüfen").click()

    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check_accessibility(page, "audit-verification")
