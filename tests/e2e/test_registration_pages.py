"""Neue Teilnehmende/r: the registration form, double submits, German errors, inert script."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, registration
from tests.builders.journeys import AMINA
from tests.builders.pages import registration_form, sign_in

SCRIPT = '<script>alert("x")</script>'


def test_a_registration_through_the_form_opens_the_participants_page(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu")

    answer = web.post("/teilnehmende/neu", data=registration_form(form.text))

    assert form.status_code == 200
    assert answer.status_code == 303
    page = web.get(answer.headers["location"])
    assert "Gespeichert: Aufnahme" in page.text
    assert AMINA["family_name"] in page.text
    # The next steps of the journey are open first.
    assert re.search(r'<details class="step" id="schritt-EligibilityAssessed" open>', page.text)
    assert re.search(r'<details class="step" id="schritt-ConsentGiven" open>', page.text)
    assert "Doppelerfassung" not in page.text
    assert "Möglicherweise" not in page.text


def test_a_second_registration_of_the_same_person_shows_where_never_whose(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    # Registered at VHS Warendorf (same municipality) with another romanisation.
    earlier = client.post(
        "/participants",
        json=registration(provider="vhs-warendorf", family_name="Haydari"),
        headers=auth(org="vhs-warendorf"),
    )
    assert earlier.status_code == 201, earlier.text
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu")

    answer = web.post("/teilnehmende/neu", data=registration_form(form.text))

    assert answer.status_code == 303
    page = web.get(answer.headers["location"])
    assert (
        "Möglicherweise ist diese Person bereits bei einem anderen Träger in Ihrer Kommune"
        " registriert; Ihre Koordination kann das prüfen." in page.text
    )
    # Nothing of the other record: not its id.
    assert earlier.json()["id"] not in page.text


def test_a_double_submit_registers_one_participant(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    sign_in(web, runtime)
    posted = registration_form(web.get("/teilnehmende/neu").text)

    first = web.post("/teilnehmende/neu", data=posted)
    second = web.post("/teilnehmende/neu", data=posted)

    assert first.status_code == second.status_code == 303
    assert first.headers["location"].split("?")[0] == second.headers["location"].split("?")[0]
    position = re.search(r"stand=(\d+)", second.headers["location"])
    assert position is not None
    listed = client.get("/participants", params={"min_position": position.group(1)}, headers=auth())
    assert len(listed.json()["items"]) == 1


def test_missing_and_malformed_fields_are_named_in_german(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu").text

    answer = web.post(
        "/teilnehmende/neu",
        data=registration_form(form, given_name="", birth_date="32.13.2000", nationality="Syrien"),
    )

    assert answer.status_code == 422
    assert 'id="neu-given_name-error">Bitte ausfüllen.' in answer.text
    assert 'id="neu-birth_date-error">Bitte ein gültiges Datum' in answer.text
    assert 'id="neu-nationality-error">Das Format stimmt nicht.' in answer.text
    assert "Es wurde nichts gespeichert" in answer.text


def test_script_in_every_text_field_renders_inert(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu").text

    answer = web.post(
        "/teilnehmende/neu",
        data=registration_form(
            form, given_name=SCRIPT, family_name=SCRIPT, age_exception_reason=SCRIPT
        ),
    )
    page = web.get(answer.headers["location"])
    refused = web.post(
        "/teilnehmende/neu", data=registration_form(form, given_name=SCRIPT, gender="")
    )
    stand = re.search(r"stand=(\d+)", answer.headers["location"])
    assert stand is not None
    listing = web.get("/teilnehmende", params={"stand": stand.group(1)})

    assert answer.status_code == 303
    for shown in (page, refused, listing):
        assert SCRIPT not in shown.text
        assert "&lt;script&gt;" in shown.text


def test_a_role_that_may_not_register_gets_403(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime, "coordinator")

    assert web.get("/teilnehmende/neu").status_code == 403


def test_a_post_after_the_session_expired_says_the_entry_was_not_saved(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu").text
    web.cookies.clear()  # the session expired while the form was being filled in

    answer = web.post(
        "/teilnehmende/neu",
        data=registration_form(form),
        headers={"Referer": "http://testserver/teilnehmende/neu"},
    )

    assert answer.status_code == 303
    assert answer.headers["location"] == "/anmeldung?next=%2Fteilnehmende%2Fneu&unsaved=1"
    told = web.get(answer.headers["location"])
    assert "Ihre Eingabe wurde nicht gespeichert." in told.text
    assert AMINA["family_name"] not in told.text


def test_a_nul_byte_or_an_oversized_body_is_refused_and_writes_nothing(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu").text
    before = runtime.journeys.recorder.max_notification_id()

    nul = web.post("/teilnehmende/neu", data=registration_form(form, given_name="Am\x00ina"))
    huge = web.post(
        "/teilnehmende/neu", data=registration_form(form, given_name="A" * (5 * 1024 * 1024))
    )

    assert nul.status_code == 422
    assert "Es wurde nichts gespeichert" in nul.text
    assert huge.status_code == 413
    assert runtime.journeys.recorder.max_notification_id() == before
