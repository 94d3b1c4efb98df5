"""Reports in tests: a scripted set of journeys and the report requests and replays made on it."""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant
from tests.builders.api import Auth

PERIOD = "2021-H1"


def d(text: str) -> date:
    return date.fromisoformat(text)


class Script:
    """Builds journeys through the aggregate's own commands and saves them."""

    def __init__(self, runtime: Runtime) -> None:
        self.journeys = runtime.journeys
        self.programme = self.journeys.configuration.programmes["durchstarten"]
        self.today = self.journeys.clock()

    def person(
        self, provider: str, intake: str, gender: str, age: int, nationality: str, status: str
    ) -> Participant:
        env = Envelope("coach", "caseworker", provider, "script")
        start = d(intake)
        p = Participant.register(
            envelope=env,
            today=self.today,
            programme=self.programme,
            provider=provider,
            municipality=self.journeys.configuration.providers[provider].municipality,
            intake_date=start,
            given_name="Test",
            family_name="Person",
            birth_date=start.replace(year=start.year - age) - timedelta(days=100),
            gender=gender,
            nationality=nationality,
            residence_status=status,
        )
        common = self.common(p)
        p.assess_eligibility(
            **common,
            effective_date=start,
            programme=self.programme,
            eligible=True,
            target_group="duldung" if status == "duldung" else "gestattung",
        )
        p.give_consent(
            **common, effective_date=start, programme=self.programme, consent_version="2020-01"
        )
        return p

    def common(self, p: Participant) -> dict[str, Any]:
        return {
            "envelope": Envelope("coach", "caseworker", p.provider, "script"),
            "today": self.today,
        }

    def enter(self, p: Participant, module: str, day: str) -> None:
        p.enter_module(
            **self.common(p), effective_date=d(day), programme=self.programme, module=module
        )

    def leave(self, p: Participant, module: str, day: str, reason: str) -> None:
        p.exit_module(
            **self.common(p),
            effective_date=d(day),
            programme=self.programme,
            module=module,
            reason=reason,
        )

    def lessons(self, p: Participant, day: str, held: int, attended: int) -> None:
        p.record_course_attendance(
            **self.common(p),
            effective_date=d(day),
            programme=self.programme,
            module="F4",
            lesson_hours=Decimal(held),
            lesson_hours_attended=Decimal(attended),
        )

    def coaching(self, p: Participant, day: str, minutes: int, confirmed: bool) -> None:
        p.log_coaching_contact(
            **self.common(p),
            effective_date=d(day),
            minutes=minutes,
            mode="in_person",
            confirmed_by_participant=confirmed,
        )

    def correct(self, p: Participant, version: int, day: str, **changes: Any) -> None:
        p.correct_entry(
            **self.common(p),
            effective_date=d(day),
            programme=self.programme,
            corrects_version=version,
            reason="Korrektur",
            changes=changes,
        )


def head(runtime: Runtime) -> int:
    return int(runtime.journeys.recorder.max_notification_id() or 0)


def get(client: TestClient, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def report(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    kind: str,
    role: str = "admin",
    org: str = "*",
    **params: Any,
) -> dict[str, Any]:
    params.setdefault("period", PERIOD)
    params.setdefault("min_position", head(runtime))
    result: dict[str, Any] = get(client, auth(role, org), f"/reports/{kind}", **params)
    return result


def replayed_report(
    client: TestClient,
    auth: Auth,
    kind: str,
    position: int,
    role: str = "admin",
    org: str = "*",
    **params: Any,
) -> dict[str, Any]:
    """A report recomputed by replay: a job, polled until its run is stored."""
    params.setdefault("period", PERIOD)
    headers = auth(role, org)
    started = client.post(
        "/reports/replays", json={"report": kind, "position": position, **params}, headers=headers
    )
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = get(client, headers, started.headers["Location"])
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    result: dict[str, Any] = get(client, headers, job["run"])
    return result


def rows_of(document: dict[str, Any], table: str) -> list[dict[str, Any]]:
    t = document["tables"][table]
    keys = [c["key"] for c in t["columns"]]
    return [dict(zip(keys, row, strict=True)) for row in t["rows"]]


def pick(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, len(found))
    return found[0]
