"""The web pages through a TestClient: a browser session for a role, forms' hidden fields."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.runtime import Runtime
from lotse.api.sessions import cookie_name
from tests.builders.api import Auth, registration
from tests.builders.journeys import AMINA

#: A role's usual organisation in the test configuration.
ORGANISATION = {
    "caseworker": "caritas-ahlen",
    "coordinator": "warendorf",
    "teilhabemanager": "warendorf",
    "funder": "*",
    "auditor": "*",
    "admin": "*",
    "org_admin": "caritas-ahlen",
}


@contextmanager
def browser(runtime: Runtime) -> Iterator[TestClient]:
    """A client that, like a browser, keeps cookies and does not follow redirects."""
    with TestClient(create_app(runtime=runtime), follow_redirects=False) as client:
        yield client


def sign_in(
    client: TestClient,
    runtime: Runtime,
    role: str = "caseworker",
    organisation: str | None = None,
    user: str | None = None,
) -> str:
    """Open a session for the role (as a finished sign-in would) and set its cookie.

    Returns the session's CSRF token.
    """
    assert runtime.sessions is not None
    org = organisation or ORGANISATION[role]
    session_id, csrf = runtime.sessions.open(user or f"{role}-{org}", role, org, "test")
    client.cookies.set(cookie_name(runtime), session_id)
    return csrf


def hidden(page: str, name: str) -> str:
    """The value of the first hidden input ``name`` of a page (csrf_token, idempotency_key)."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert found is not None, f"no hidden field {name}"
    return found.group(1)


def form_of(page: str, milestone: str) -> str:
    """The HTML of the form recording ``milestone`` on a participant's page."""
    found = re.search(
        rf'<form[^>]*data-milestone="{re.escape(milestone)}".*?</form>', page, re.DOTALL
    )
    assert found is not None, f"no form for {milestone}"
    return found.group(0)


def registered(client: TestClient, auth: Auth, **overrides: object) -> tuple[str, int]:
    """Register through the JSON API: (participant id, position for ``?stand=``)."""
    response = client.post("/participants", json=registration(**overrides), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), int(response.json()["position"])


@contextmanager
def unwritable_access_log(database_url: str) -> Iterator[None]:
    """The read-access log refuses every insert, as a full disk or a lost grant would."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION test_pages_refuse_insert() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'access log unwritable (test)'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_pages_refuse_insert BEFORE INSERT ON lotse_access_log"
            " FOR EACH ROW EXECUTE FUNCTION test_pages_refuse_insert()"
        )
    try:
        yield
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER test_pages_refuse_insert ON lotse_access_log")
            conn.execute("DROP FUNCTION test_pages_refuse_insert()")


def registration_form(page: str, **overrides: str) -> dict[str, str]:
    """The Neue Teilnehmende/r form filled in for Amina, as a browser posts it."""
    values = {
        "csrf_token": hidden(page, "csrf_token"),
        "idempotency_key": hidden(page, "idempotency_key"),
        "programme": "durchstarten",
        "provider": "caritas-ahlen",
        "intake_date": "01.03.2021",
        "given_name": AMINA["given_name"],
        "family_name": AMINA["family_name"],
        "birth_date": AMINA["birth_date"].isoformat(),
        "gender": AMINA["gender"],
        "nationality": AMINA["nationality"],
        "residence_status": AMINA["residence_status"],
    }
    values.update(overrides)
    return values
