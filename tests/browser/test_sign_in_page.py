"""The demo's sign-in page in Chromium: accessible, and usable with the keyboard alone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.builders.browser import (
    check_accessibility,
    demo_choice,
    screenshot,
    session_role,
    sign_in_as_demo,
    tab_to,
)


def test_the_demo_sign_in_page_has_no_serious_accessibility_violations(page: Page) -> None:
    page.goto("/auth/demo")

    expect(page).to_have_title(re.compile("Anmelden"))
    check_accessibility(page, "demo-sign-in")
    screenshot(page, "demo-sign-in")


def test_a_case_worker_signs_in_with_the_keyboard_alone(page: Page) -> None:
    page.goto("/auth/demo")

    tab_to(page, demo_choice("caseworker"))
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/auth/demo" not in url)

    assert session_role(page) == "caseworker"


def test_each_demo_role_can_sign_in_by_clicking(page: Page) -> None:
    for role in ("coordinator", "funder", "auditor", "caseworker"):
        page.context.clear_cookies()

        sign_in_as_demo(page, role)

        assert session_role(page) == role


def test_without_signing_in_there_is_no_session(page: Page) -> None:
    page.goto("/auth/demo")

    assert session_role(page) is None
