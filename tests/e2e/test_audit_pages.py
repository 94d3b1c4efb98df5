"""The Prüfung pages over HTTP against real PostgreSQL: as-of and known-at side by side,
the chain's verification, a pseudonymised export bundle, refusals."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.storage.checkpoints import new_signing_key_text
from lotse.storage.export import verify_bundle
from tests.builders.api import Auth, into_module, registration
from tests.builders.journeys import AMINA
from tests.builders.pages import sign_in


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Export bundles are linked to a signed checkpoint.
    return dataclasses.replace(settings, audit_signing_key=new_signing_key_text())


def in_f4(client: TestClient, auth: Auth) -> str:
    """A participant whose F4 entry (version 4) is effective on 2021-03-03."""
    response = client.post("/participants", json=registration(), headers=auth())
    assert response.status_code == 201, response.text
    pid = str(response.json()["id"])
    for body in into_module():
        assert client.post(f"/participants/{pid}/milestones", json=body, headers=auth()).is_success
    return pid


def test_as_of_and_known_at_differ_after_a_correction(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    pid = in_f4(client, auth)
    time.sleep(1.1)
    # Known at: after the entry, before its correction (the form takes whole seconds).
    known_at = datetime.now(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1.1)
    corrected = client.post(
        f"/participants/{pid}/milestones",
        json={
            "type": "EntryCorrected",
            "effective_date": "2021-03-10",
            "corrects_version": 4,
            "reason": "Eintritt war erst später",
            "changes": {"effective_date": "2021-03-10"},
        },
        headers=auth(),
    )
    assert corrected.status_code == 201, corrected.text
    sign_in(web, runtime, "auditor", "warendorf")

    page = web.get(
        "/pruefung",
        params={"teilnehmende": pid, "stichtag": "2021-03-05", "kenntnisstand": known_at},
    )

    assert page.status_code == 200, page.text
    today, _, then = page.text.partition("wie bekannt am")
    assert "F4 –" not in today.split("nach heutigem Wissen", 1)[1]  # noqa: RUF001
    assert "F4 –" in then  # noqa: RUF001
    assert "(abweichend)" in page.text
    # The entry moved past the day by its correction: known then, not counted now.
    assert "Eintritt in einen Förderbaustein" not in today
    assert "Eintritt in einen Förderbaustein" in then
    assert AMINA["family_name"] not in page.text


def test_a_participant_outside_the_auditors_scope_is_a_404_page(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    pid = in_f4(client, auth)
    sign_in(web, runtime, "auditor", "duesseldorf")

    page = web.get(
        "/pruefung", params={"teilnehmende": pid, "kenntnisstand": "2030-01-01T00:00:00"}
    )

    assert page.status_code == 404


def test_the_chain_verifies_on_the_page(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    in_f4(client, auth)
    runtime.checkpoints.create()  # type: ignore[union-attr]
    sign_in(web, runtime, "auditor", "*")

    page = web.get("/pruefung/integritaet")

    assert page.status_code == 200
    assert "Unverändert." in page.text


@pytest.mark.parametrize(
    ("role", "org"),
    [("caseworker", "caritas-ahlen"), ("coordinator", "warendorf"), ("funder", "*")],
)
def test_roles_other_than_auditors_are_refused(
    web: TestClient, runtime: Runtime, role: str, org: str
) -> None:
    sign_in(web, runtime, role, org)

    assert web.get("/pruefung").status_code == 403
    assert web.get("/pruefung/integritaet").status_code == 403
    assert 'href="/pruefung"' not in web.get("/start").text


def test_an_auditor_downloads_a_verifiable_pseudonymised_bundle(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth, tmp_path: Path
) -> None:
    pid = in_f4(client, auth)
    csrf = sign_in(web, runtime, "auditor", "warendorf")

    refused = web.post("/pruefung/export", data={"teilnehmende": pid})
    answer = web.post("/pruefung/export", data={"csrf_token": csrf, "teilnehmende": pid})

    assert refused.status_code == 403
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(answer.content)
    assert AMINA["family_name"].encode() not in answer.content
    assert runtime.checkpoints is not None
    assert verify_bundle(bundle, runtime.checkpoints.public_key).ok
    log = client.get(
        f"/participants/{pid}/access-log", headers=auth("coordinator", "warendorf")
    ).json()["entries"]
    assert any(e["endpoint"] == "POST /pruefung/export" for e in log)


@pytest.mark.parametrize(
    ("role", "org", "shown"),
    [
        ("auditor", "*", {"/kurse", "/berichte", "/pruefung"}),
        ("coordinator", "warendorf", {"/kurse", "/berichte", "/datenschutz"}),
        ("caseworker", "caritas-ahlen", {"/kurse", "/berichte"}),
        ("funder", "*", {"/berichte"}),
    ],
)
def test_the_navigation_offers_each_role_its_pages(
    web: TestClient, runtime: Runtime, role: str, org: str, shown: set[str]
) -> None:
    sign_in(web, runtime, role, org)

    page = web.get("/start").text

    offered = {
        p for p in ("/kurse", "/berichte", "/pruefung", "/datenschutz") if f'href="{p}"' in page
    }
    assert offered == shown
