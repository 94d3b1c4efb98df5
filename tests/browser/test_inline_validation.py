"""Inline checks in Chromium: leaving a changed field shows its German error at once,
without submitting, and the field the person moved on to keeps the focus."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.builders.browser import check_accessibility, sign_in_as_demo


def test_leaving_an_emptied_field_shows_the_german_error_without_submitting(
    page: Page,
) -> None:
    sign_in_as_demo(page, "caseworker")
    page.goto("/teilnehmende/neu")
    given = page.get_by_label("Vorname")
    given.fill("Mariam")
    given.press("Tab")
    given.fill("")

    with page.expect_response("**/teilnehmende/neu/pruefen") as checked:
        page.get_by_label("Familienname").click()  # leaving the field sends the change
    page.get_by_label("Familienname").press_sequentially("Kar")

    assert checked.value.status == 200
    error = page.locator("#neu-given_name-error")
    expect(error).to_have_text("Bitte ausfüllen.")
    expect(page.get_by_label("Vorname")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Vorname")).to_have_attribute(
        "aria-describedby", "neu-given_name-error"
    )
    # Nothing submitted: same page, no form-level notice, no error for untouched fields.
    assert page.url.endswith("/teilnehmende/neu")
    expect(page.locator(".notice.error")).to_have_count(0)
    expect(page.locator("#neu-birth_date-error")).to_have_count(0)
    # The person typed on in the next field undisturbed.
    expect(page.get_by_label("Familienname")).to_be_focused()
    expect(page.get_by_label("Familienname")).to_have_value("Kar")
    check_accessibility(page, "inline-validation")

    given.fill("Mariam")
    page.get_by_label("Familienname").click()
    expect(page.locator("#neu-given_name-error")).to_have_count(0)
    expect(page.get_by_label("Vorname")).not_to_have_attribute("aria-invalid", "true")
