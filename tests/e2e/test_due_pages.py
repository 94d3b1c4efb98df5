"""Wiedervorlage on the pages: the caseload's due items and a participant's, and dismissing one.

The rules (config/programmes/durchstarten.toml, [worklist]): a residence permit is
due 42 days before it expires; no coaching contact is due 28 days after the last
one while a module is open. With today 1 September 2022: a Duldung valid until
10.10.2022 is due 29.08.2022 (overdue); a last contact on 10.08.2022 is due
07.09.2022 (within the caseload's 14 days).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, into_module, milestone, registration
from tests.builders.pages import hidden, sign_in

TODAY = date(2022, 9, 1)


def register(
    client: TestClient, auth: Auth, org: str = "caritas-ahlen", **overrides: Any
) -> tuple[str, int]:
    answer = client.post(
        "/participants", json=registration(provider=org, **overrides), headers=auth(org=org)
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"]), int(answer.json()["position"])


@pytest.fixture
def people(client: TestClient, auth: Auth, runtime: Runtime) -> dict[str, str]:
    """Expiring: a Duldung until 10.10.2022; quiet: in F4, last contact 10.08.2022;
    elsewhere: the same Duldung at another provider."""
    expiring, _ = register(
        client, auth, residence_valid_until="2022-10-10", given_name="Dawit", family_name="Tesfay"
    )
    quiet, _ = register(client, auth, given_name="Samir", family_name="Nouri")
    for body in [
        *into_module("F4"),
        {
            "type": "CoachingContactLogged",
            "effective_date": "2022-08-10",
            "minutes": 30,
            "mode": "phone",
        },
    ]:
        assert milestone(client, auth, quiet, body).status_code == 201
    elsewhere, last = register(
        client,
        auth,
        org="vhs-warendorf",
        residence_valid_until="2022-10-10",
        given_name="Elsa",
        family_name="Anderswo",
    )
    # The pages read the read models: wait until they hold every write above.
    waited = client.get(
        "/worklist", params={"min_position": last}, headers=auth("coordinator", "warendorf")
    )
    assert waited.status_code == 200, waited.text
    runtime.journeys.clock = lambda: TODAY  # type: ignore[method-assign]
    return {"expiring": expiring, "quiet": quiet, "elsewhere": elsewhere}


def due_rows(page: str) -> list[tuple[str, str, str]]:
    """(due date text, what, participant id) of the caseload's Wiedervorlage table."""
    section = page.split('id="wiedervorlage"', 1)[1].split("</section>", 1)[0]
    return re.findall(
        r"<td>([^<]*(?:<strong>\(überfällig\)</strong>)?)</td>\s*<td>([^<]*)</td>\s*"
        r'<td><a href="/teilnehmende/([0-9a-f-]+)#wiedervorlage">',
        section,
    )


def worklist(client: TestClient, auth: Auth, **params: Any) -> list[dict[str, Any]]:
    answer = client.get("/worklist", params=params, headers=auth())
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_the_caseload_shows_what_is_due_overdue_first_as_get_worklist_lists_it(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth, people: dict[str, str]
) -> None:
    sign_in(web, runtime)

    page = web.get("/teilnehmende").text

    rows = due_rows(page)
    expected = worklist(client, auth, due_within_days=14)
    assert [r[2] for r in rows] == [i["participant_id"] for i in expected]
    assert (
        "29.08.2022 <strong>(überfällig)</strong>",
        "Aufenthaltstitel oder Duldung läuft ab",
        people["expiring"],
    ) in rows
    assert ("07.09.2022", "Kein Coaching-Kontakt seit Wochen", people["quiet"]) in rows
    overdue = [r for r in rows if "überfällig" in r[0]]
    assert rows[: len(overdue)] == overdue
    assert people["elsewhere"] not in {r[2] for r in rows}
    assert "Tesfay, Dawit" in page.split('id="wiedervorlage"', 1)[1].split("</section>")[0]


def test_a_coordinator_sees_the_due_items_of_the_municipality(
    web: TestClient, runtime: Runtime, people: dict[str, str]
) -> None:
    sign_in(web, runtime, "coordinator")

    rows = due_rows(web.get("/teilnehmende").text)

    assert {people["expiring"], people["quiet"], people["elsewhere"]} <= {r[2] for r in rows}


def test_assigned_to_me_narrows_the_due_items_too(
    web: TestClient, runtime: Runtime, people: dict[str, str]
) -> None:
    csrf = sign_in(web, runtime)

    page = web.post("/teilnehmende", data={"csrf_token": csrf, "mine": "1"}).text

    assert due_rows(page) == []
    assert "Nichts fällig in den nächsten 14 Tagen." in page


def test_the_participant_page_lists_the_open_items_with_a_dismiss_form(
    web: TestClient, runtime: Runtime, people: dict[str, str]
) -> None:
    sign_in(web, runtime)

    page = web.get(f"/teilnehmende/{people['expiring']}").text

    section = page.split('id="wiedervorlage"', 1)[1].split("</section>", 1)[0]
    assert (
        "<strong>Aufenthaltstitel oder Duldung läuft ab</strong>: fällig am 29.08.2022" in section
    )
    assert "(überfällig)" in section
    assert 'action="/teilnehmende/{}/wiedervorlage"'.format(people["expiring"]) in section
    assert '<option value="done_outside_lotse">außerhalb von Lotse erledigt</option>' in section
    # Dismissing has its own form here, not a step of its own further down.
    assert 'data-milestone="WorklistItemDismissed"' not in page


def dismiss_form(page: str) -> dict[str, str]:
    section = page.split('id="wiedervorlage"', 1)[1].split("</form>", 1)[0]
    names = ("csrf_token", "idempotency_key", "version", "kind", "due_date", "effective_date")
    return {name: hidden(section, name) for name in names}


def test_dismissing_an_item_with_a_reason_takes_it_off_both_lists(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth, people: dict[str, str]
) -> None:
    sign_in(web, runtime, user="s.berger")
    pid = people["expiring"]
    form = dismiss_form(web.get(f"/teilnehmende/{pid}").text)

    answer = web.post(
        f"/teilnehmende/{pid}/wiedervorlage", data={**form, "reason": "done_outside_lotse"}
    )
    again = web.post(
        f"/teilnehmende/{pid}/wiedervorlage", data={**form, "reason": "done_outside_lotse"}
    )

    assert answer.status_code == 303
    assert answer.headers["location"].endswith("gespeichert=WorklistItemDismissed#wiedervorlage")
    assert again.status_code == 303  # the same form twice: one dismissal (Idempotency-Key)
    shown = web.get(answer.headers["location"]).text
    assert "Gespeichert: Wiedervorlage verworfen." in shown
    assert "Nichts offen." in shown.split('id="wiedervorlage"', 1)[1].split("</section>")[0]
    assert pid not in {i["participant_id"] for i in worklist(client, auth, due_within_days=14)}
    dismissed = worklist(client, auth, due_within_days=14, state="dismissed")
    assert [
        (i["participant_id"], i["dismissed"]["reason"], i["dismissed"]["by"]) for i in dismissed
    ] == [(pid, "done_outside_lotse", "s.berger")]
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert [e["type"] for e in history].count("WorklistItemDismissed") == 1


def test_a_dismissal_without_a_reason_is_refused_in_german_and_saves_nothing(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth, people: dict[str, str]
) -> None:
    sign_in(web, runtime)
    pid = people["expiring"]
    form = dismiss_form(web.get(f"/teilnehmende/{pid}").text)

    answer = web.post(f"/teilnehmende/{pid}/wiedervorlage", data={**form, "reason": ""})

    assert answer.status_code == 422
    assert "Bitte wählen Sie einen Grund. Es wurde nichts gespeichert." in answer.text
    assert pid in {i["participant_id"] for i in worklist(client, auth, due_within_days=14)}


def test_a_dismissal_without_the_csrf_token_is_refused(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth, people: dict[str, str]
) -> None:
    sign_in(web, runtime)
    pid = people["expiring"]
    form = dismiss_form(web.get(f"/teilnehmende/{pid}").text)
    del form["csrf_token"]

    answer = web.post(f"/teilnehmende/{pid}/wiedervorlage", data={**form, "reason": "other"})

    assert answer.status_code == 403
    assert pid in {i["participant_id"] for i in worklist(client, auth, due_within_days=14)}


def test_dismissing_for_another_providers_participant_is_the_404_page(
    web: TestClient, runtime: Runtime, people: dict[str, str]
) -> None:
    sign_in(web, runtime)
    form = dismiss_form(web.get(f"/teilnehmende/{people['expiring']}").text)

    answer = web.post(
        f"/teilnehmende/{people['elsewhere']}/wiedervorlage", data={**form, "reason": "other"}
    )

    assert answer.status_code == 404
    assert "Nicht gefunden" in answer.text
