"""Corrections, voids and re-entries against real PostgreSQL: the figures stay right.

- Random journeys with random corrections and voids (hypothesis): every accepted
  change keeps the journey consistent, a refused one writes nothing, and after all
  of them the monitoring stock identity (stock = previous stock + entries - exits)
  holds in every municipality x module x quarter, while the read models' figures
  equal those of a replay of the log at the same position.
- A voided entry is gone from every figure (monitoring, outcomes, financial
  evidence, the caseload); a duplicate registration voided as a whole leaves the
  figures exactly as they were before it was registered.
- A re-entry after the exit counts as a new entry of the same person.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotse.api.runtime import Runtime
from lotse.domain.envelope import Envelope
from lotse.domain.errors import DomainError
from lotse.domain.participant import Participant
from tests.builders.api import Auth
from tests.builders.reports import Script, d, head, pick, replayed_report, report, rows_of

YEAR = "2021"
QUARTERS = ("2021-Q1", "2021-Q2", "2021-Q3", "2021-Q4")
PROVIDERS = ("caritas-ahlen", "vhs-warendorf", "caritas-koeln")
MODULES = ("F1", "F2", "F4")


def quarter_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return rows_of(document, "quartale")


def check_stock_identity(rows: list[dict[str, Any]]) -> int:
    """stock(q) = stock(q-1) + entries(q) - exits(q) in every municipality x module; the
    year starts empty (every journey of these tests lies in it). Returns rows checked."""
    series: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for row in rows:
        series.setdefault((row["municipality"], row["module"]), {})[row["quarter"]] = row
    for key, by_quarter in series.items():
        previous = 0
        for q in QUARTERS:
            row = by_quarter[q]
            assert row["stock"] == previous + row["entries"] - row["exits"], (key, q, row)
            assert row["stock"] >= 0, (key, q)
            previous = row["stock"]
    return len(rows)


#: The financial report lists its evidence only when asked for it.
EVIDENCE: dict[str, dict[str, Any]] = {
    "monitoring": {},
    "outcomes": {},
    "financial": {"evidence": True},
}


def figures_equal_a_replay(client: TestClient, auth: Auth, runtime: Runtime) -> None:
    for kind in ("monitoring", "outcomes", "financial"):
        # A replay (a job) carries the financial evidence: asked for here too.
        live = report(client, auth, runtime, kind, period=YEAR, unsuppressed=True, **EVIDENCE[kind])
        replayed = replayed_report(
            client, auth, kind, live["run"]["position"], period=YEAR, unsuppressed=True
        )
        assert replayed["run"]["source"] == "replay"
        assert replayed["tables"] == live["tables"], kind


# ------------------------------------------------------------ random journeys


class RandomJourney:
    """A journey through the aggregate's own commands, with random dates and steps."""

    def __init__(self, script: Script, rng: random.Random) -> None:
        self.s, self.rng = script, rng
        provider = rng.choice(PROVIDERS)
        self.day = date(2021, 1, 1) + timedelta(days=rng.randrange(60))
        self.p = script.person(provider, self.day.isoformat(), "female", 22, "SY", "duldung")

    def later(self) -> date:
        self.day += timedelta(days=self.rng.randrange(1, 25))
        return min(self.day, date(2021, 12, 31))

    def steps(self, n: int) -> None:
        p, s = self.p, self.s
        for _ in range(n):
            common = {**s.common(p), "effective_date": self.later()}
            action = self.rng.randrange(6)
            module = self.rng.choice(MODULES)
            if p.status == "exited":
                if action < 2:
                    p.reenter(**common, intake_date=common["effective_date"])
                    p.assess_eligibility(
                        **common, programme=s.programme, eligible=True, target_group="duldung"
                    )
                    p.give_consent(**common, programme=s.programme, consent_version="2020-01")
                continue
            if action == 0 and module not in p.open_modules:
                p.enter_module(**common, programme=s.programme, module=module)
            elif action == 1 and p.open_modules:
                module = self.rng.choice(sorted(p.open_modules))
                p.exit_module(**common, programme=s.programme, module=module, reason="completed")
            elif action == 2 and "F4" in p.open_modules:
                hours = Decimal(self.rng.randrange(1, 9))
                p.record_course_attendance(
                    **common, programme=s.programme, module="F4", lesson_hours=hours
                )
            elif action == 3:
                p.log_coaching_contact(**common, minutes=30, mode="phone")
            elif action == 4 and self.rng.random() < 0.3:
                p.exit(**common, reason="completed", destination="apprenticeship")
            elif module not in p.open_modules:
                p.enter_module(**common, programme=s.programme, module=module)

    def change_something(self) -> bool:
        """A random correction or void; True if accepted. A refused one writes nothing."""
        p, s, rng = self.p, self.s, self.rng
        before = (p.version, len(p.pending_events))
        versions = sorted(p._entries)
        version = rng.choice(versions)
        entry = p._entries[version]
        common = {**s.common(p), "effective_date": date(2021, 12, 31)}
        try:
            if rng.random() < 0.4:
                # Now and then the registration: the record voided as a whole.
                later = [v for v in versions if v > 1] or [1]
                p.void_entry(
                    **common,
                    programme=s.programme,
                    voids_version=rng.choice(later) if rng.random() < 0.95 else 1,
                    reason="Fehleingabe",
                )
            else:
                changes: dict[str, Any]
                if isinstance(entry, Participant.ModuleEntered) and rng.random() < 0.3:
                    changes = {"module": rng.choice(MODULES)}
                elif version == 1:
                    changes = {"intake_date": entry.effective_date + timedelta(days=20)}
                else:
                    shift = timedelta(days=rng.randrange(-40, 40))
                    moved = min(
                        max(entry.effective_date + shift, date(2021, 1, 1)), date(2021, 12, 31)
                    )
                    changes = {"effective_date": moved}
                p.correct_entry(
                    **common,
                    programme=s.programme,
                    corrects_version=version,
                    reason="Korrektur",
                    changes=changes,
                )
        except DomainError:
            assert (p.version, len(p.pending_events)) == before
            return False
        return True


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_the_stock_identity_holds_after_every_correction_and_void(
    client: TestClient, auth: Auth, runtime: Runtime, seed: int
) -> None:
    rng = random.Random(seed)
    script = Script(runtime)
    journeys = [RandomJourney(script, rng) for _ in range(4)]
    for journey in journeys:
        journey.steps(rng.randrange(4, 14))
        runtime.journeys.save(journey.p)

    for _ in range(3):
        for journey in journeys:
            journey.change_something()
            runtime.journeys.save(journey.p)
        document = report(client, auth, runtime, "monitoring", period=YEAR, unsuppressed=True)
        assert check_stock_identity(quarter_rows(document)) > 0

    figures_equal_a_replay(client, auth, runtime)
    for journey in journeys:
        # What the aggregate folds is what the read model shows.
        loaded = runtime.journeys._load(journey.p.id)
        listed = client.get(
            "/participants",
            params={"min_position": head(runtime), "provider": loaded.provider},
            headers=auth("admin", "*"),
        ).json()["items"]
        shown = [i for i in listed if i["id"] == str(loaded.id)]
        if loaded.status == "voided":
            assert shown == []
        else:
            assert shown[0]["open_modules"] == sorted(loaded.open_modules)
            assert shown[0]["status"] == loaded.status


# -------------------------------------------------- a voided entry is gone


COACH = Envelope("coach", "caseworker", "caritas-ahlen", "test")


def figures(client: TestClient, auth: Auth, runtime: Runtime) -> dict[str, Any]:
    """Every report's tables, the evidence trail included."""
    return {
        kind: report(client, auth, runtime, kind, period=YEAR, unsuppressed=True, **EVIDENCE[kind])[
            "tables"
        ]
        for kind in ("monitoring", "outcomes", "financial")
    }


def f4_journey(script: Script, exit_on: str | None = None) -> Participant:
    p = script.person("caritas-ahlen", "2021-01-10", "female", 19, "SY", "duldung")
    script.enter(p, "F1", "2021-01-11")
    script.enter(p, "F4", "2021-01-12")
    script.lessons(p, "2021-02-15", 8, 6)
    script.coaching(p, "2021-03-01", 60, True)
    if exit_on:
        p.exit(
            **script.common(p),
            effective_date=d(exit_on),
            reason="completed",
            destination="apprenticeship",
        )
    return p


def void_via_api(
    client: TestClient, headers: dict[str, str], p: Participant, version: int
) -> dict[str, Any]:
    response = client.post(
        f"/participants/{p.id}/milestones",
        json={
            "type": "EntryVoided",
            "effective_date": "2021-12-31",
            "voids_version": version,
            "reason": "Fehleingabe",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_voided_entry_is_gone_from_every_figure(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    script = Script(runtime)
    kept = f4_journey(script, exit_on="2021-06-15")
    runtime.journeys.save(kept)
    before = figures(client, auth, runtime)
    p = f4_journey(script)
    runtime.journeys.save(p)
    assert figures(client, auth, runtime) != before
    attendance = next(
        v for v, e in p._entries.items() if isinstance(e, Participant.CourseAttendanceRecorded)
    )
    coaching = next(
        v for v, e in p._entries.items() if isinstance(e, Participant.CoachingContactLogged)
    )
    f1 = next(v for v, e in p._entries.items() if getattr(e, "module", None) == "F1")
    f4 = next(v for v, e in p._entries.items() if getattr(e, "module", None) == "F4")
    caseworker = auth("caseworker", "caritas-ahlen")

    # The hours first (a stay with hours in it cannot be voided), then the stays.
    for version in (attendance, coaching, f4, f1):
        void_via_api(client, caseworker, p, version)

    # Only the still registered person remains: no stay, no unit, no evidence row.
    after = figures(client, auth, runtime)
    assert after == before
    trail = rows_of(
        report(client, auth, runtime, "financial", period=YEAR, evidence=True), "nachweise"
    )
    assert str(p.id) not in {r["participant_id"] for r in trail}
    timeline = client.get(f"/participants/{p.id}/timeline", headers=caseworker).json()
    voided = next(e for e in timeline["entries"] if e["version"] == attendance)
    assert voided["summary"].endswith("(für ungültig erklärt)")
    history = client.get(f"/participants/{p.id}/history", headers=caseworker).json()
    assert [e["voided_by"] is not None for e in history["events"]].count(True) == 4


def test_a_duplicate_registration_voided_as_a_whole_counts_nowhere(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    script = Script(runtime)
    original = f4_journey(script, exit_on="2021-06-15")
    runtime.journeys.save(original)
    before = figures(client, auth, runtime)
    duplicate = f4_journey(script, exit_on="2021-06-15")
    runtime.journeys.save(duplicate)
    coordinator = auth("coordinator", "warendorf")

    void_via_api(client, coordinator, duplicate, 1)

    assert figures(client, auth, runtime) == before
    caseload = client.get(
        "/participants", params={"min_position": head(runtime)}, headers=coordinator
    ).json()
    assert [i["id"] for i in caseload["items"]] == [str(original.id)]
    state = client.get(f"/participants/{duplicate.id}", headers=coordinator).json()
    assert state["status"] == "voided"
    refused = client.post(
        f"/participants/{duplicate.id}/milestones",
        json={
            "type": "CoachingContactLogged",
            "effective_date": "2021-12-31",
            "minutes": 30,
            "mode": "phone",
        },
        headers=auth("caseworker", "caritas-ahlen"),
    )
    assert refused.status_code == 409
    assert refused.json()["rule"] == "registration-voided"
    figures_equal_a_replay(client, auth, runtime)


# ----------------------------------------------------------------- re-entry


def test_a_re_entry_counts_as_a_new_entry_of_the_same_person(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    script = Script(runtime)
    p = script.person("caritas-ahlen", "2021-01-10", "female", 19, "SY", "duldung")
    script.enter(p, "F1", "2021-01-11")
    common = script.common(p)
    p.exit(**common, effective_date=d("2021-03-15"), reason="completed", destination="school")
    p.reenter(**common, effective_date=d("2021-05-03"), intake_date=d("2021-05-03"))
    p.assess_eligibility(
        **common,
        effective_date=d("2021-05-03"),
        programme=script.programme,
        eligible=True,
        target_group="duldung",
    )
    p.give_consent(
        **common,
        effective_date=d("2021-05-03"),
        programme=script.programme,
        consent_version="2020-01",
    )
    script.enter(p, "F1", "2021-05-04")
    runtime.journeys.save(p)

    rows = quarter_rows(report(client, auth, runtime, "monitoring", period=YEAR, unsuppressed=True))

    q1 = pick(rows, municipality="Kreis Warendorf", module="F1", quarter="2021-Q1")
    q2 = pick(rows, municipality="Kreis Warendorf", module="F1", quarter="2021-Q2")
    assert (q1["entries"], q1["exits"], q1["stock"]) == (1, 1, 0)
    assert (q2["entries"], q2["exits"], q2["stock"], q2["cumulative_entries"]) == (1, 0, 1, 2)
    check_stock_identity(rows)
    listed = client.get(
        "/participants", params={"min_position": head(runtime)}, headers=auth()
    ).json()["items"]
    assert [(i["id"], i["status"]) for i in listed] == [(str(p.id), "active")]
    state = client.get(f"/participants/{p.id}", headers=auth()).json()
    assert (state["periods"], state["period_start"]) == (2, "2021-05-03")
    figures_equal_a_replay(client, auth, runtime)


@pytest.mark.parametrize("destination", ["school"])
def test_outcomes_of_a_second_period_name_only_its_own_modules(
    client: TestClient, auth: Auth, runtime: Runtime, destination: str
) -> None:
    script = Script(runtime)
    p = script.person("caritas-ahlen", "2021-01-10", "female", 19, "SY", "duldung")
    script.enter(p, "F4", "2021-01-11")
    common = script.common(p)
    p.exit(**common, effective_date=d("2021-02-15"), reason="completed", destination=destination)
    p.reenter(**common, effective_date=d("2021-04-01"), intake_date=d("2021-04-01"))
    p.assess_eligibility(
        **common,
        effective_date=d("2021-04-01"),
        programme=script.programme,
        eligible=True,
        target_group="duldung",
    )
    p.give_consent(
        **common,
        effective_date=d("2021-04-01"),
        programme=script.programme,
        consent_version="2020-01",
    )
    script.enter(p, "F1", "2021-04-02")
    p.exit(**common, effective_date=d("2021-05-15"), reason="completed", destination=destination)
    runtime.journeys.save(p)

    where = rows_of(
        report(client, auth, runtime, "outcomes", period=YEAR, unsuppressed=True), "verbleib"
    )

    f1 = pick(where, municipality="Kreis Warendorf", module="F1", moment="bei Austritt")
    f4 = pick(where, municipality="Kreis Warendorf", module="F4", moment="bei Austritt")
    assert (f1["total"], f4["total"]) == (1, 1)
