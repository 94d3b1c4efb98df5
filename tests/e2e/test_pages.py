"""The web pages over HTTP: sign-in redirects, security headers, CSRF, scope, caseload."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, enrolled, register
from tests.builders.journeys import AMINA
from tests.builders.pages import browser, hidden, registered, sign_in

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


def test_the_abmelden_button_ends_the_session(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime)
    page = web.get("/teilnehmende").text
    form = page.split('action="/auth/logout"', 1)[1].split("</form>", 1)[0]

    answer = web.post("/auth/logout", data={"csrf_token": hidden(form, "csrf_token")})

    assert answer.status_code == 303
    assert web.get("/teilnehmende").status_code == 303


def test_the_demo_sign_in_uses_the_layout_and_goes_on_to_next(
    runtime: Runtime,
) -> None:
    runtime.settings = dataclasses.replace(
        runtime.settings, demo_sign_in=True, session_cookie_secure=False
    )
    with browser(runtime) as web:
        anmeldung = web.get("/anmeldung", params={"next": "/teilnehmende"})
        demo = web.get("/auth/demo", params={"next": "/teilnehmende"})
        answer = web.post(
            "/auth/demo",
            data={
                "form_token": hidden(demo.text, "form_token"),
                "next": "/teilnehmende",
                "user": "0",
            },
        )

        assert 'href="/auth/demo?next=%2Fteilnehmende"' in anmeldung.text
        assert demo.headers["content-security-policy"] == PAGE_HEADERS["content-security-policy"]
        assert 'class="skip-link"' in demo.text
        assert answer.headers["location"] == "/teilnehmende"
        assert web.get("/teilnehmende").status_code == 200


def test_error_pages_carry_the_security_headers_and_are_german(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime, "funder")

    refused = web.get("/teilnehmende")

    assert refused.status_code == 403
    assert refused.headers["content-security-policy"] == PAGE_HEADERS["content-security-policy"]
    assert refused.headers["cache-control"] == "no-store"
    assert "Keine Berechtigung" in refused.text
    assert "Ihre Rolle darf diese Seite oder diesen Schritt nicht verwenden." in refused.text


def test_a_search_typed_with_javascript_shows_its_hint_in_the_results(
    web: TestClient, runtime: Runtime
) -> None:
    csrf = sign_in(web, runtime)

    answer = web.post(
        "/teilnehmende", data={"csrf_token": csrf, "q": "A"}, headers={"HX-Request": "true"}
    )

    assert answer.status_code == 200
    results = answer.text.split('id="ergebnisse"', 1)[1]
    assert "Bitte mindestens ein Wort mit zwei Buchstaben" in results


def test_a_post_whose_session_expired_without_referer_goes_to_the_start_afterwards(
    web: TestClient,
) -> None:
    answer = web.post("/teilnehmende/00000000-0000-0000-0000-000000000000/schritte", data={})

    assert answer.status_code == 303
    assert answer.headers["location"] == "/anmeldung?next=%2F&unsaved=1"


TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "templates"


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_template_has_inline_script_or_style(template: str) -> None:
    text = (TEMPLATES / template).read_text()

    assert re.findall(r"<script(?![^>]*\bsrc=)", text) == []
    assert re.findall(r"<style|\sstyle=|\son[a-z]+=|javascript:|hx-on", text) == []


def test_static_files_are_served_without_a_session(web: TestClient) -> None:
    css = web.get("/static/lotse.css")
    script = web.get("/static/htmx.min.js")

    assert css.status_code == script.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "@media print" in css.text


def test_the_caseload_filters_by_status_and_module(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    plain, _ = registered(client, auth)
    in_f4 = enrolled(client, auth)
    last = client.post(
        f"/participants/{in_f4}/milestones",
        json={"type": "LanguageLevelAssessed", "effective_date": "2021-03-04", "level": "A1"},
        headers=auth(),
    ).json()["position"]
    csrf = sign_in(web, runtime)
    web.get("/teilnehmende", params={"stand": last})

    f4 = web.post("/teilnehmende", data={"csrf_token": csrf, "module": "F4"}).text
    exited = web.post("/teilnehmende", data={"csrf_token": csrf, "status": "exited"}).text
    active = web.post("/teilnehmende", data={"csrf_token": csrf, "status": "active"}).text

    assert f"/teilnehmende/{in_f4}" in f4
    assert f"/teilnehmende/{plain}" not in f4
    assert "/teilnehmende/" not in exited.split('id="ergebnisse"', 1)[1]
    assert f"/teilnehmende/{plain}" in active
    assert f"/teilnehmende/{in_f4}" in active
