"""A person signs in with the organisation's OpenID provider, works, and signs out.

The Authorization Code flow with PKCE runs end to end: Lotse's ``/auth/login``
sends the browser to a real provider (``tests.builders.openid_provider``), its login form
is filled in, the provider sends the browser back to ``/auth/callback``, and Lotse
exchanges the code and opens a server-side session. Then the refusals: a replayed
or foreign callback, a cookie without CSRF token, an idle or ended session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from tests.builders.api import registration
from tests.builders.openid_provider import (
    LOTSE,
    OpenIDProvider,
    browser_on,
    running_provider,
    trusting,
)

ACCOUNTS = {
    "anna": {"name": "Anna Coach", "email": "anna@caritas.example", "groups": ["coaches"]},
    "bert": {"name": "Bert Guest", "email": "bert@example.org", "groups": ["visitors"]},
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


def sign_in(browser: TestClient, provider: OpenIDProvider, login: str = "anna") -> str:
    """Through the whole flow; returns where Lotse sent the browser at the end."""
    started = browser.get("/auth/login", params={"issuer": "testop", "next": "/participants"})
    assert started.status_code == 303, started.text
    callback = provider.log_in(started.headers["location"], login)
    assert callback.startswith(f"{LOTSE}/auth/callback")
    finished = browser.get(callback.removeprefix(LOTSE))
    assert finished.status_code == 303, finished.text
    return str(finished.headers["location"])


def csrf(browser: TestClient) -> str:
    answer = browser.get("/auth/session")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["csrf_token"])


def test_a_person_signs_in_lands_where_they_wanted_and_records_a_participant(
    browser: TestClient, provider: OpenIDProvider
) -> None:
    landed = sign_in(browser, provider)

    assert landed == "/participants"
    assert browser.get("/participants").status_code == 200
    me = browser.get("/auth/session").json()
    assert (me["user"], me["role"], me["organisation"]) == (
        "testop:anna",
        "caseworker",
        "caritas-ahlen",
    )
    created = browser.post(
        "/participants", json=registration(), headers={"X-CSRF-Token": csrf(browser)}
    )
    assert created.status_code == 201, created.text


def test_the_session_cookie_is_secure_httponly_and_samesite(
    browser: TestClient, provider: OpenIDProvider
) -> None:
    started = browser.get("/auth/login", params={"issuer": "testop"})
    callback = provider.log_in(started.headers["location"], "anna")

    finished = browser.get(callback.removeprefix(LOTSE))

    cookie = next(
        h for k, h in finished.headers.multi_items() if k == "set-cookie" and "session" in h
    )
    assert cookie.startswith("__Host-lotse-session=")
    assert all(flag in cookie for flag in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"))


def test_a_change_with_the_cookie_but_without_the_csrf_token_is_refused(
    browser: TestClient, provider: OpenIDProvider, runtime: Runtime
) -> None:
    sign_in(browser, provider)
    before = runtime.journeys.recorder.max_notification_id() or 0

    refused = browser.post("/participants", json=registration())
    forged = browser.post("/participants", json=registration(), headers={"X-CSRF-Token": "x"})

    assert refused.status_code == 403
    assert forged.status_code == 403
    assert (runtime.journeys.recorder.max_notification_id() or 0) == before


def test_a_replayed_callback_is_refused(browser: TestClient, provider: OpenIDProvider) -> None:
    started = browser.get("/auth/login", params={"issuer": "testop"})
    callback = provider.log_in(started.headers["location"], "anna").removeprefix(LOTSE)
    assert browser.get(callback).status_code == 303
    browser.cookies.set(
        "lotse-sign-in",
        parse_qs(urlsplit(callback).query)["state"][0],
        domain="testserver.local",
        path="/auth",
    )

    replayed = browser.get(callback)

    assert replayed.status_code == 401


def test_a_callback_this_browser_did_not_start_is_refused(
    browser: TestClient, provider: OpenIDProvider, runtime: Runtime
) -> None:
    started = browser.get("/auth/login", params={"issuer": "testop"})
    callback = provider.log_in(started.headers["location"], "anna").removeprefix(LOTSE)

    with TestClient(create_app(runtime=runtime), base_url=LOTSE, follow_redirects=False) as other:
        answer = other.get(callback)  # login CSRF: the victim's browser gets our callback

    assert answer.status_code == 401
    assert "set-cookie" not in {k.lower() for k in answer.headers if "session" in answer.headers[k]}


def test_a_wrong_state_is_refused(browser: TestClient, provider: OpenIDProvider) -> None:
    started = browser.get("/auth/login", params={"issuer": "testop"})
    callback = provider.log_in(started.headers["location"], "anna").removeprefix(LOTSE)
    tampered = callback.replace("state=", "state=x")

    assert browser.get(tampered).status_code == 401


def test_a_person_without_a_mapped_group_gets_no_session(
    browser: TestClient, provider: OpenIDProvider
) -> None:
    started = browser.get("/auth/login", params={"issuer": "testop"})
    callback = provider.log_in(started.headers["location"], "bert").removeprefix(LOTSE)

    answer = browser.get(callback)

    assert answer.status_code == 401
    assert "bert" not in answer.text.lower()
    assert browser.get("/participants").status_code == 401


def test_an_idle_session_ends(
    browser: TestClient, provider: OpenIDProvider, runtime: Runtime
) -> None:
    sign_in(browser, provider)
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        conn.execute("UPDATE lotse_sessions SET last_seen_at = now() - interval '2 hours'")

    assert browser.get("/participants").status_code == 401


def test_a_session_in_use_ends_at_its_absolute_limit(
    browser: TestClient, provider: OpenIDProvider, runtime: Runtime
) -> None:
    sign_in(browser, provider)
    assert browser.get("/participants").status_code == 200
    hours = runtime.settings.session_absolute_hours
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        # Used a minute ago, but signed in longer ago than the limit allows.
        conn.execute(
            "UPDATE lotse_sessions SET last_seen_at = now() - interval '1 minute', "
            "started_at = now() - make_interval(hours => %s, mins => 1)",
            (hours,),
        )

    assert browser.get("/participants").status_code == 401


def test_signing_out_ends_the_session_here_and_at_the_provider(
    browser: TestClient, provider: OpenIDProvider
) -> None:
    sign_in(browser, provider)
    token = csrf(browser)
    session_cookie = browser.cookies.get("__Host-lotse-session")

    without_token = browser.post("/auth/logout")
    assert without_token.status_code == 403
    out = browser.post("/auth/logout", data={"csrf_token": token})

    assert out.status_code == 303
    assert out.headers["location"].startswith(f"{provider.issuer}/session/end")
    browser.cookies.set("__Host-lotse-session", str(session_cookie))
    assert browser.get("/participants").status_code == 401


def test_an_unknown_organisation_cannot_start_a_sign_in(browser: TestClient) -> None:
    answer = browser.get("/auth/login", params={"issuer": "nobody"})

    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_the_next_address_never_leads_to_another_site(
    browser: TestClient, provider: OpenIDProvider
) -> None:
    started = browser.get("/auth/login", params={"issuer": "testop", "next": "//evil.example/x"})
    callback = provider.log_in(started.headers["location"], "anna").removeprefix(LOTSE)

    assert browser.get(callback).headers["location"] == "/"


def test_an_id_token_for_another_sign_in_is_refused(
    browser: TestClient, provider: OpenIDProvider, runtime: Runtime
) -> None:
    started = browser.get("/auth/login", params={"issuer": "testop"})
    callback = provider.log_in(started.headers["location"], "anna").removeprefix(LOTSE)
    # The provider's ID token carries the nonce this sign-in sent; the row now
    # expects another one, as if the answer belonged to someone else's sign-in.
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        conn.execute("UPDATE lotse_sign_ins SET nonce = 'another-sign-in'")

    answer = browser.get(callback)

    assert answer.status_code == 401
    assert browser.get("/participants").status_code == 401


def test_a_token_the_provider_refreshed_is_accepted(
    browser: TestClient, provider: OpenIDProvider
) -> None:
    first = provider.sign_in("anna", scope="openid profile email groups offline_access")
    assert "refresh_token" in first, first

    refreshed = provider.refresh(first["refresh_token"])

    assert refreshed["access_token"] != first["access_token"]
    answer = browser.get(
        "/participants", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
    )
    assert answer.status_code == 200
