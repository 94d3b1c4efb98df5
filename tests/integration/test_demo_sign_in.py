"""The demo's sign-in: choose a demo user, no identity provider, and only in the demo."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.runtime import Runtime
from lotse.api.settings import Settings, SettingsError, load_settings
from lotse.storage.checkpoints import new_signing_key_text
from lotse.storage.keys import MasterKey

DEMO = {"demo_sign_in": True, "session_cookie_secure": False}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, **DEMO)


@pytest.fixture
def browser(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime), follow_redirects=False) as client:
        yield client


def choose(browser: TestClient, index: int) -> int:
    page = browser.get("/auth/demo")
    token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert token is not None
    answer = browser.post("/auth/demo", data={"form_token": token.group(1), "user": str(index)})
    return answer.status_code


def test_the_demo_page_is_german_and_names_every_role(browser: TestClient) -> None:
    page = browser.get("/auth/demo")

    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert "Nur für die Demo" in page.text
    assert page.text.count('<button type="submit" name="user"') == 5


def test_the_demo_page_names_organisations_not_their_ids(browser: TestClient) -> None:
    page = browser.get("/auth/demo").text

    assert "(Caritasverband Ahlen)" in page
    assert "(landesweit)" in page
    assert "(caritas-ahlen)" not in page
    assert "(*)" not in page


def test_choosing_the_case_worker_opens_a_session_that_reads_participants(
    browser: TestClient,
) -> None:
    assert choose(browser, 0) == 303

    assert browser.get("/participants").status_code == 200
    assert browser.get("/auth/session").json()["role"] == "caseworker"


def test_a_post_without_the_page_token_is_refused(browser: TestClient) -> None:
    answer = browser.post("/auth/demo", data={"user": "4"})

    assert answer.status_code == 403
    assert browser.get("/participants").status_code == 401


def test_outside_the_demo_there_is_no_demo_sign_in(runtime: Runtime) -> None:
    runtime.settings = dataclasses.replace(runtime.settings, demo_sign_in=False)
    with TestClient(create_app(runtime=runtime), follow_redirects=False) as client:
        assert client.get("/auth/demo").status_code == 404
        assert client.post("/auth/demo", data={"user": "4"}).status_code == 404


def test_the_demo_sign_in_is_refused_with_a_database_server() -> None:
    with pytest.raises(SettingsError, match="LOTSE_DEMO_SIGN_IN"):
        load_settings(
            {
                "DATABASE_URL": "postgresql://db/lotse",
                "LOTSE_SECRET_KEY": "s" * 40,
                "LOTSE_MASTER_KEY": MasterKey.generate().to_text(),
                "LOTSE_AUDIT_SIGNING_KEY": new_signing_key_text(),
                "LOTSE_DEMO_SIGN_IN": "true",
            }
        )
