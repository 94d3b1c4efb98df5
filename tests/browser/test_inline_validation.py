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


def test_a_steps_emptied_date_shows_its_error_and_the_module_list_stays(page: Page) -> None:
    sign_in_as_demo(page, "caseworker")
    page.goto("/teilnehmende/neu")
    page.get_by_label("Aufnahmedatum").fill("2021-03-01")
    page.get_by_label("Vorname").fill("Mariam")
    page.get_by_label("Familienname").fill("Karimi")
    page.get_by_label("Geburtsdatum").fill("2002-05-04")
    page.get_by_label("Geschlecht").select_option(label="divers")
    page.get_by_label("Staatsangehörigkeit").select_option("SY")
    page.get_by_label("Aufenthaltsstatus", exact=True).select_option("gestattung")
    page.get_by_role("button", name="Aufnahme speichern").click()
    expect(page.get_by_role("status")).to_contain_text("Gespeichert: Aufnahme")
    entry = page.locator("details.step").filter(
        has=page.get_by_text("Eintritt in einen Förderbaustein", exact=True)
    )
    entry.locator("summary").click()

    entry.get_by_label("Förderbaustein").select_option("F4")
    entry.get_by_label("Datum").fill("")
    with page.expect_response("**/schritte/pruefen"):
        entry.get_by_label("Förderbaustein").focus()

    expect(page.locator("#ModuleEntered-effective_date-error")).to_have_text("Bitte ausfüllen.")
    expect(entry.get_by_label("Datum")).to_have_attribute("aria-invalid", "true")
    # The swapped-in fields are the page's: the module is still a list, still chosen.
    expect(entry.get_by_label("Förderbaustein")).to_have_value("F4")
    expect(entry.get_by_role("alert")).to_have_count(0)  # nothing was submitted
    check_accessibility(page, "inline-validation-step")


def test_a_new_courses_end_before_its_start_is_named_when_the_field_is_left(page: Page) -> None:
    sign_in_as_demo(page, "caseworker")
    page.goto("/kurse/neu")
    page.get_by_label("Titel des Kurses").fill("Sprachkurs am Nachmittag")
    page.get_by_label("Förderbaustein").select_option(index=1)
    page.get_by_label("Art des Kurses").select_option(index=1)
    page.get_by_label("Geplante Unterrichtsstunden").fill("40,5")
    page.get_by_label("Beginn").fill("2021-06-30")
    page.get_by_label("Ende").fill("2021-04-01")

    with page.expect_response("**/kurse/neu/pruefen") as checked:
        page.get_by_label("Titel des Kurses").focus()  # leaving the end date sends the form

    assert checked.value.status == 200
    expect(page.locator("#kurs-end_date-error")).to_have_text("Das Ende liegt vor dem Beginn.")
    expect(page.get_by_label("Ende")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Titel des Kurses")).to_be_focused()
    assert page.url.endswith("/kurse/neu")  # nothing submitted
    check_accessibility(page, "inline-validation-course")
