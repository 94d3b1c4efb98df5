"""Consent over HTTP: versions come from the programme configuration; withdrawal stops work."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.builders.api import Auth, milestone, register

PROBLEM = "application/problem+json"


def consent(version: str, effective_date: str = "2021-03-02", **extra: Any) -> dict[str, Any]:
    return {
        "type": "ConsentGiven",
        "effective_date": effective_date,
        "consent_version": version,
        **extra,
    }


def eligible(client: TestClient, auth: Auth, pid: str) -> None:
    body = {
        "type": "EligibilityAssessed",
        "effective_date": "2021-03-02",
        "eligible": True,
        "target_group": "duldung",
    }
    assert milestone(client, auth, pid, body).status_code == 201


def test_consent_naming_a_configured_version_is_recorded(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    response = milestone(client, auth, pid, consent("2020-01", language="ar"))

    assert response.status_code == 201
    state = client.get(f"/participants/{pid}", headers=auth()).json()
    assert (state["consent_version"], state["consent_withdrawn"]) == ("2020-01", False)


def test_consent_naming_an_unknown_version_is_422_and_records_nothing(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)

    response = milestone(client, auth, pid, consent("1999-01"))

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == "consent_version"
    assert response.json()["rule"] == "unknown-consent-version"
    assert client.get(f"/participants/{pid}", headers=auth()).json()["version"] == 1


def test_consent_version_not_yet_valid_on_the_date_is_409(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    # Version 2021-07 is valid from 1 July 2021 only.
    response = milestone(client, auth, pid, consent("2021-07", effective_date="2021-03-02"))

    assert response.status_code == 409
    assert response.json()["rule"] == "consent-version-not-valid"


def test_consent_in_a_language_the_version_lacks_is_422(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)

    # Version 2020-01 has no Ukrainian text; 2021-07 has.
    response = milestone(client, auth, pid, consent("2020-01", language="uk"))

    assert response.status_code == 422
    assert response.json()["field"] == "language"


def test_withdrawn_consent_stops_module_entry_until_consent_is_given_again(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth)
    eligible(client, auth, pid)
    assert milestone(client, auth, pid, consent("2020-01")).status_code == 201

    withdrawn = milestone(
        client, auth, pid, {"type": "ConsentWithdrawn", "effective_date": "2021-03-03"}
    )
    refused = milestone(
        client, auth, pid, {"type": "ModuleEntered", "effective_date": "2021-03-04", "module": "F4"}
    )

    assert withdrawn.status_code == 201
    assert refused.status_code == 409
    assert refused.json()["rule"] == "consent-withdrawn"
    state = client.get(f"/participants/{pid}", headers=auth()).json()
    assert state["consent_withdrawn"] is True
    # Consent given again (a new version, valid by then) lets processing continue.
    assert (
        milestone(client, auth, pid, consent("2021-07", effective_date="2021-07-05")).status_code
        == 201
    )
    entered = milestone(
        client, auth, pid, {"type": "ModuleEntered", "effective_date": "2021-07-06", "module": "F4"}
    )
    assert entered.status_code == 201
