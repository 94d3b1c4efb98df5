"""The user directory decides who works in Lotse: approval, roles, deactivation.

People sign in through a real OpenID provider (``tests.builders.openid_provider``). A
person whose groups map to no role is recorded as waiting at the first sign-in
and gets in once an administrator grants a role; the directory's roles win over
the group mapping; a deactivated person loses session and tokens within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from tests.builders.api import Auth, registration
from tests.builders.openid_provider import (
    LOTSE,
    OpenIDProvider,
    browser_on,
    running_provider,
    trusting,
)

ACCOUNTS = {
    "anna": {"name": "Anna Coach", "email": "anna@caritas.example", "groups": ["coaches"]},
    "nina": {"name": "Nina Neu", "email": "nina@caritas.example", "groups": ["newcomers"]},
}
GROUPS = {"coaches": ("caseworker", "caritas-ahlen")}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    with running_provider(tmp_path_factory.mktemp("op"), ACCOUNTS) as op:
        yield op


@pytest.fixture
def settings(settings: Settings, provider: OpenIDProvider, tmp_path: Path) -> Settings:
    return trusting(settings, provider, GROUPS, tmp_path)


@pytest.fixture
def browser(runtime: Runtime) -> Iterator[TestClient]:
    with browser_on(runtime) as client:
        yield client


def sign_in(browser: TestClient, provider: OpenIDProvider, login: str) -> int:
    """Through the whole flow; the status of Lotse's callback (303: signed in)."""
    started = browser.get("/auth/login", params={"issuer": "testop"})
    callback = provider.log_in(started.headers["location"], login)
    return browser.get(callback.removeprefix(LOTSE)).status_code


def eventually(check: Callable[[], Any], seconds: float = 8) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


ADMIN = ("admin", "lotse-operations")


def test_a_person_without_a_role_waits_for_approval_then_gets_in(
    browser: TestClient, provider: OpenIDProvider, auth: Auth
) -> None:
    assert sign_in(browser, provider, "nina") == 401

    waiting = eventually(
        lambda: [
            u
            for u in browser.get("/users", params={"waiting": True}, headers=auth(*ADMIN)).json()
            if u["user_id"] == "testop:nina"
        ]
    )
    assert waiting, "the first sign-in is listed for approval"
    granted = browser.post(
        f"/users/{waiting[0]['id']}/memberships",
        json={"role": "caseworker", "member_of": "caritas-ahlen"},
        headers=auth(*ADMIN),
    )
    assert granted.status_code == 201, granted.text

    # Each worker asks the directory again at most every 2 s.
    assert eventually(lambda: sign_in(browser, provider, "nina") == 303)
    assert browser.get("/auth/session").json()["user"] == "testop:nina"
    assert browser.get("/participants").status_code == 200


def test_the_directorys_role_wins_over_the_group_mapping(
    browser: TestClient, provider: OpenIDProvider, auth: Auth
) -> None:
    added = browser.post(
        "/users",
        json={
            "issuer": "testop",
            "subject": "anna",
            "display_name": "Anna Coach",
            "email": "anna@caritas.example",
            "memberships": [{"role": "coordinator", "member_of": "warendorf"}],
        },
        headers=auth(*ADMIN),
    )
    assert added.status_code == 201, added.text

    assert sign_in(browser, provider, "anna") == 303
    me = browser.get("/auth/session").json()
    assert (me["role"], me["organisation"]) == ("coordinator", "warendorf")
    token = provider.sign_in("anna")["access_token"]
    created = browser.post(
        "/participants", json=registration(), headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 403  # a coordinator records no registrations


def test_a_deactivated_person_loses_session_and_token_within_seconds(
    browser: TestClient, provider: OpenIDProvider, auth: Auth
) -> None:
    added = browser.post(
        "/users",
        json={
            "issuer": "testop",
            "subject": "anna",
            "display_name": "Anna Coach",
            "email": "anna@caritas.example",
            "memberships": [{"role": "caseworker", "member_of": "caritas-ahlen"}],
        },
        headers=auth(*ADMIN),
    )
    assert sign_in(browser, provider, "anna") == 303
    token = provider.sign_in("anna")["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert browser.get("/participants", headers=bearer).status_code == 200

    done = browser.post(
        f"/users/{added.json()['id']}/deactivation",
        json={"reason": "left-organisation"},
        headers=auth(*ADMIN),
    )

    assert done.status_code == 201, done.text
    started = time.monotonic()
    assert eventually(lambda: browser.get("/participants", headers=bearer).status_code == 401)
    assert eventually(lambda: browser.get("/participants").status_code == 401)
    assert time.monotonic() - started < 5


def test_an_organisation_admin_administers_only_its_own_organisation(
    browser: TestClient, auth: Auth
) -> None:
    org_admin = auth("org_admin", "caritas-ahlen")

    def add(role: str, member_of: str, subject: str) -> int:
        return browser.post(
            "/users",
            json={
                "issuer": "testop",
                "subject": subject,
                "display_name": "Person",
                "email": "person@example.org",
                "memberships": [{"role": role, "member_of": member_of}],
            },
            headers=org_admin,
        ).status_code

    assert add("caseworker", "caritas-ahlen", "p1") == 201
    assert add("caseworker", "vhs-warendorf", "p2") == 403
    assert add("org_admin", "caritas-ahlen", "p3") == 403
    assert browser.get("/users", headers=auth("caseworker", "caritas-ahlen")).status_code == 403
    other = browser.post(
        "/users",
        json={
            "issuer": "testop",
            "subject": "p4",
            "display_name": "Other",
            "email": "other@example.org",
            "memberships": [{"role": "caseworker", "member_of": "vhs-warendorf"}],
        },
        headers=auth(*ADMIN),
    )
    assert browser.get(f"/users/{other.json()['id']}", headers=org_admin).status_code == 404
    listed = eventually(lambda: browser.get("/users", headers=org_admin).json())
    assert {u["user_id"] for u in listed} == {"testop:p1"}


def test_names_and_emails_of_users_are_not_stored_in_clear(
    browser: TestClient, auth: Auth, runtime: Runtime
) -> None:
    answer = browser.post(
        "/users",
        json={
            "issuer": "testop",
            "subject": "p9",
            "display_name": "Zarah Unverwechselbar",
            "email": "zarah@example.org",
            "memberships": [],
        },
        headers=auth(*ADMIN),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["display_name"] == "Zarah Unverwechselbar"

    with psycopg.connect(runtime.database.url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM lotse_events WHERE position('Unverwechselbar' in"
            " convert_from(state, 'UTF8')) > 0 OR position('zarah@' in"
            " convert_from(state, 'UTF8')) > 0"
        ).fetchone()
    assert stored == (0,)


def test_a_control_character_in_a_subject_is_refused_and_nothing_is_written(
    browser: TestClient, auth: Auth
) -> None:
    answer = browser.post(
        "/users",
        json={
            "issuer": "testop",
            "subject": "p\x1b[2J",
            "display_name": "X",
            "email": "x@example.org",
            "memberships": [],
        },
        headers=auth(*ADMIN),
    )

    assert answer.status_code == 422
    assert answer.json()["field"] == "subject"
