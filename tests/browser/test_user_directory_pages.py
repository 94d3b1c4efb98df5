"""An administrator in Chromium approves a person who signed in for the first time:
the Benutzer list shows who waits, the person's page grants a role, and both pages
pass axe."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from tests.builders.browser import Served, check_accessibility, sign_in_as_demo

WAITING = {
    "issuer": "caritas",
    "subject": "n.neu",
    "display_name": "Nina Neu",
    "email": "nina@caritas.example",
    "memberships": [],
}


def test_an_administrator_grants_a_waiting_person_a_role(page: Page, lotse: Served) -> None:
    with lotse.api("admin", "*") as api:
        added = api.post("/users", json=WAITING)
        assert added.status_code == 201, added.text
        # The list reads the users read model: wait until it shows the person.
        for _ in range(100):
            if any(u["user_id"] == "caritas:n.neu" for u in api.get("/users").json()):
                break
            time.sleep(0.1)
    sign_in_as_demo(page, "admin")

    page.get_by_role("navigation").get_by_role("link", name="Benutzer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Benutzer")
    expect(page.get_by_role("row", name="caritas:n.neu wartet auf Freigabe")).to_be_visible()
    check_accessibility(page, "users")
    page.get_by_role("link", name="caritas:n.neu").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Benutzer/in")
    page.get_by_label("Rolle", exact=True).select_option(label="Fallbegleitung (Coach beim Träger)")
    page.get_by_label("Organisation").select_option(label="Caritasverband Ahlen")
    page.get_by_role("button", name="Rolle vergeben").click()

    expect(page.get_by_role("status")).to_have_text("Die Rolle ist vergeben.")
    expect(page.get_by_role("button", name="Entziehen")).to_have_accessible_name(
        "Rolle entziehen: Fallbegleitung (Coach beim Träger) – Caritasverband Ahlen"  # noqa: RUF001
    )
    check_accessibility(page, "user")
