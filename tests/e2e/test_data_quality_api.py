"""Data quality per provider and quarter: scripted journeys at two providers of
warendorf (and one at duesseldorf), recorded on chosen days, and each figure of
``GET /reports/data-quality`` computed by hand below.

The recording moment (the event's timestamp) is set per step, at noon in Germany,
so the delay of an entry is the recording day minus its effective date. Rules used
(config/programmes/durchstarten.toml): no coaching contact for 28 days while a
module is open is due; consent 2021-07 is in force from 2021-07-01. The core
fields: birth date, the expiry of a Duldung or Gestattung, eligibility, consent.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import PROBLEM, Auth
from tests.builders.data_quality import CARITAS, DIAKONIE, VHS, record_journeys


@pytest.fixture
def recorded(
    client: TestClient, auth: Auth, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> int:
    return record_journeys(client, auth, runtime, monkeypatch)


def report(
    client: TestClient, headers: dict[str, str], position: int, **params: Any
) -> dict[str, Any]:
    response = client.get(
        "/reports/data-quality", params={"min_position": position, **params}, headers=headers
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def by_provider(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["provider"]: r for r in document["providers"]}


def test_each_figure_per_provider_is_the_hand_computed_one(
    client: TestClient, auth: Auth, recorded: int
) -> None:
    document = report(
        client, auth(role="coordinator", org="warendorf"), recorded, quarter="2021-Q3"
    )

    assert document["reference_date"] == "2021-09-30"
    assert document["municipality"] == "warendorf"
    assert document["core_fields"] == [
        "birth_date",
        "residence_valid_until",
        "eligibility",
        "consent",
    ]
    rows = by_provider(document)
    assert set(rows) == {CARITAS, VHS}
    # caritas-ahlen: A and B enrolled (C exited before Q3), B lacks three fields.
    # Entries recorded in Q3: A 4, 3, 3, 0, 20; B 39; C 2 -> 0 2 3 [3] 4 20 39.
    # Corrections: the correction and the void: 100 x 2 / 7 = 28.571...
    assert rows[CARITAS] == {
        "provider": CARITAS,
        "municipality": "warendorf",
        "participants": 2,
        "with_missing_core_fields": 1,
        "missing_share": "0.5000",
        "missing_by_field": {
            "birth_date": 0,
            "residence_valid_until": 1,
            "eligibility": 1,
            "consent": 1,
        },
        "entries": 7,
        "median_delay_days": "3.0",
        "corrections": 2,
        "corrections_per_100_events": "28.57",
        "overdue_items": 1,
    }
    # vhs-warendorf: D, E, F enrolled, E and F without consent: 2 / 3.
    # Entries: D 0, 10, 10, 9; E 5, 4; F 0, 3 -> 0 0 3 [4 5] 9 10 10: (4 + 5) / 2.
    assert rows[VHS] == {
        "provider": VHS,
        "municipality": "warendorf",
        "participants": 3,
        "with_missing_core_fields": 2,
        "missing_share": "0.6667",
        "missing_by_field": {
            "birth_date": 0,
            "residence_valid_until": 0,
            "eligibility": 0,
            "consent": 2,
        },
        "entries": 8,
        "median_delay_days": "4.5",
        "corrections": 0,
        "corrections_per_100_events": "0.00",
        "overdue_items": 1,
    }


def test_a_quarter_counts_what_was_recorded_and_enrolled_in_it(
    client: TestClient, auth: Auth, recorded: int
) -> None:
    document = report(
        client, auth(role="coordinator", org="warendorf"), recorded, quarter="2021-Q2"
    )

    rows = by_provider(document)
    # Q2: only caritas-ahlen had anyone enrolled (B from 01.06., C until 30.06.);
    # recorded in Q2: C's registration [14], eligibility [13], consent [13].
    assert set(rows) == {CARITAS}
    assert rows[CARITAS]["participants"] == 2
    assert rows[CARITAS]["entries"] == 3
    assert rows[CARITAS]["median_delay_days"] == "13.0"
    # Nothing was due before 30.06.2021.
    assert rows[CARITAS]["overdue_items"] == 0


def test_a_dismissed_or_done_item_is_no_longer_overdue_after_that_day(
    client: TestClient, auth: Auth, runtime: Runtime, recorded: int
) -> None:
    # The reference day of the current quarter is today: before D's no-contact item
    # was due (30.08.) nothing of vhs-warendorf is overdue; on 31.08. it is.
    headers = auth(role="coordinator", org="warendorf")
    runtime.journeys.clock = lambda: date(2021, 8, 30)  # type: ignore[method-assign]
    before = by_provider(report(client, headers, recorded, quarter="2021-Q3"))
    runtime.journeys.clock = lambda: date(2021, 8, 31)  # type: ignore[method-assign]
    after = by_provider(report(client, headers, recorded, quarter="2021-Q3"))

    assert before[VHS]["overdue_items"] == 0
    assert after[VHS]["overdue_items"] == 1


def test_the_coordinator_of_another_municipality_sees_nothing_of_it(
    client: TestClient, auth: Auth, recorded: int
) -> None:
    other = auth(role="coordinator", org="duesseldorf")

    document = report(client, other, recorded, quarter="2021-Q3")
    asked = client.get(
        "/reports/data-quality",
        params={"quarter": "2021-Q3", "municipality": "warendorf"},
        headers=other,
    )

    assert set(by_provider(document)) == {DIAKONIE}
    assert by_provider(document)[DIAKONIE]["participants"] == 1
    assert asked.status_code == 403
    assert asked.headers["content-type"].startswith(PROBLEM)


def test_an_admin_sees_every_municipality_and_may_narrow(
    client: TestClient, auth: Auth, recorded: int
) -> None:
    admin = auth(role="admin", org="lotse-operations")

    everything = report(client, admin, recorded, quarter="2021-Q3")
    narrowed = report(client, admin, recorded, quarter="2021-Q3", municipality="duesseldorf")

    assert set(by_provider(everything)) == {CARITAS, VHS, DIAKONIE}
    assert set(by_provider(narrowed)) == {DIAKONIE}


@pytest.mark.parametrize(
    ("role", "org"),
    [("caseworker", CARITAS), ("caseworker", VHS), ("funder", "bezirksregierung-arnsberg")],
)
def test_case_workers_and_funders_are_refused(
    client: TestClient, auth: Auth, role: str, org: str
) -> None:
    response = client.get(
        "/reports/data-quality", params={"quarter": "2021-Q3"}, headers=auth(role=role, org=org)
    )

    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"quarter": "2021-Q5"}, "quarter"),
        ({"quarter": "2021"}, "quarter"),
        ({"quarter": "2021-07-01..2021-09-30"}, "quarter"),
        ({"quarter": "1999-Q1"}, "quarter"),
        ({"quarter": "2021-Q3", "municipality": "atlantis"}, "municipality"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    client: TestClient, auth: Auth, params: dict[str, str], field: str
) -> None:
    response = client.get(
        "/reports/data-quality",
        params=params,
        headers=auth(role="admin", org="lotse-operations"),
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["field"] == field
