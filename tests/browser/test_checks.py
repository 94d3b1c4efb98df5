"""The browser tests' own checks fail when they should: a page with a serious
accessibility violation, a page that breaks its Content-Security-Policy, a page
whose stylesheet is missing. (Pages stand in through Playwright's routing, on
Lotse's own address, so the policy applies as it would to Lotse's pages.)"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route

from tests.builders.browser import check_accessibility, tab_to

STRICT = "default-src 'self'; script-src 'self'; frame-ancestors 'none'"


def serve(page: Page, body: str) -> None:
    def answer(route: Route) -> None:
        route.fulfill(
            status=200,
            body=f'<!doctype html><html lang="de"><head><title>Probe</title></head>'
            f"<body><main><h1>Probe</h1>{body}</main></body></html>",
            headers={"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": STRICT},
        )

    page.route("**/probe", answer)
    page.goto("/probe")


def test_a_page_with_a_serious_violation_fails_naming_rule_element_and_screenshot(
    page: Page,
) -> None:
    serve(page, '<form><input id="name" type="text"></form>')

    with pytest.raises(AssertionError) as failed:
        check_accessibility(page, "probe")

    message = str(failed.value)
    assert "label (critical)" in message
    assert "#name" in message
    assert re.search(r"screenshot \S+\.png", message)


def test_an_inline_script_the_policy_blocks_fails_the_check(page: Page) -> None:
    serve(page, "<script>document.title = 'x'</script>")

    with pytest.raises(AssertionError, match="Content Security Policy"):
        check_accessibility(page, "probe")


def test_a_missing_stylesheet_fails_the_check(page: Page) -> None:
    serve(page, '<link rel="stylesheet" href="/static/nowhere.css">')

    with pytest.raises(AssertionError, match=r"nowhere\.css answered 404"):
        check_accessibility(page, "probe")


def test_a_control_the_keyboard_cannot_reach_fails_naming_the_focus_order(page: Page) -> None:
    serve(page, '<button type="button">Eins</button><span>Zwei</span>')

    with pytest.raises(AssertionError, match="'Zwei' was not reached with Tab"):
        tab_to(page, "Zwei", steps=5)
