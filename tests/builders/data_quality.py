"""Scripted journeys for the data quality report, recorded on chosen days.

Two providers of warendorf (caritas-ahlen: A, B, C; vhs-warendorf: D, E, F) and one
of duesseldorf (G). The recording moment (the event's timestamp) is set per step,
at noon in Germany, so an entry's delay is the recording day minus its effective
date; the figures the scenario gives are computed by hand in
``tests/e2e/test_data_quality_api.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.domain.participant import Participant
from tests.builders.api import Auth, registration

CARITAS, VHS, DIAKONIE = "caritas-ahlen", "vhs-warendorf", "diakonie-duesseldorf"


class Recorder:
    """Writes through the API with the recording day and the domain's today set."""

    def __init__(self, client: TestClient, auth: Auth, runtime: Runtime) -> None:
        self.client, self.auth, self.runtime = client, auth, runtime
        self.day = date(2021, 7, 1)
        self.position = 0

    def on(self, day: str) -> Recorder:
        self.day = date.fromisoformat(day)
        self.runtime.journeys.clock = lambda: self.day  # type: ignore[method-assign]
        return self

    def now(self) -> datetime:
        # 10:00 UTC is noon in Germany in summer: the same day either way.
        return datetime(self.day.year, self.day.month, self.day.day, 10, tzinfo=UTC)

    def register(self, org: str, **overrides: Any) -> str:
        response = self.client.post(
            "/participants",
            json=registration(provider=org, **overrides),
            headers=self.auth(org=org),
        )
        assert response.status_code == 201, response.text
        self.position = response.json()["position"]
        return str(response.json()["id"])

    def record(self, pid: str, org: str, body: dict[str, Any], role: str = "caseworker") -> int:
        response = self.client.post(
            f"/participants/{pid}/milestones", json=body, headers=self.auth(role=role, org=org)
        )
        assert response.status_code == 201, response.text
        self.position = response.json()["position"]
        return int(response.json()["version"])


def eligibility(day: str) -> dict[str, Any]:
    return {
        "type": "EligibilityAssessed",
        "effective_date": day,
        "eligible": True,
        "target_group": "duldung",
    }


def consent(day: str, version: str = "2021-07") -> dict[str, Any]:
    return {"type": "ConsentGiven", "effective_date": day, "consent_version": version}


def coaching(day: str) -> dict[str, Any]:
    return {"type": "CoachingContactLogged", "effective_date": day, "minutes": 30, "mode": "phone"}


def record_journeys(
    client: TestClient, auth: Auth, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> int:
    """The journeys, read on 15.10.2021; returns the last write's position. Delays in brackets."""
    w = Recorder(client, auth, runtime)
    monkeypatch.setattr(Participant.Event, "create_timestamp", staticmethod(w.now))
    # caritas-ahlen, C: recorded in Q2 (registration [14], eligibility [13], consent
    # [13]); exit on 30.06.2021 recorded 02.07.2021 [2]: not enrolled in Q3.
    c = w.on("2021-06-15").register(CARITAS, intake_date="2021-06-01", residence_status="ae_25a")
    w.record(c, CARITAS, eligibility("2021-06-02"))
    w.record(c, CARITAS, consent("2021-06-02", "2020-01"))
    w.on("2021-07-02").record(
        c,
        CARITAS,
        {
            "type": "Exited",
            "effective_date": "2021-06-30",
            "reason": "completed",
            "destination": "apprenticeship",
        },
    )
    # caritas-ahlen, A: complete. Intake 01.07. recorded 05.07. [4], eligibility and
    # consent of 02.07. [3, 3], F1 entered 05.07. [0]; a contact of 02.08. recorded
    # 03.08. and voided on 04.08. (no entry, a correction); a contact of 20.07.
    # recorded 09.08. [20], corrected on 10.08. (a correction). No contact since
    # 20.07.: due 17.08., overdue on 30.09.
    a = w.on("2021-07-05").register(
        CARITAS, intake_date="2021-07-01", residence_valid_until="2021-12-31"
    )
    w.record(a, CARITAS, eligibility("2021-07-02"))
    w.record(a, CARITAS, consent("2021-07-02"))
    w.record(a, CARITAS, {"type": "ModuleEntered", "effective_date": "2021-07-05", "module": "F1"})
    wrong = w.on("2021-08-03").record(a, CARITAS, coaching("2021-08-02"))
    w.on("2021-08-04").record(
        a,
        CARITAS,
        {
            "type": "EntryVoided",
            "effective_date": "2021-08-04",
            "voids_version": wrong,
            "reason": "doppelt erfasst",
        },
    )
    contact = w.on("2021-08-09").record(a, CARITAS, coaching("2021-07-20"))
    w.on("2021-08-10").record(
        a,
        CARITAS,
        {
            "type": "EntryCorrected",
            "effective_date": "2021-08-10",
            "corrects_version": contact,
            "reason": "Dauer falsch",
            "changes": {"minutes": 45},
        },
    )
    # caritas-ahlen, B: a Duldung without expiry, no eligibility, no consent
    # (three core fields missing); intake 01.06. recorded 10.07. [39].
    w.on("2021-07-10").register(CARITAS, intake_date="2021-06-01")
    # vhs-warendorf, D: complete (a Gestattung until 31.01.2022). Intake 01.08.
    # recorded 01.08. [0]; eligibility and consent of 01.08. recorded 11.08. [10, 10];
    # F4 entered 02.08. recorded 11.08. [9]; no contact: due 30.08., overdue on 30.09.
    d = w.on("2021-08-01").register(
        VHS,
        intake_date="2021-08-01",
        residence_status="gestattung",
        residence_valid_until="2022-01-31",
    )
    w.on("2021-08-11").record(d, VHS, eligibility("2021-08-01"))
    w.record(d, VHS, consent("2021-08-01"))
    w.record(d, VHS, {"type": "ModuleEntered", "effective_date": "2021-08-02", "module": "F4"})
    # vhs-warendorf, E: no consent. Intake 01.09. recorded 06.09. [5], eligibility
    # of 02.09. recorded 06.09. [4].
    e = w.on("2021-09-06").register(VHS, intake_date="2021-09-01", residence_status="ae_25a")
    w.record(e, VHS, eligibility("2021-09-02"))
    # vhs-warendorf, F: no consent. Intake 10.09. recorded 10.09. [0], eligibility
    # of 10.09. recorded 13.09. [3].
    f = w.on("2021-09-10").register(VHS, intake_date="2021-09-10", residence_status="ae_25a")
    w.on("2021-09-13").record(f, VHS, eligibility("2021-09-10"))
    # diakonie-duesseldorf (another municipality), G: registered on intake [0].
    w.on("2021-07-01").register(DIAKONIE, intake_date="2021-07-01")
    # The report is read on 15.10.2021: the reference day of Q3 is its last day.
    w.on("2021-10-15")
    return w.position
