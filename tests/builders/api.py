"""Requests through the API: principals' headers, registration bodies, milestone steps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.builders.journeys import AMINA

SECRET = "test-secret-" + "x" * 40


Auth = Callable[..., dict[str, str]]


def registration(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "programme": "durchstarten",
        "provider": "caritas-ahlen",
        "intake_date": "2021-03-01",
        **AMINA,
        "birth_date": AMINA["birth_date"].isoformat(),
    }
    body.update(overrides)
    return body


PROBLEM = "application/problem+json"


def register(client: TestClient, auth: Auth, **overrides: Any) -> str:
    response = client.post("/participants", json=registration(**overrides), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def milestone(
    client: TestClient, auth: Auth, pid: str, body: dict[str, Any], **headers: str
) -> Any:
    return client.post(f"/participants/{pid}/milestones", json=body, headers={**auth(), **headers})


def into_module(module: str = "F4", entered: str = "2021-03-03") -> list[dict[str, Any]]:
    """The milestones that take a registered participant into a module:
    eligibility and consent on 2 March 2021, then the module's entry."""
    return [
        {
            "type": "EligibilityAssessed",
            "effective_date": "2021-03-02",
            "eligible": True,
            "target_group": "duldung",
        },
        {"type": "ConsentGiven", "effective_date": "2021-03-02", "consent_version": "2020-01"},
        {"type": "ModuleEntered", "effective_date": entered, "module": module},
    ]


def enrolled(client: TestClient, auth: Auth) -> str:
    """A participant with eligibility, consent and module F4 open."""
    pid = register(client, auth)
    for body in into_module():
        assert milestone(client, auth, pid, body).status_code == 201
    return pid
