"""The whole way in and out: sign in, land on my caseload, record, be revoked.

A case worker of Caritas Ahlen is in the user directory; a colleague assigns a
case to her (``CaseAssigned``). She signs in through her organisation's OpenID
provider (a real one, ``tests.builders.openid_provider``), lands on her caseload
(``GET /participants?assigned_to=me``), records a coaching contact, and is then
deactivated by an administrator: her session is refused within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

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

GROUPS: dict[str, tuple[str, str]] = {}
ACCOUNTS = {"anna": {"name": "Anna Coach", "email": "anna@caritas.example", "groups": []}}
ADMIN = ("admin", "lotse-operations")
COACHING = {
    "type": "CoachingContactLogged",
    "effective_date": "2021-04-01",
    "minutes": 30,
    "mode": "phone",
}


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


def add_to_directory(client: TestClient, auth: Auth, subject: str, member_of: str) -> str:
    added = client.post(
        "/users",
        json={
            "issuer": "testop",
            "subject": subject,
            "display_name": "Anna Coach",
            "email": "anna@caritas.example",
            "memberships": [{"role": "caseworker", "member_of": member_of}],
        },
        headers=auth(*ADMIN),
    )
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


def registered(client: TestClient, auth: Auth) -> str:
    created = client.post("/participants", json=registration(), headers=auth())
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def assign(client: TestClient, auth: Auth, pid: str, assignee: str) -> dict[str, object]:
    answer = client.post(
        f"/participants/{pid}/milestones",
        json={"type": "CaseAssigned", "effective_date": "2021-03-05", "assignee": assignee},
        headers=auth(),
    )
    return {"status": answer.status_code, **answer.json()}


def test_a_case_worker_signs_in_works_her_caseload_and_is_refused_once_deactivated(
    browser: TestClient, provider: OpenIDProvider, auth: Auth
) -> None:
    anna = add_to_directory(browser, auth, "anna", "caritas-ahlen")
    mine, other = registered(browser, auth), registered(browser, auth)
    assigned = assign(browser, auth, mine, "testop:anna")
    assert assigned["status"] == 201, assigned

    started = browser.get(
        "/auth/login", params={"issuer": "testop", "next": "/participants?assigned_to=me"}
    )
    callback = provider.log_in(started.headers["location"], "anna")
    landed = browser.get(callback.removeprefix(LOTSE))
    assert landed.status_code == 303
    assert landed.headers["location"] == "/participants?assigned_to=me"
    caseload = browser.get(f"{landed.headers['location']}&min_position={assigned['position']}")
    assert caseload.status_code == 200, caseload.text
    assert [p["id"] for p in caseload.json()["items"]] == [mine]
    assert caseload.json()["items"][0]["assignees"] == ["testop:anna"]
    assert other not in caseload.text

    csrf = browser.get("/auth/session").json()["csrf_token"]
    recorded = browser.post(
        f"/participants/{mine}/milestones", json=COACHING, headers={"X-CSRF-Token": csrf}
    )
    assert recorded.status_code == 201, recorded.text

    deactivated = browser.post(
        f"/users/{anna}/deactivation", json={"reason": "left-organisation"}, headers=auth(*ADMIN)
    )
    assert deactivated.status_code == 201
    deadline = time.monotonic() + 5
    while browser.get("/participants").status_code != 401:
        assert time.monotonic() < deadline, "the session still works 5 s after deactivation"
        time.sleep(0.2)
    refused = browser.post(
        f"/participants/{mine}/milestones", json=COACHING, headers={"X-CSRF-Token": csrf}
    )
    assert refused.status_code == 401


def test_a_case_is_assigned_only_to_a_case_worker_of_its_provider(
    browser: TestClient, auth: Auth
) -> None:
    add_to_directory(browser, auth, "vera", "vhs-warendorf")
    pid = registered(browser, auth)

    refused = assign(browser, auth, pid, "testop:vera")

    assert refused["status"] == 409
    assert refused["rule"] == "assignee-not-of-provider"


def test_assigning_twice_and_unassigning_a_stranger_are_refused(
    browser: TestClient, auth: Auth
) -> None:
    pid = registered(browser, auth)
    assert assign(browser, auth, pid, "coach-2")["status"] == 201

    again = assign(browser, auth, pid, "coach-2")
    stranger = browser.post(
        f"/participants/{pid}/milestones",
        json={"type": "CaseUnassigned", "effective_date": "2021-03-06", "assignee": "coach-9"},
        headers=auth(),
    )

    assert (again["status"], again["rule"]) == (409, "already-assigned")
    assert (stranger.status_code, stranger.json()["rule"]) == (409, "not-assigned")
