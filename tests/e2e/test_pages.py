"""The web pages over HTTP: sign-in redirects, security headers, CSRF, scope, caseload."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, register
from tests.builders.journeys import AMINA
from tests.builders.pages import browser, registered, sign_in

PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@pytest.fixture
def web(runtime: Runtime) -> Iterator[TestClient]:
    with browser(runtime) as client:
        yield client


def test_a_page_without_a_session_redirects_to_the_anmeldung_with_the_path(
    web: TestClient,
) -> None:
    answer = web.get("/teilnehmende")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/anmeldung?next=%2Fteilnehmende"


def test_the_start_page_sends_a_visitor_without_session_to_the_anmeldung(web: TestClient) -> None:
    answer = web.get("/")

    assert answer.status_code == 303
    assert answer.headers["location"] == "/anmeldung"


def test_a_bearer_token_does_not_open_a_page(web: TestClient, auth: Auth) -> None:
    answer = web.get("/teilnehmende", headers=auth())

    assert answer.status_code == 303


def test_the_anmeldung_never_sends_on_to_another_site(web: TestClient) -> None:
    page = web.get("/anmeldung", params={"next": "//evil.example/x"})

    assert page.status_code == 200
    assert "evil.example" not in page.text


@pytest.mark.parametrize("path", ["/anmeldung", "/teilnehmende", "/start"])
def test_pages_carry_the_security_headers(web: TestClient, runtime: Runtime, path: str) -> None:
    sign_in(web, runtime)

    answer = web.get(path)

    assert answer.status_code == 200
    for name, value in PAGE_HEADERS.items():
        assert answer.headers[name] == value
    assert '<html lang="de">' in answer.text
    assert "<script>" not in answer.text
    assert " style=" not in answer.text


def test_a_case_worker_starts_at_the_caseload(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime)

    assert web.get("/").headers["location"] == "/teilnehmende"


def test_the_caseload_lists_the_own_participants_by_name(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)

    page = web.get("/teilnehmende", params={"stand": position})

    assert page.status_code == 200
    assert f"/teilnehmende/{pid}" in page.text
    assert AMINA["family_name"] in page.text


def test_the_name_search_is_posted_and_finds_within_scope(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    csrf = sign_in(web, runtime)
    web.get("/teilnehmende", params={"stand": position})

    found = web.post("/teilnehmende", data={"csrf_token": csrf, "q": AMINA["given_name"]})
    missed = web.post("/teilnehmende", data={"csrf_token": csrf, "q": "Zzyzx"})

    assert f"/teilnehmende/{pid}" in found.text
    assert f"/teilnehmende/{pid}" not in missed.text


def test_a_search_of_one_letter_is_answered_in_german_next_to_the_field(
    web: TestClient, runtime: Runtime
) -> None:
    csrf = sign_in(web, runtime)

    page = web.post("/teilnehmende", data={"csrf_token": csrf, "q": "A"})

    assert page.status_code == 422
    assert 'id="suche-q-error">Bitte mindestens ein Wort mit zwei Buchstaben' in page.text


def test_a_post_without_the_csrf_token_is_refused(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime)

    answer = web.post("/teilnehmende", data={"q": "Amina"})

    assert answer.status_code == 403
    assert "Es wurde nichts gespeichert" in answer.text


def test_a_funder_gets_no_caseload_and_no_names(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    register(client, auth)
    sign_in(web, runtime, "funder")

    start = web.get("/")
    listing = web.get("/teilnehmende")
    overview = web.get(start.headers["location"])

    assert listing.status_code == 403
    assert overview.status_code == 200
    assert 'href="/teilnehmende"' not in overview.text
    for page in (listing, overview):
        assert AMINA["family_name"] not in page.text
        assert AMINA["given_name"] not in page.text
