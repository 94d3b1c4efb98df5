"""The participant's page: core data, timeline, catalogue-built forms, refusals in German."""

from __future__ import annotations

import re
from uuid import uuid4

from fastapi.testclient import TestClient

from lotse.api.pages.participant import ENTRY_PAGES, OWN_FORMS
from lotse.api.runtime import Runtime
from lotse.domain.catalogue import MILESTONES
from tests.builders.api import Auth, milestone
from tests.builders.journeys import AMINA
from tests.builders.pages import (
    form_of,
    hidden,
    registered,
    sign_in,
    unwritable_access_log,
)


def step_form(page: str, milestone_type: str) -> dict[str, str]:
    """The hidden fields of a step's form, as the browser would post them."""
    form = form_of(page, milestone_type)
    return {
        name: hidden(form, name) for name in ("csrf_token", "idempotency_key", "version", "type")
    }


def test_the_page_shows_core_data_and_the_timeline(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)

    page = web.get(f"/teilnehmende/{pid}", params={"stand": position})

    assert page.status_code == 200
    assert AMINA["family_name"] in page.text
    assert "Aufnahme" in page.text
    title = re.search(r"<title>(.*?)</title>", page.text)
    assert title is not None
    assert AMINA["family_name"] not in title.group(1)


def test_an_out_of_scope_id_gives_the_same_404_page_as_an_unknown_id(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, _ = registered(client, auth)
    sign_in(web, runtime, "caseworker", "awo-duesseldorf")

    foreign = web.get(f"/teilnehmende/{pid}")
    unknown = web.get(f"/teilnehmende/{uuid4()}")
    malformed = web.get("/teilnehmende/keine-id")

    assert foreign.status_code == unknown.status_code == malformed.status_code == 404
    assert foreign.text == unknown.text == malformed.text
    assert "Nicht gefunden" in foreign.text
    assert AMINA["family_name"] not in foreign.text


def test_a_milestone_recorded_through_its_form_shows_in_the_timeline(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text

    answer = web.post(
        f"/teilnehmende/{pid}/schritte",
        data={
            **step_form(page, "LanguageLevelAssessed"),
            "effective_date": "2021-03-05",
            "level": "A2",
        },
    )

    assert answer.status_code == 303
    shown = web.get(answer.headers["location"])
    assert "Gespeichert: Sprachstand festgestellt" in shown.text
    assert "Sprachstand A2" in shown.text
    assert "05.03.2021" in shown.text


def test_a_double_submit_records_one_event(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text
    posted = {
        **step_form(page, "LanguageLevelAssessed"),
        "effective_date": "2021-03-05",
        "level": "A2",
    }

    first = web.post(f"/teilnehmende/{pid}/schritte", data=posted)
    second = web.post(f"/teilnehmende/{pid}/schritte", data=posted)

    assert first.status_code == second.status_code == 303
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert [e["type"] for e in history].count("LanguageLevelAssessed") == 1


def test_missing_and_malformed_fields_are_named_in_german_next_to_the_field(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text

    answer = web.post(
        f"/teilnehmende/{pid}/schritte",
        data={
            **step_form(page, "CoachingContactLogged"),
            "effective_date": "31.02.2021",
            "minutes": "viele",
        },
    )

    assert answer.status_code == 422
    form = form_of(answer.text, "CoachingContactLogged")
    assert re.search(
        r'id="CoachingContactLogged-effective_date-error">Bitte ein gültiges Datum', form
    )
    assert re.search(r'id="CoachingContactLogged-minutes-error">Bitte eine ganze Zahl', form)
    assert re.search(r'id="CoachingContactLogged-mode-error">Bitte ausfüllen', form)
    assert "Es wurde nichts gespeichert" in form


def test_a_step_the_journey_forbids_shows_the_rule_in_german(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text

    answer = web.post(
        f"/teilnehmende/{pid}/schritte",
        data={**step_form(page, "ModuleEntered"), "effective_date": "2021-03-03", "module": "F4"},
    )

    assert answer.status_code == 409
    form = form_of(answer.text, "ModuleEntered")
    assert "Es wurde nichts gespeichert" in form
    assert "Die Förderberechtigung ist nicht festgestellt." in form


def test_a_step_dated_before_intake_is_refused_next_to_the_date(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text

    answer = web.post(
        f"/teilnehmende/{pid}/schritte",
        data={
            **step_form(page, "LanguageLevelAssessed"),
            "effective_date": "01.02.2021",
            "level": "A2",
        },
    )

    assert answer.status_code == 409
    form = form_of(answer.text, "LanguageLevelAssessed")
    assert re.search(
        r'id="LanguageLevelAssessed-effective_date-error">Das Datum liegt vor der Aufnahme', form
    )
    assert 'value="2021-02-01"' not in form  # shown as typed
    assert 'value="01.02.2021"' in form


def test_a_stale_page_says_so_and_offers_to_reload(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text
    meanwhile = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-04", "level": "A1"}
    assert milestone(client, auth, pid, meanwhile).status_code == 201

    answer = web.post(
        f"/teilnehmende/{pid}/schritte",
        data={
            **step_form(page, "LanguageLevelAssessed"),
            "effective_date": "2021-03-05",
            "level": "A2",
        },
    )

    assert answer.status_code == 409
    assert "Diese Seite ist veraltet" in answer.text
    assert f'href="/teilnehmende/{pid}">Seite neu laden' in answer.text
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert [e["type"] for e in history].count("LanguageLevelAssessed") == 1


def test_script_typed_into_a_text_field_is_shown_inert(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text
    script = '<script>alert("x")</script>'

    answer = web.post(
        f"/teilnehmende/{pid}/schritte",
        data={
            **step_form(page, "InternshipStarted"),
            "effective_date": "2021-03-05",
            "occupation": script,
            "employer_name": script,
        },
    )
    shown = web.get(answer.headers["location"]).text

    assert answer.status_code == 303
    assert script not in shown
    assert "<script>alert" not in shown


def test_the_page_offers_a_form_for_every_milestone_of_the_catalogue(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)

    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text

    offered = re.findall(r'data-milestone="([A-Za-z]+)"', page)
    # Corrections, voids and dismissals have forms of their own (an entry's, a due item's).
    assert offered == [m.name for m in MILESTONES if m.name not in ENTRY_PAGES | OWN_FORMS]


def test_the_teilhabemanagement_is_offered_only_what_it_may_record(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime, "teilhabemanager")

    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text

    offered = re.findall(r'data-milestone="([A-Za-z]+)"', page)
    assert offered == ["ModuleEntered", "ModuleExited", "CoachingContactLogged"]
    assert '<option value="F6"' in form_of(page, "ModuleEntered")
    assert '<option value="F4"' not in form_of(page, "ModuleEntered")


def test_an_auditor_reads_the_page_but_is_offered_no_forms(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime, "auditor")

    page = web.get(f"/teilnehmende/{pid}", params={"stand": position})

    assert page.status_code == 200
    assert "data-milestone" not in page.text


def test_reading_the_page_and_a_refused_attempt_are_in_the_read_access_log(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime, user="coach-1")
    assert web.get(f"/teilnehmende/{pid}", params={"stand": position}).status_code == 200
    sign_in(web, runtime, "caseworker", "awo-duesseldorf", user="coach-elsewhere")
    assert web.get(f"/teilnehmende/{pid}").status_code == 404

    log = client.get(f"/participants/{pid}/access-log", headers=auth("coordinator", "warendorf"))

    entries = {(e["user_id"], e["endpoint"], e["outcome"]) for e in log.json()["entries"]}
    assert ("coach-1", "GET /teilnehmende/{participant_id}", 200) in entries
    assert ("coach-elsewhere", "GET /teilnehmende/{participant_id}", 404) in entries


def test_a_read_that_cannot_be_logged_is_a_503_page_without_the_data(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth, database_url: str
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    web.get(f"/teilnehmende/{pid}", params={"stand": position})

    with unwritable_access_log(database_url):
        pages = [web.get(f"/teilnehmende/{pid}"), web.get("/teilnehmende")]

    for page in pages:
        assert page.status_code == 503
        assert "Vorübergehend nicht verfügbar" in page.text
        assert int(page.headers["retry-after"]) > 0
        assert AMINA["family_name"] not in page.text


def test_a_step_the_role_is_not_offered_is_refused_at_the_top_of_the_page(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime, "teilhabemanager")
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text
    posted = {**step_form(page, "CoachingContactLogged"), "type": "Exited"}

    answer = web.post(
        f"/teilnehmende/{pid}/schritte",
        data={
            **posted,
            "effective_date": "2021-03-05",
            "reason": "completed",
            "destination": "school",
        },
    )

    assert answer.status_code == 403
    assert "Das Teilhabemanagement erfasst nur Ein- und Austritte in F6" in answer.text
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert "Exited" not in [e["type"] for e in history]


def referred_case(client: TestClient, auth: Auth) -> tuple[str, int]:
    """A participant of caritas-ahlen in F1, referred to vhs-warendorf for F4 (accepted)."""
    pid, _ = registered(client, auth)
    for body in (
        {"type": "EligibilityAssessed", "eligible": True, "target_group": "duldung"},
        {"type": "ConsentGiven", "consent_version": "2020-01"},
        {"type": "ModuleEntered", "module": "F1"},
    ):
        answer = milestone(client, auth, pid, {"effective_date": "2021-03-02", **body})
        assert answer.status_code == 201, answer.text
    made = client.post(
        f"/participants/{pid}/referrals",
        json={"provider": "vhs-warendorf", "module": "F4", "effective_date": "2021-03-03"},
        headers=auth(),
    )
    assert made.status_code == 201, made.text
    accepted = client.post(
        f"/participants/{pid}/referrals/{made.json()['referral_id']}/acceptance",
        json={"effective_date": "2021-03-04"},
        headers=auth("caseworker", "vhs-warendorf"),
    )
    assert accepted.status_code == 201, accepted.text
    return pid, int(accepted.json()["position"])


def test_a_referred_provider_sees_the_core_data_and_records_its_module_only(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = referred_case(client, auth)
    sign_in(web, runtime, "caseworker", "vhs-warendorf")

    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text

    assert AMINA["family_name"] in page
    assert "Aufenthaltsstatus" not in page.split('id="verlauf"')[0]
    assert "Förderberechtigt" not in page
    assert "F1 - " not in page.split('id="verlauf"')[0]  # the lead provider's module
    offered = re.findall(r'data-milestone="([A-Za-z]+)"', page)
    assert offered == [
        "ModuleEntered",
        "ModuleExited",
        "CourseAttendanceRecorded",
    ]
    assert '<option value="F4"' in form_of(page, "ModuleEntered")
    assert '<option value="F1"' not in form_of(page, "ModuleEntered")
    assert "/eintraege/" not in page  # nothing of the lead provider's to correct or void
