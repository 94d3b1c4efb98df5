"""People and stays in the funding reports, on a hand-counted dataset (real PostgreSQL).

Period 2021-H1, Kreis Warendorf, two providers (caritas-ahlen: P1-P3, vhs-warendorf:
P4-P6), six persons with twelve module stays:

- P1 (19, duldung; language A1 on 01-10, B1 on 05-01): F1 from 01-11, F4 from 01-12,
  both open; residence status changed to Ausbildungsduldung (§ 60c) on 04-15.
- P2 (22, gestattung): F1 from 01-11 (open); F4 02-01 to 03-15, again from 05-01.
- P3 (20, duldung): F1 from 02-02, F4 from 02-03; exit 05-31 closes both.
- P4 (25, duldung): F1 from 01-21 (open).
- P5 (24, gestattung), intake 04-01: F1 and F4 from 04-02 (open).
- P6 (20 at intake on 2020-06-15, so 21 on 2021-06-30; duldung): F1 from 2020-06-16
  (open, the opening stock), F4 2021-02-10 to 03-20.

Stays F1: opening 1, Q1 +4 = 5, Q2 +1 -1 = 5. F4: Q1 +4 -2 = 2, Q2 +2 -1 = 3.
All modules: stays opening 1, Q1 +8 -2 = 7, Q2 +3 -2 = 8; persons opening 1 (P6),
Q1 +4 (P1-P4) = 5, Q2 +1 (P5) -1 (P3) = 5.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.domain.participant import Participant
from tests.builders.reports import Script, d, pick, replayed_report, report, rows_of
from tests.conftest import Auth

W, ALL = "Kreis Warendorf", "Alle Kommunen"
PERSONS = ("persons_entries", "persons_exits", "persons_stock")
STAYS = ("entries", "exits", "stock")


def build_people(runtime: Runtime) -> dict[str, Participant]:
    s = Script(runtime)
    p: dict[str, Participant] = {}
    p["P1"] = s.person("caritas-ahlen", "2021-01-10", "female", 19, "SY", "duldung")
    p["P2"] = s.person("caritas-ahlen", "2021-01-10", "male", 22, "AF", "gestattung")
    p["P3"] = s.person("caritas-ahlen", "2021-02-01", "male", 20, "SY", "duldung")
    p["P4"] = s.person("vhs-warendorf", "2021-01-20", "female", 25, "IQ", "duldung")
    p["P5"] = s.person("vhs-warendorf", "2021-04-01", "male", 24, "GN", "gestattung")
    p["P6"] = s.person("vhs-warendorf", "2020-06-15", "male", 20, "ER", "duldung")
    p1 = p["P1"]
    p1.assess_language_level(**s.common(p1), effective_date=d("2021-01-10"), level="A1")
    s.enter(p1, "F1", "2021-01-11")
    s.enter(p1, "F4", "2021-01-12")
    p1.change_residence_status(
        **s.common(p1), effective_date=d("2021-04-15"), status="ausbildungsduldung_60c"
    )
    p1.assess_language_level(**s.common(p1), effective_date=d("2021-05-01"), level="B1")
    s.enter(p["P2"], "F1", "2021-01-11")
    s.enter(p["P2"], "F4", "2021-02-01")
    s.leave(p["P2"], "F4", "2021-03-15", "completed")
    s.enter(p["P2"], "F4", "2021-05-01")
    p3 = p["P3"]
    s.enter(p3, "F1", "2021-02-02")
    s.enter(p3, "F4", "2021-02-03")
    p3.exit(
        **s.common(p3), effective_date=d("2021-05-31"), reason="completed", destination="school"
    )
    s.enter(p["P4"], "F1", "2021-01-21")
    s.enter(p["P5"], "F1", "2021-04-02")
    s.enter(p["P5"], "F4", "2021-04-02")
    s.enter(p["P6"], "F1", "2020-06-16")
    s.enter(p["P6"], "F4", "2021-02-10")
    s.leave(p["P6"], "F4", "2021-03-20", "aborted_participant")
    for person in p.values():
        runtime.journeys.save(person)
    return p


@pytest.fixture
def people(runtime: Runtime) -> dict[str, Participant]:
    return build_people(runtime)


def counts(rows: list[dict[str, Any]], module: str, quarter: str, keys: tuple[str, ...]) -> Any:
    row = pick(rows, municipality=W, module=module, quarter=quarter)
    return tuple(row[k] for k in keys)


def test_monitoring_counts_persons_beside_stays_and_the_total_counts_a_person_once(
    client: TestClient, auth: Auth, runtime: Runtime, people: Any
) -> None:
    document = report(client, auth, runtime, "monitoring", unsuppressed=True)

    rows = rows_of(document, "quartale")
    #                                            entries exits stock
    assert counts(rows, "F1", "2021-Q1", STAYS) == (4, 0, 5)
    assert counts(rows, "F1", "2021-Q1", PERSONS) == (4, 0, 5)
    assert counts(rows, "F4", "2021-Q1", STAYS) == (4, 2, 2)
    assert counts(rows, "F4", "2021-Q2", STAYS) == (2, 1, 3)
    assert counts(rows, "F4", "2021-Q2", PERSONS) == (2, 1, 3)
    # All modules: twelve stays of six people; P1 in F1 and F4 is two stays, one person.
    assert counts(rows, "Gesamt", "2021-Q1", STAYS) == (8, 2, 7)
    assert counts(rows, "Gesamt", "2021-Q1", PERSONS) == (4, 0, 5)
    assert counts(rows, "Gesamt", "2021-Q2", STAYS) == (3, 2, 8)
    assert counts(rows, "Gesamt", "2021-Q2", PERSONS) == (1, 1, 5)
    # The state's total is Warendorf's: nobody anywhere else.
    assert pick(rows, municipality=ALL, module="Gesamt", quarter="2021-Q2")["persons_stock"] == 5
    # One provider's figures: P4 (F1), P5 (F1, F4), P6 (F1) of vhs-warendorf.
    vhs = rows_of(
        report(client, auth, runtime, "monitoring", unsuppressed=True, provider="vhs-warendorf"),
        "quartale",
    )
    assert counts(vhs, "Gesamt", "2021-Q2", STAYS) == (2, 0, 4)
    assert counts(vhs, "Gesamt", "2021-Q2", PERSONS) == (1, 0, 3)
    columns = [c["key"] for c in document["tables"]["quartale"]["columns"]]
    assert columns[-3:] == list(PERSONS)
    assert {"entries", "exits", "stock"} <= set(columns)  # extended, not renamed


def test_the_stock_identity_holds_for_persons_and_for_stays_in_every_row(
    client: TestClient, auth: Auth, runtime: Runtime, people: Any
) -> None:
    document = report(client, auth, runtime, "monitoring", unsuppressed=True)

    rows = rows_of(document, "quartale")
    opening = {"F1": (1, 1), "Gesamt": (1, 1)}  # P6's F1 stay since 2020: (stays, persons)
    for module in ("F1", "F4", "Gesamt"):
        before = opening.get(module, (0, 0))
        for quarter in ("2021-Q1", "2021-Q2"):
            stays = counts(rows, module, quarter, STAYS)
            persons = counts(rows, module, quarter, PERSONS)
            assert stays[2] == before[0] + stays[0] - stays[1], (module, quarter)
            assert persons[2] == before[1] + persons[0] - persons[1], (module, quarter)
            before = (stays[2], persons[2])


def test_stock_characteristics_are_the_state_at_the_reporting_date_entries_the_state_at_entry(
    client: TestClient, auth: Auth, runtime: Runtime, people: Any
) -> None:
    document = report(client, auth, runtime, "monitoring", unsuppressed=True)

    chars = rows_of(document, "merkmale")
    entries, stock = "Eintritte im Zeitraum", "Bestand am 2021-06-30"

    def row(module: str, basis: str, dim: str, value: str) -> dict[str, Any]:
        return pick(chars, municipality=W, module=module, basis=basis, dimension=dim, value=value)

    def char(module: str, basis: str, dim: str, value: str) -> Any:
        return row(module, basis, dim, value)["count"]

    # P1 changed to Ausbildungsduldung (§ 60c) on 04-15: the stock shows it, the
    # entries (January) still show the Duldung at entry.
    assert char("F4", stock, "Aufenthaltsstatus", "ausbildungsduldung_60c") == 1
    assert char("F4", stock, "Aufenthaltsstatus", "duldung") == 0
    assert char("F4", stock, "Aufenthaltsstatus", "gestattung") == 2
    assert char("F4", entries, "Aufenthaltsstatus", "ausbildungsduldung_60c") == 0
    assert char("F4", entries, "Aufenthaltsstatus", "duldung") == 3  # P1, P3, P6
    assert char("Gesamt", stock, "Aufenthaltsstatus", "ausbildungsduldung_60c") == 2
    # Language level: A1 at entry, B1 on the reporting date; nobody else assessed.
    assert char("F4", entries, "Sprachstand", "A1") == 1
    assert char("F4", entries, "Sprachstand", "nicht festgestellt") == 5
    assert char("F4", stock, "Sprachstand", "B1") == 1
    assert char("F4", stock, "Sprachstand", "A1") == 0
    # Age on the reporting date: P6 was 20 at intake in June 2020, 21 now.
    assert char("F1", stock, "Altersgruppe", "18–20") == 1  # noqa: RUF001  (P1)
    assert char("F1", stock, "Altersgruppe", "21–24") == 3  # noqa: RUF001  (P2, P5, P6)
    assert char("F4", entries, "Altersgruppe", "18–20") == 3  # noqa: RUF001  (P1, P3, P6)
    total_stock = row("F4", stock, "insgesamt", "")
    assert total_stock["count"] == 3
    # Each row says which state it describes.
    assert total_stock["characteristics_as_of"] == "am Stichtag 2021-06-30"
    assert row("F4", entries, "insgesamt", "")["characteristics_as_of"] == "bei Eintritt"
    title = document["tables"]["merkmale"]["title"]
    assert "Stand bei Eintritt" in title
    assert "Stand am Stichtag" in title


def test_people_figures_from_the_read_models_equal_a_replay_of_the_log(
    client: TestClient, auth: Auth, runtime: Runtime, people: Any
) -> None:
    for kind in ("monitoring", "outcomes"):
        from_read_models = report(client, auth, runtime, kind, unsuppressed=True)
        replayed = replayed_report(
            client, auth, kind, from_read_models["run"]["position"], unsuppressed=True
        )

        assert replayed["tables"] == from_read_models["tables"], kind


def journey_in_order(runtime: Runtime, order: str) -> Participant:
    """The same dated journey, its entries recorded in one of two orders.

    F1 from 01-11, F4 03-01 to 04-30, an apprenticeship from 06-01, F6 from 06-15,
    exit 06-30 (apprenticeship). By the rule the apprenticeship counts for F1 (open on
    06-01; F4 had ended, F6 not begun), the exit for F1 and F6 (open on 06-30).
    """
    s = Script(runtime)
    p = s.person("caritas-ahlen", "2021-01-10", "female", 21, "SY", "duldung")
    s.enter(p, "F1", "2021-01-11")

    def apprenticeship() -> None:
        p.start_apprenticeship(**s.common(p), effective_date=d("2021-06-01"), occupation="Koch")

    def f4() -> None:
        s.enter(p, "F4", "2021-03-01")
        s.leave(p, "F4", "2021-04-30", "completed")

    steps = (
        [f4, apprenticeship, lambda: s.enter(p, "F6", "2021-06-15")]
        if order == "as it happened"
        else [lambda: s.enter(p, "F6", "2021-06-15"), apprenticeship, f4]
    )
    for step in steps:
        step()
    p.exit(
        **s.common(p),
        effective_date=d("2021-06-30"),
        reason="completed",
        destination="apprenticeship",
    )
    runtime.journeys.save(p)
    return p


def test_outcomes_are_attributed_to_modules_by_date_whatever_the_recording_order(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    journey_in_order(runtime, "as it happened")
    journey_in_order(runtime, "late entries")

    document = report(client, auth, runtime, "outcomes", unsuppressed=True)

    steps = rows_of(document, "uebergaenge")
    started = {
        m: pick(steps, municipality=W, module=m)["apprenticeship_started"]
        for m in ("F1", "F4", "F6", "Gesamt")
    }
    where = rows_of(document, "verbleib")
    at_exit = {
        m: pick(where, municipality=W, module=m, moment="bei Austritt")["apprenticeship"]
        for m in ("F1", "F4", "F6", "Gesamt")
    }
    assert started == {"F1": 2, "F4": 0, "F6": 0, "Gesamt": 2}
    assert at_exit == {"F1": 2, "F4": 0, "F6": 2, "Gesamt": 2}
    replayed = replayed_report(
        client, auth, "outcomes", document["run"]["position"], unsuppressed=True
    )
    assert replayed["tables"] == document["tables"]


def test_an_outcome_after_every_stay_ended_counts_for_the_modules_left_last(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    s = Script(runtime)
    p = s.person("caritas-ahlen", "2021-01-10", "male", 22, "AF", "gestattung")
    s.enter(p, "F1", "2021-01-11")
    s.enter(p, "F4", "2021-01-12")
    s.leave(p, "F1", "2021-02-28", "completed")
    s.leave(p, "F4", "2021-04-30", "completed")
    p.start_employment(
        **s.common(p),
        effective_date=date(2021, 5, 15),
        employment_type="geringfuegig",
        hours_per_week=Decimal(8),
    )
    runtime.journeys.save(p)

    document = report(client, auth, runtime, "outcomes", unsuppressed=True)

    steps = rows_of(document, "uebergaenge")
    assert pick(steps, municipality=W, module="F4")["employment_started"] == 1
    assert pick(steps, municipality=W, module="F1")["employment_started"] == 0


def test_participants_linked_as_one_person_count_once_their_stays_each(
    client: TestClient, auth: Auth, runtime: Runtime, people: dict[str, Participant]
) -> None:
    # P4 (vhs-warendorf, F1 from 01-21) turns out to be P1 (caritas-ahlen, F1 and F4
    # from January): a coordinator links them (DuplicatesLinked on both).
    s = Script(runtime)
    p1, p4 = (runtime.journeys.repository.get(people[k].id) for k in ("P1", "P4"))
    for one, other in ((p1, p4), (p4, p1)):
        one.decide_duplicate(
            envelope=s.common(one)["envelope"],
            today=s.today,
            other_participant=str(other.id),
            linked=True,
        )
    runtime.journeys.save(p1, p4)

    document = report(client, auth, runtime, "monitoring", unsuppressed=True)

    rows = rows_of(document, "quartale")
    # Stays as before: each provider keeps its own.
    assert counts(rows, "F1", "2021-Q1", STAYS) == (4, 0, 5)
    assert counts(rows, "Gesamt", "2021-Q1", STAYS) == (8, 2, 7)
    # People: P1 and P4 are one person (entries 4 -> 3, stock 5 -> 4).
    assert counts(rows, "F1", "2021-Q1", PERSONS) == (3, 0, 4)
    assert counts(rows, "Gesamt", "2021-Q1", PERSONS) == (3, 0, 4)
    assert counts(rows, "Gesamt", "2021-Q2", PERSONS) == (1, 1, 4)
    # The replay of the log counts the same.
    replayed = replayed_report(
        client, auth, "monitoring", document["run"]["position"], unsuppressed=True
    )
    assert replayed["tables"] == document["tables"]
