"""Benutzer: administrators approve, grant, withdraw and deactivate on German pages,
through the same directory and access policy as ``/users``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.pages.routing import CSRF_REFUSED
from lotse.api.runtime import Runtime
from lotse.domain.directory import Directory
from tests.builders.api import Auth
from tests.builders.pages import sign_in

CASEWORKER_AT_CARITAS = "Fallbegleitung (Coach beim Träger) – Caritasverband Ahlen"  # noqa: RUF001


def waiting_person(runtime: Runtime, client: TestClient, auth: Auth) -> str:
    """Someone who signed in for the first time with no mapped group: waiting."""
    subject = f"neu-{uuid.uuid4().hex[:8]}"
    Directory(runtime.journeys).note_first_sign_in("caritas", subject, "Nina Neu", "n@x.example")
    return user_id_of(runtime, client, auth, f"caritas:{subject}")


def person_with(client: TestClient, auth: Auth, role: str, member_of: str, runtime: Runtime) -> str:
    body = {
        "issuer": "caritas",
        "subject": f"p-{uuid.uuid4().hex[:8]}",
        "display_name": "Erika Beispiel",
        "email": "erika@x.example",
        "memberships": [{"role": role, "member_of": member_of}],
    }
    added = client.post("/users", json=body, headers=auth("admin", "*"))
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


def user_id_of(runtime: Runtime, client: TestClient, auth: Auth, user_id: str) -> str:
    """The stream id of a user, once the users read model has caught up (or "")."""
    position = runtime.journeys.recorder.max_notification_id()
    listed = client.get("/users", params={"min_position": position}, headers=auth("admin", "*"))
    assert listed.status_code == 200, listed.text
    return next((str(u["id"]) for u in listed.json() if u["user_id"] == user_id), "")


def memberships(client: TestClient, auth: Auth, stream_id: str) -> list[dict[str, Any]]:
    found = client.get(f"/users/{stream_id}", headers=auth("admin", "*"))
    assert found.status_code == 200, found.text
    listed: list[dict[str, Any]] = found.json()["memberships"]
    return listed


def test_an_org_admin_approves_a_person_waiting_after_the_first_sign_in(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    stream_id = waiting_person(runtime, client, auth)
    csrf = sign_in(web, runtime, "org_admin")

    listed = web.get("/benutzer", params={"wartend": "1"})
    page = web.get(f"/benutzer/{stream_id}")
    granted = web.post(
        f"/benutzer/{stream_id}/rollen",
        data={"csrf_token": csrf, "role": "caseworker", "member_of": "caritas-ahlen"},
    )
    after = web.get(granted.headers["location"])

    assert listed.status_code == 200
    assert f'href="/benutzer/{stream_id}"' in listed.text
    assert "wartet auf Freigabe" in listed.text
    assert "wartet auf Freigabe" in page.text
    assert "Nina Neu" in page.text
    # An organisation admin is offered its own organisation and no administrator role.
    assert '<option value="caritas-ahlen">Caritasverband Ahlen</option>' in page.text
    assert 'value="admin"' not in page.text
    assert 'value="org_admin"' not in page.text
    assert 'value="warendorf"' not in page.text
    assert granted.status_code == 303
    assert "Die Rolle ist vergeben." in after.text
    assert CASEWORKER_AT_CARITAS in after.text
    assert memberships(client, auth, stream_id) == [
        {"role": "caseworker", "member_of": "caritas-ahlen"}
    ]


def test_an_org_admin_cannot_grant_an_administrator_role_with_a_forged_form(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    stream_id = waiting_person(runtime, client, auth)
    csrf = sign_in(web, runtime, "org_admin")

    answer = web.post(
        f"/benutzer/{stream_id}/rollen",
        data={"csrf_token": csrf, "role": "admin", "member_of": "caritas-ahlen"},
    )

    assert answer.status_code == 403
    assert "<h1>" in answer.text
    assert memberships(client, auth, stream_id) == []


def test_an_org_admin_neither_lists_nor_opens_people_of_another_organisation(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    elsewhere = person_with(client, auth, "caseworker", "diakonie-duesseldorf", runtime)
    csrf = sign_in(web, runtime, "org_admin")
    position = runtime.journeys.recorder.max_notification_id()
    client.get("/users", params={"min_position": position}, headers=auth("admin", "*"))

    listed = web.get("/benutzer")
    page = web.get(f"/benutzer/{elsewhere}")
    withdrawn = web.post(
        f"/benutzer/{elsewhere}/deaktivierung",
        data={"csrf_token": csrf, "reason": "left-organisation"},
    )

    assert elsewhere not in listed.text
    assert page.status_code == 404
    assert withdrawn.status_code == 404
    assert "Erika Beispiel" not in page.text + withdrawn.text


def test_granting_a_role_held_already_is_refused_in_german_and_changes_nothing(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    stream_id = person_with(client, auth, "caseworker", "caritas-ahlen", runtime)
    csrf = sign_in(web, runtime, "org_admin")

    answer = web.post(
        f"/benutzer/{stream_id}/rollen",
        data={"csrf_token": csrf, "role": "caseworker", "member_of": "caritas-ahlen"},
    )

    assert answer.status_code == 409
    assert "Diese Rolle bei dieser Organisation besteht bereits." in answer.text
    assert "Es wurde nichts gespeichert." in answer.text
    assert len(memberships(client, auth, stream_id)) == 1


def test_a_role_at_the_wrong_kind_of_organisation_is_refused_naming_the_rule(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    stream_id = waiting_person(runtime, client, auth)
    csrf = sign_in(web, runtime, "admin")

    answer = web.post(
        f"/benutzer/{stream_id}/rollen",
        data={"csrf_token": csrf, "role": "caseworker", "member_of": "warendorf"},
    )

    assert answer.status_code == 422
    assert "Fallbegleitung bei einem Träger" in answer.text
    assert memberships(client, auth, stream_id) == []


def test_a_role_is_withdrawn_and_access_deactivated_and_restored(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    stream_id = person_with(client, auth, "caseworker", "caritas-ahlen", runtime)
    csrf = sign_in(web, runtime, "org_admin")

    no_reason = web.post(
        f"/benutzer/{stream_id}/deaktivierung", data={"csrf_token": csrf, "reason": ""}
    )
    deactivated = web.post(
        f"/benutzer/{stream_id}/deaktivierung",
        data={"csrf_token": csrf, "reason": "left-organisation"},
    )
    page = web.get(deactivated.headers["location"])
    reactivated = web.post(f"/benutzer/{stream_id}/reaktivierung", data={"csrf_token": csrf})
    withdrawn = web.post(
        f"/benutzer/{stream_id}/rollen/entzug",
        data={"csrf_token": csrf, "role": "caseworker", "member_of": "caritas-ahlen"},
    )

    assert no_reason.status_code == 422
    assert "Es wurde nichts gespeichert." in no_reason.text
    assert deactivated.status_code == 303
    assert "Der Zugang ist deaktiviert" in page.text
    assert "Zugang wieder aktivieren" in page.text
    assert reactivated.status_code == withdrawn.status_code == 303
    assert "Die Rolle ist entzogen." in web.get(withdrawn.headers["location"]).text
    found = client.get(f"/users/{stream_id}", headers=auth("admin", "*")).json()
    assert found["active"] is True
    assert found["memberships"] == []


def test_a_change_without_csrf_token_records_nothing(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    stream_id = waiting_person(runtime, client, auth)
    sign_in(web, runtime, "org_admin")

    answer = web.post(
        f"/benutzer/{stream_id}/rollen", data={"role": "caseworker", "member_of": "caritas-ahlen"}
    )

    assert answer.status_code == 403
    assert CSRF_REFUSED in answer.text
    assert memberships(client, auth, stream_id) == []


@pytest.mark.parametrize("role", ["caseworker", "coordinator", "funder", "auditor"])
def test_roles_that_do_not_administer_users_get_neither_the_page_nor_its_menu_entry(
    web: TestClient, runtime: Runtime, role: str
) -> None:
    sign_in(web, runtime, role)

    page = web.get("/benutzer")
    start = web.get("/start")

    assert page.status_code == 403
    assert 'href="/benutzer"' not in start.text


def test_administrators_find_the_page_in_the_menu(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime, "org_admin")

    page = web.get("/benutzer")

    assert page.status_code == 200
    assert '<a href="/benutzer" aria-current="page">Benutzer</a>' in page.text


def test_an_unknown_or_malformed_user_id_is_a_404_page(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime, "admin")

    assert web.get(f"/benutzer/{uuid.uuid4()}").status_code == 404
    assert web.get("/benutzer/kein-uuid").status_code == 404


def test_the_list_shows_a_change_made_after_the_person_was_first_listed(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    stream_id = person_with(client, auth, "caseworker", "caritas-ahlen", runtime)
    user_id_of(runtime, client, auth, "")  # the read model has listed the person
    csrf = sign_in(web, runtime, "org_admin")

    web.post(
        f"/benutzer/{stream_id}/deaktivierung",
        data={"csrf_token": csrf, "reason": "left-organisation"},
    )
    position = runtime.journeys.recorder.max_notification_id()
    listed = client.get("/users", params={"min_position": position}, headers=auth("admin", "*"))

    assert listed.status_code == 200, listed.text
    assert [u["active"] for u in listed.json() if u["id"] == stream_id] == [False]
    assert "deaktiviert" in web.get("/benutzer").text


def test_hostile_input_is_refused_in_german_and_changes_nothing(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    stream_id = waiting_person(runtime, client, auth)
    csrf = sign_in(web, runtime, "admin")

    nul_role = web.post(
        f"/benutzer/{stream_id}/rollen",
        data={"csrf_token": csrf, "role": "case\x00worker", "member_of": "caritas-ahlen"},
    )
    nul_reason = web.post(
        f"/benutzer/{stream_id}/deaktivierung",
        data={"csrf_token": csrf, "reason": "left\x00organisation"},
    )
    huge = web.post(
        f"/benutzer/{stream_id}/deaktivierung",
        data={"csrf_token": csrf, "reason": "x" * (5 * 1024 * 1024)},
    )

    assert nul_role.status_code == nul_reason.status_code == 422
    assert "Es wurde nichts gespeichert." in nul_role.text + nul_reason.text
    assert "\x00" not in nul_role.text + nul_reason.text
    assert huge.status_code == 413
    found = client.get(f"/users/{stream_id}", headers=auth("admin", "*")).json()
    assert found["active"] is True
    assert found["memberships"] == []
