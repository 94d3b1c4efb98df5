"""A browser's unknown path or wrong method gets the German page; JSON clients keep problem+json."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from lotse.api.pages.routing import wants_page
from lotse.api.runtime import Runtime
from tests.builders.pages import sign_in

#: What Firefox and Chromium send for a page.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def assert_german_page(answer: object, status: int, title: str) -> None:
    assert answer.status_code == status  # type: ignore[attr-defined]
    headers = answer.headers  # type: ignore[attr-defined]
    assert headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == CSP
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    text = answer.text  # type: ignore[attr-defined]
    assert '<html lang="de">' in text
    assert f"<h1>{title}</h1>" in text


def test_a_browser_asking_for_an_unknown_path_gets_the_german_404_page(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)

    answer = web.get("/gibt-es-nicht", headers=BROWSER)

    assert_german_page(answer, 404, "Nicht gefunden")
    assert "Diese Seite oder diesen Eintrag gibt es nicht" in answer.text
    # Signed in: the page keeps the navigation.
    assert "Meine Teilnehmenden" in answer.text


def test_an_unknown_path_without_a_session_is_the_same_german_page(web: TestClient) -> None:
    answer = web.get("/teilnehmende/x/y/z", headers=BROWSER)

    assert_german_page(answer, 404, "Nicht gefunden")
    assert "Abmelden" not in answer.text


def test_a_get_on_a_post_only_page_path_gets_the_german_405_page(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)

    answer = web.get(f"/teilnehmende/{uuid.uuid4()}/schritte", headers=BROWSER)

    assert_german_page(answer, 405, "Methode nicht erlaubt")
    assert answer.headers["allow"] == "POST"
    assert "nimmt nur abgeschickte Formulare entgegen" in answer.text


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "application/problem+json",
        "*/*",
        "",
        "application/json, text/html;q=0.5",
    ],
)
def test_a_json_client_asking_for_an_unknown_path_keeps_problem_json(
    web: TestClient, accept: str
) -> None:
    answer = web.get("/gibt-es-nicht", headers={"Accept": accept})

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 404


def test_the_api_paths_keep_problem_json_even_for_a_browser(web: TestClient) -> None:
    unknown = web.get(f"/participants/{uuid.uuid4()}/gibt-es-nicht", headers=BROWSER)
    wrong_method = web.delete("/participants", headers=BROWSER)

    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


def test_a_json_client_using_the_wrong_method_on_a_page_path_keeps_problem_json(
    web: TestClient,
) -> None:
    answer = web.get(
        f"/teilnehmende/{uuid.uuid4()}/schritte", headers={"Accept": "application/json"}
    )

    assert answer.status_code == 405
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        (BROWSER["Accept"], True),
        ("text/html", True),
        ("application/json", False),
        ("text/html;q=0.4, application/json", False),
        ("text/html;q=0, */*", False),
        ("text/css,*/*;q=0.1", False),
        ("", False),
    ],
)
def test_the_accept_header_decides_between_page_and_problem(accept: str, page: bool) -> None:
    assert wants_page(accept) is page
