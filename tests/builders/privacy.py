"""Privacy tests' steps: the canary participant, erasure and the stored data key."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.builders.api import Auth, registration

FAR_FUTURE = "2040-01-01"


CANARY_BIRTH_DATE = "1999-02-13"


def canary() -> tuple[str, str]:
    """A given and a family name that occur nowhere else."""
    tag = uuid.uuid4().hex[:10]
    return f"Zyxcanary{tag}", f"Qwvcanary{tag}"


def register(client: TestClient, auth: Auth, **overrides: Any) -> str:
    provider = str(overrides.get("provider", "caritas-ahlen"))
    response = client.post(
        "/participants", json=registration(**overrides), headers=auth("caseworker", provider)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def milestone(client: TestClient, auth: Auth, pid: str, body: dict[str, Any]) -> None:
    response = client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
    assert response.status_code == 201, response.text


def register_canary(client: TestClient, auth: Auth) -> tuple[str, str, str, str]:
    """A participant whose every identifying field holds a canary value.

    Names, birth date, a justification, an employer and an identifying correction:
    one of each kind of sealed value, so each must be proven absent from the scan.
    """
    given, family = canary()
    employer = f"Ujvcanary{uuid.uuid4().hex[:10]} GmbH"
    pid = register(
        client, auth, given_name=given, family_name="Placeholder", birth_date=CANARY_BIRTH_DATE
    )
    for body in (
        {
            "type": "EligibilityAssessed",
            "effective_date": "2021-03-02",
            "eligible": True,
            "target_group": "duldung",
            "justification": f"{given} per interview",
        },
        {"type": "ConsentGiven", "effective_date": "2021-03-02", "consent_version": "2020-01"},
        {"type": "ModuleEntered", "effective_date": "2021-03-03", "module": "F4"},
        {
            "type": "InternshipStarted",
            "effective_date": "2021-04-01",
            "occupation": "Koch",
            "employer_name": employer,
        },
        {
            "type": "EntryCorrected",
            "effective_date": "2021-04-02",
            "corrects_version": 1,
            "reason": "typo in the family name",
            "changes": {"family_name": family},
        },
    ):
        milestone(client, auth, pid, body)
    return pid, given, family, employer


def coordinator(auth: Auth, municipality: str = "warendorf") -> dict[str, str]:
    return auth("coordinator", municipality)


def erase(client: TestClient, headers: dict[str, str], pid: str, mode: str = "shred") -> Any:
    return client.post(
        f"/participants/{pid}/erasure",
        json={"mode": mode, "reason": "participant_request"},
        headers=headers,
    )


def wrapped_key(database_url: str, pid: str) -> bytes | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT wrapped_key FROM lotse_participant_keys WHERE participant_id = %s", (pid,)
        ).fetchone()
    assert row is not None
    return bytes(row[0]) if row[0] is not None else None
