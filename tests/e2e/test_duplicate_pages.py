"""Mögliche Doppelerfassungen: the coordinator's page lists pairs (no names) and decides them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, registration
from tests.builders.pages import sign_in


def pair(client: TestClient, auth: Auth) -> tuple[str, str]:
    ids = []
    for org, family in (("caritas-ahlen", "Haidari"), ("vhs-warendorf", "Haydari")):
        response = client.post(
            "/participants",
            json=registration(provider=org, family_name=family),
            headers=auth(org=org),
        )
        assert response.status_code == 201, response.text
        ids.append(str(response.json()["id"]))
    return ids[0], ids[1]


def test_the_coordinator_sees_the_pair_without_names_and_links_it(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    a, b = pair(client, auth)
    csrf = sign_in(web, runtime, "coordinator", "warendorf")

    page = web.get("/doppelerfassungen")

    assert page.status_code == 200
    assert "Mögliche Doppelerfassungen" in page.text
    assert 'href="/doppelerfassungen"' in page.text  # in the navigation
    assert a in page.text
    assert b in page.text
    assert "Volkshochschule Warendorf" in page.text
    assert "Amina" not in page.text
    assert "Haidari" not in page.text

    without_csrf = web.post(
        "/doppelerfassungen", data={"participant_a": a, "participant_b": b, "decision": "linked"}
    )
    assert without_csrf.status_code == 403
    form = {"csrf_token": csrf, "participant_a": a, "participant_b": b}
    linked = web.post("/doppelerfassungen", data={**form, "decision": "linked"})
    assert linked.status_code == 303
    after = web.get(linked.headers["location"])
    assert "Gespeichert: dieselbe Person" in after.text
    assert "dieselbe Person</td>" in after.text

    again = web.post(
        "/doppelerfassungen", data={**form, "decision": "dismissed", "reason": "relatives"}
    )
    assert again.status_code == 409
    assert "Über dieses Paar wurde bereits entschieden." in again.text


def test_a_dismissal_without_a_reason_is_refused_in_german(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    a, b = pair(client, auth)
    csrf = sign_in(web, runtime, "coordinator", "warendorf")
    form = {"csrf_token": csrf, "participant_a": a, "participant_b": b, "decision": "dismissed"}

    refused = web.post("/doppelerfassungen", data=form)

    assert refused.status_code == 422
    assert "Bitte wählen Sie einen Grund" in refused.text
    assert "offen</td>" in refused.text


def test_a_case_worker_gets_no_page_and_no_menu_entry(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pair(client, auth)
    sign_in(web, runtime)

    assert web.get("/doppelerfassungen").status_code == 403
    assert 'href="/doppelerfassungen"' not in web.get("/teilnehmende").text
