"""The Datenschutz pages over HTTP against real PostgreSQL: the read-access log, and
restriction and erasure only after the confirmation step, with the CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, register
from tests.builders.pages import hidden, sign_in


def names_of(client: TestClient, auth: Auth, pid: str) -> tuple[str | None, str | None]:
    body = client.get(f"/participants/{pid}", headers=auth("admin", "*")).json()
    return body["given_name"], body["family_name"]


def test_the_access_log_lists_who_read_the_participant(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    pid = register(client, auth)
    assert client.get(f"/participants/{pid}", headers=auth()).status_code == 200
    sign_in(web, runtime, "coordinator", "warendorf")

    page = web.get(f"/datenschutz/{pid}/zugriffe")

    assert page.status_code == 200
    assert "caseworker-caritas-ahlen" in page.text
    assert "Fallbegleitung (Coach beim Träger)" in page.text
    assert "gelesen" in page.text


def test_the_search_form_leads_to_the_access_log(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime, "coordinator", "warendorf")
    pid = "3f2d1c0b-0000-4000-8000-000000000001"

    answer = web.get("/datenschutz", params={"teilnehmende": pid})

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/datenschutz/{pid}/zugriffe"


def test_a_participant_of_another_municipality_is_a_404_page(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    pid = register(client, auth)
    sign_in(web, runtime, "coordinator", "duesseldorf")

    assert web.get(f"/datenschutz/{pid}/zugriffe").status_code == 404
    assert web.get(f"/datenschutz/{pid}/loeschung").status_code == 404


@pytest.mark.parametrize(
    ("role", "org"), [("caseworker", "caritas-ahlen"), ("auditor", "*"), ("funder", "*")]
)
def test_roles_other_than_coordinators_and_admins_are_refused(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth, role: str, org: str
) -> None:
    pid = register(client, auth)
    csrf = sign_in(web, runtime, role, org)

    assert web.get("/datenschutz").status_code == 403
    assert web.get(f"/datenschutz/{pid}/zugriffe").status_code == 403
    confirm = web.post(
        f"/datenschutz/{pid}/loeschung/bestaetigen",
        data={"csrf_token": csrf, "mode": "shred", "reason": "other", "bestaetigt": "ja"},
    )
    assert confirm.status_code == 403
    assert names_of(client, auth, pid) == ("Amina", "Haidari")
    assert 'href="/datenschutz"' not in web.get("/start").text


def test_erasure_needs_the_confirmation_step_and_the_csrf_token(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    pid = register(client, auth)
    csrf = sign_in(web, runtime, "coordinator", "warendorf")
    assert web.get(f"/datenschutz/{pid}/loeschung").status_code == 200
    choice = {"csrf_token": csrf, "mode": "shred", "reason": "participant_request"}

    # The form's post only says what will happen.
    confirmation = web.post(f"/datenschutz/{pid}/loeschung", data=choice)
    assert confirmation.status_code == 200
    assert "Das kann nicht rückgängig gemacht werden." in confirmation.text
    assert names_of(client, auth, pid) == ("Amina", "Haidari")
    key = hidden(confirmation.text, "idempotency_key")
    final = {**choice, "idempotency_key": key, "bestaetigt": "ja"}

    # Without the session's CSRF token: refused, nothing erased.
    without_token = web.post(
        f"/datenschutz/{pid}/loeschung/bestaetigen",
        data={k: v for k, v in final.items() if k != "csrf_token"},
    )
    assert without_token.status_code == 403
    assert names_of(client, auth, pid) == ("Amina", "Haidari")

    # Without the confirmation itself: asked again, nothing erased.
    unconfirmed = web.post(
        f"/datenschutz/{pid}/loeschung/bestaetigen",
        data={k: v for k, v in final.items() if k != "bestaetigt"},
    )
    assert unconfirmed.status_code == 200
    assert re.search(r'name="bestaetigt" value="ja"', unconfirmed.text)
    assert names_of(client, auth, pid) == ("Amina", "Haidari")

    # Confirmed: erased; the same form again changes nothing more.
    done = web.post(f"/datenschutz/{pid}/loeschung/bestaetigen", data=final)
    again = web.post(f"/datenschutz/{pid}/loeschung/bestaetigen", data=final)
    assert done.status_code == 200, done.text
    assert "sind gelöscht" in done.text
    assert again.status_code == 200
    assert names_of(client, auth, pid) == (None, None)


def test_restriction_leaves_the_data_to_auditors(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    pid = register(client, auth)
    csrf = sign_in(web, runtime, "coordinator", "warendorf")

    done = web.post(
        f"/datenschutz/{pid}/loeschung/bestaetigen",
        data={"csrf_token": csrf, "mode": "restrict", "reason": "other", "bestaetigt": "ja"},
    )

    assert done.status_code == 200
    assert "eingeschränkt" in done.text
    assert client.get(f"/participants/{pid}", headers=auth()).status_code == 403
    assert client.get(f"/participants/{pid}", headers=auth("auditor", "*")).status_code == 200


def test_an_erasure_without_a_reason_is_refused_next_to_the_field(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    pid = register(client, auth)
    csrf = sign_in(web, runtime, "coordinator", "warendorf")

    page = web.post(f"/datenschutz/{pid}/loeschung", data={"csrf_token": csrf, "mode": "shred"})

    assert page.status_code == 422
    assert 'id="loeschung-reason-error"' in page.text
    assert names_of(client, auth, pid) == ("Amina", "Haidari")
