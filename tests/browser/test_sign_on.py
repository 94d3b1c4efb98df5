"""Signing in with the organisation's OpenID provider, in Chromium.

Lotse sends the browser to a real provider on loopback
(``tests.builders.openid_provider``), the person fills in its login form, the
provider sends the browser back, and Lotse opens the session; signing out ends it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from lotse.api.runtime import build_runtime
from tests.builders.browser import (
    Served,
    base_url_of,
    demo_settings,
    loopback_socket,
    serving,
    session_role,
    sign_in_through_provider,
)
from tests.builders.database import empty_tables
from tests.builders.openid_provider import OpenIDProvider, trusting

ACCOUNTS = {"anna": {"name": "Anna Coach", "email": "anna@caritas.example", "groups": ["coaches"]}}
GROUPS = {"coaches": ("caseworker", "caritas-ahlen")}


@pytest.fixture(scope="module")
def lotse(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Lotse trusting the provider, without the demo sign-in."""
    sock = loopback_socket()
    base = base_url_of(sock)
    provider = OpenIDProvider(
        tmp_path_factory.mktemp("op"), ACCOUNTS, redirect_uris=[f"{base}/auth/callback"]
    )
    provider.start()
    empty_tables(database_url)
    workdir = tmp_path_factory.mktemp("lotse")
    settings = trusting(
        demo_settings(database_url, workdir, demo_sign_in=False), provider, GROUPS, workdir
    )
    runtime = build_runtime(settings)
    try:
        with serving(runtime, sock) as served:
            yield served
    finally:
        runtime.close()
        provider.stop()


def test_a_person_signs_in_at_the_provider_and_comes_back_with_a_session(page: Page) -> None:
    sign_in_through_provider(page, "anna", next_path="/auth/session")

    assert page.url.endswith("/auth/session")
    assert session_role(page) == "caseworker"


def test_the_demo_sign_in_is_not_offered_outside_the_demo(page: Page) -> None:
    answer = page.goto("/auth/demo")

    assert answer is not None
    assert answer.status == 404
