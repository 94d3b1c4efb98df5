"""Funding reports against real PostgreSQL, on a scripted dataset with hand-counted figures.

The dataset (period 2021-H1, two municipalities):

Kreis Warendorf
- A x4 (caritas-ahlen; female, 19, duldung, SY), intake 2021-01-10: F1 from 01-11 (open),
  F4 from 01-12 to 05-20 (completed); F4 attendance 02-15: 8 held / 6 attended (A0's
  corrected to 4 / 4); a coaching contact 03-01, 60 min, confirmed.
- B x3 (caritas-ahlen; male, 22, gestattung, AF; B0's gender corrected to female), intake
  02-01: F1 from 02-02, F4 from 02-03; apprenticeship 06-01; exit 06-15 completed ->
  apprenticeship (closes F1 and F4).
- C x1 (caritas-ahlen; female, 26, duldung, ER), intake 04-05: F1 from 04-06 (open),
  F4 04-07 to 04-30 (aborted), F4 again from 05-10 (open: a re-entry); apprenticeship
  06-01, aborted 06-25.
- D x1 (vhs-warendorf; male, 24, duldung, SY), intake 2020-11-02: F1 from 2020-11-03 (open,
  counts for Warendorf), transferred to caritas-koeln 2021-03-01, F4 from 04-01 (Köln).

Stadt Köln
- E x5 (caritas-koeln; male, 20, gestattung, GN), intake 03-01: F1 from 03-02, F4 from
  03-03; F4 attendance 04-20: 6 / 6; coaching 05-05, 45 min, unconfirmed; marginal
  employment 06-10; exit 06-20 completed -> employment_marginal.
- F x2 (caritas-koeln; female, 25, duldung, IQ), intake 04-12: F1 from 04-13 (open).

Late entries (recorded after the first run): F0 enters F4 on 05-03; A0's F4 exit reason
corrected to aborted_participant; a coaching contact for A1 on 06-01.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role
from lotse.domain.participant import Participant
from tests.builders.api import Auth
from tests.builders.projections import fetch_rows, run
from tests.builders.reports import (
    PERIOD,
    Script,
    d,
    get,
    head,
    pick,
    replayed_report,
    report,
    rows_of,
)

W, K, ALL = "Kreis Warendorf", "Stadt Köln", "Alle Kommunen"
COACH = Principal("coach", Role.CASEWORKER, "caritas-ahlen")


def version_of(p: Participant, event_type: str, **match: Any) -> int:
    for version, entry in sorted(p._entries.items()):
        if type(entry).__name__ == event_type and all(
            getattr(entry, k) == v for k, v in match.items()
        ):
            return version
    raise AssertionError(event_type)


def build_dataset(runtime: Runtime) -> dict[str, list[Participant]]:
    s = Script(runtime)
    people: dict[str, list[Participant]] = {}
    people["A"] = [
        s.person("caritas-ahlen", "2021-01-10", "female", 19, "SY", "duldung") for _ in range(4)
    ]
    for p in people["A"]:
        s.enter(p, "F1", "2021-01-11")
        s.enter(p, "F4", "2021-01-12")
        s.lessons(p, "2021-02-15", 8, 6)
        s.coaching(p, "2021-03-01", 60, True)
        s.leave(p, "F4", "2021-05-20", "completed")
    a0 = people["A"][0]
    s.correct(
        a0,
        version_of(a0, "CourseAttendanceRecorded"),
        "2021-05-21",
        lesson_hours=Decimal(4),
        lesson_hours_attended=Decimal(4),
    )
    people["B"] = [
        s.person("caritas-ahlen", "2021-02-01", "male", 22, "AF", "gestattung") for _ in range(3)
    ]
    for p in people["B"]:
        s.enter(p, "F1", "2021-02-02")
        s.enter(p, "F4", "2021-02-03")
        p.start_apprenticeship(**s.common(p), effective_date=d("2021-06-01"), occupation="Koch")
        p.exit(
            **s.common(p),
            effective_date=d("2021-06-15"),
            reason="completed",
            destination="apprenticeship",
        )
    s.correct(people["B"][0], 1, "2021-06-15", gender="female")
    c = s.person("caritas-ahlen", "2021-04-05", "female", 26, "ER", "duldung")
    s.enter(c, "F1", "2021-04-06")
    s.enter(c, "F4", "2021-04-07")
    s.leave(c, "F4", "2021-04-30", "aborted_participant")
    s.enter(c, "F4", "2021-05-10")
    c.start_apprenticeship(**s.common(c), effective_date=d("2021-06-01"), occupation="Koch")
    c.abort_apprenticeship(
        **s.common(c), effective_date=d("2021-06-25"), reason="aborted_participant"
    )
    people["C"] = [c]
    dd = s.person("vhs-warendorf", "2020-11-02", "male", 24, "SY", "duldung")
    s.enter(dd, "F1", "2020-11-03")
    dd.transfer(
        **s.common(dd),
        effective_date=d("2021-03-01"),
        to_provider="caritas-koeln",
        to_municipality="koeln",
    )
    s.enter(dd, "F4", "2021-04-01")
    people["D"] = [dd]
    people["E"] = [
        s.person("caritas-koeln", "2021-03-01", "male", 20, "GN", "gestattung") for _ in range(5)
    ]
    for p in people["E"]:
        s.enter(p, "F1", "2021-03-02")
        s.enter(p, "F4", "2021-03-03")
        s.lessons(p, "2021-04-20", 6, 6)
        s.coaching(p, "2021-05-05", 45, False)
        p.start_employment(
            **s.common(p),
            effective_date=d("2021-06-10"),
            employment_type="geringfuegig",
            hours_per_week=Decimal(8),
        )
        p.exit(
            **s.common(p),
            effective_date=d("2021-06-20"),
            reason="completed",
            destination="employment_marginal",
        )
    people["F"] = [
        s.person("caritas-koeln", "2021-04-12", "female", 25, "IQ", "duldung") for _ in range(2)
    ]
    for p in people["F"]:
        s.enter(p, "F1", "2021-04-13")
    for group in people.values():
        for p in group:
            runtime.journeys.save(p)
    return people


FLOW = (
    "entries",
    "exits",
    "exits_completed",
    "exits_aborted_participant",
    "stock",
    "cumulative_entries",
)


def flow(
    rows: list[dict[str, Any]], municipality: str, module: str, quarter: str
) -> tuple[Any, ...]:
    row = pick(rows, municipality=municipality, module=module, quarter=quarter)
    return tuple(row[k] for k in FLOW)


@pytest.fixture
def dataset(runtime: Runtime) -> dict[str, list[Participant]]:
    return build_dataset(runtime)


# ------------------------------------------------------------------ monitoring


def test_monitoring_counts_entries_exits_and_stock_per_municipality_module_quarter(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    document = report(client, auth, runtime, "monitoring", unsuppressed=True)

    rows = rows_of(document, "quartale")
    #                    entries exits completed aborted stock cumulative
    # D's F1 stay moved to Köln with the transfer on 2021-03-01 (an exit here).
    assert flow(rows, W, "F1", "2021-Q1") == (7, 1, 0, 0, 7, 8)
    assert flow(rows, W, "F1", "2021-Q2") == (1, 3, 3, 0, 5, 9)
    assert flow(rows, W, "F4", "2021-Q1") == (7, 0, 0, 0, 7, 7)
    assert flow(rows, W, "F4", "2021-Q2") == (2, 8, 7, 1, 1, 9)
    assert flow(rows, W, "Gesamt", "2021-Q2") == (3, 11, 10, 1, 6, 18)
    assert flow(rows, K, "F1", "2021-Q1") == (6, 0, 0, 0, 6, 6)
    assert flow(rows, K, "F1", "2021-Q2") == (2, 5, 5, 0, 3, 8)
    assert flow(rows, K, "F4", "2021-Q2") == (1, 5, 5, 0, 1, 6)
    assert flow(rows, ALL, "F4", "2021-Q2") == (3, 13, 12, 1, 2, 15)
    assert flow(rows, ALL, "Gesamt", "2021-Q2") == (6, 21, 20, 1, 10, 32)
    assert flow(rows, W, "F2", "2021-Q2") == (0, 0, 0, 0, 0, 0)
    assert pick(rows, municipality=W, module="F1", quarter="2021-Q2")["stock_share"] == "83.3"
    assert pick(rows, municipality=W, module="F4", quarter="2021-Q2")["stock_share"] == "16.7"
    assert pick(rows, municipality=W, module="F4", quarter="2021-Q2")["reporting_date"] == (
        "2021-06-30"
    )
    chars = rows_of(document, "merkmale")
    entries = "Eintritte im Zeitraum"
    stock = "Bestand am 2021-06-30"

    def char(basis: str, dim: str, value: str) -> Any:
        return pick(chars, municipality=W, module="F4", basis=basis, dimension=dim, value=value)[
            "count"
        ]

    assert char(entries, "insgesamt", "") == 9
    assert char(entries, "Geschlecht", "weiblich") == 7  # A x4, B0 (corrected), C's two stays
    assert char(entries, "Geschlecht", "männlich") == 2
    assert char(entries, "Altersgruppe", "18–20") == 4  # noqa: RUF001
    assert char(entries, "Altersgruppe", "21–24") == 3  # noqa: RUF001
    assert char(entries, "Altersgruppe", "25–27") == 2  # noqa: RUF001
    assert char(entries, "Aufenthaltsstatus", "duldung") == 6
    assert char(entries, "Staatsangehörigkeit", "AF") == 3
    assert char(stock, "insgesamt", "") == 1
    assert char(stock, "Staatsangehörigkeit", "ER") == 1
    assert document["run"]["position"] == head(runtime)
    assert document["run"]["source"] == "read_models"


def test_a_transfer_to_another_municipality_moves_the_open_stays_from_the_transfer_date(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    # D: F1 in Warendorf since 2020-11-03, transferred to Köln on 2021-03-01, F4 in Köln.
    document = report(client, auth, runtime, "monitoring", unsuppressed=True)

    rows = rows_of(document, "quartale")
    w_q1 = pick(rows, municipality=W, module="F1", quarter="2021-Q1")
    k_q1 = pick(rows, municipality=K, module="F1", quarter="2021-Q1")
    # Warendorf keeps its past: the entry of 2020 in the cumulative count; the stay
    # leaves its stock on the transfer date, as an exit "transferred".
    assert (w_q1["exits"], w_q1["exits_transferred"], w_q1["cumulative_entries"]) == (1, 1, 8)
    # Köln counts the moved stay from the transfer date on: an entry in 2021-Q1.
    assert (k_q1["entries"], k_q1["stock"]) == (6, 6)
    pid = dataset["D"][0].id
    spans = run(
        fetch_rows(
            runtime,
            "SELECT municipality, provider, module, entered, exited, exit_reason "
            f"FROM rm_module_stays WHERE participant_id = '{pid}' ORDER BY entered, municipality",
        )
    )
    assert [tuple(s) for s in spans] == [
        ("warendorf", "vhs-warendorf", "F1", d("2020-11-03"), d("2021-03-01"), "transferred"),
        ("koeln", "caritas-koeln", "F1", d("2021-03-01"), None, None),
        ("koeln", "caritas-koeln", "F4", d("2021-04-01"), None, None),
    ]


def test_outcome_report_counts_destinations_apprenticeships_and_marginal_employment(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    document = report(client, auth, runtime, "outcomes", unsuppressed=True)

    where = rows_of(document, "verbleib")
    w_exit = pick(where, municipality="Kreis Warendorf", module="F4", moment="bei Austritt")
    k_exit = pick(where, municipality="Stadt Köln", module="Gesamt", moment="bei Austritt")
    all_exit = pick(where, municipality="Alle Kommunen", module="Gesamt", moment="bei Austritt")
    all_follow = pick(
        where, municipality="Alle Kommunen", module="Gesamt", moment="bei Nachbefragung"
    )
    assert (w_exit["apprenticeship"], w_exit["total"]) == (3, 3)
    assert (k_exit["employment_marginal"], k_exit["total"]) == (5, 5)
    assert (all_exit["apprenticeship"], all_exit["employment_marginal"], all_exit["total"]) == (
        3,
        5,
        8,
    )
    assert all_follow["total"] == 0
    steps = rows_of(document, "uebergaenge")
    w = pick(steps, municipality="Kreis Warendorf", module="F4")
    k = pick(steps, municipality="Stadt Köln", module="F4")
    assert (w["apprenticeship_started"], w["apprenticeship_aborted"]) == (4, 1)
    assert (k["employment_started"], k["employment_geringfuegig"], k["employment_svp"]) == (
        5,
        5,
        0,
    )


def test_financial_evidence_prices_lesson_hours_and_traces_every_total_to_events(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    document = report(client, auth, runtime, "financial", evidence=True)

    lessons = rows_of(document, "unterrichtsstunden")
    ahlen = pick(lessons, provider="Caritasverband Ahlen", module="F4")
    koeln = pick(lessons, provider="Caritasverband für die Stadt Köln", module="F4")
    total = pick(lessons, provider="Alle Träger", module="Gesamt")
    assert (ahlen["entries"], ahlen["lesson_hours"], ahlen["lesson_hours_attended"]) == (
        4,
        "28.00",
        "22.00",
    )
    assert (ahlen["rate"], ahlen["amount"]) == ("37.50", "1050.00")
    assert (koeln["lesson_hours"], koeln["amount"]) == ("30.00", "1125.00")
    assert (total["lesson_hours"], total["lesson_hours_attended"], total["amount"]) == (
        "58.00",
        "52.00",
        "2175.00",
    )
    coaching = rows_of(document, "coaching")
    assert [
        (r["contacts"], r["confirmed"], r["minutes"])
        for r in coaching
        if r["provider"] in ("Caritasverband Ahlen", "Alle Träger")
    ] == [(4, 4, 240), (9, 4, 465)]
    trail = rows_of(document, "nachweise")
    lesson_rows = [r for r in trail if r["kind"] == "Unterricht"]
    assert sum(Decimal(r["lesson_hours"]) for r in lesson_rows) == Decimal(58)
    assert len(trail) == 18
    corrected = [r for r in trail if r["corrected_by_version"] is not None]
    a0 = dataset["A"][0]
    assert [(r["participant_id"], r["lesson_hours"]) for r in corrected] == [(str(a0.id), "4.00")]
    assert all(r["position"] <= document["run"]["position"] for r in trail)


def test_read_model_figures_equal_the_figures_of_a_replay_at_the_same_position(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    for kind in ("monitoring", "outcomes", "financial"):
        # A replay (audit work, a job) carries the financial evidence; asked for here.
        evidence = {"evidence": True} if kind == "financial" else {}
        from_read_models = report(client, auth, runtime, kind, unsuppressed=True, **evidence)
        replayed = replayed_report(
            client, auth, kind, from_read_models["run"]["position"], unsuppressed=True
        )

        assert replayed["run"]["source"] == "replay"
        assert replayed["tables"] == from_read_models["tables"], kind


# ------------------------------------------------------------- reproducibility


def test_a_stored_run_is_served_unchanged_reproduced_at_its_position_and_lists_late_events(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    admin = auth("admin", "*")
    first = report(client, auth, runtime, "monitoring", unsuppressed=True)
    run_id, position = first["run"]["id"], first["run"]["position"]
    # Late entries: an entry into F4 dated in May, a corrected exit reason, and a
    # coaching contact (no monitoring figure counts it).
    f0, a0, a1 = dataset["F"][0], dataset["A"][0], dataset["A"][1]
    j = runtime.journeys
    caseworker_koeln = Principal("coach", Role.CASEWORKER, "caritas-koeln")
    late_entry = j.record_milestone(
        caseworker_koeln, "late", f0.id, "ModuleEntered", d("2021-05-03"), module="F4"
    )
    late_correction = j.record_milestone(
        COACH,
        "late",
        a0.id,
        "EntryCorrected",
        d("2021-07-01"),
        corrects_version=version_of(a0, "ModuleExited", module="F4"),
        reason="Korrektur",
        changes={"reason": "aborted_participant"},
    )
    j.record_milestone(
        COACH, "late", a1.id, "CoachingContactLogged", d("2021-06-01"), minutes=30, mode="phone"
    )

    served_again = get(client, admin, f"/reports/runs/{run_id}")
    rerun = replayed_report(client, auth, "monitoring", position, unsuppressed=True)
    now = report(client, auth, runtime, "monitoring", unsuppressed=True)
    changes = get(client, admin, f"/reports/runs/{run_id}/changes")

    assert served_again == first
    assert rerun["tables"] == first["tables"]
    assert now["tables"] != first["tables"]
    assert [e["position"] for e in changes["events"]] == [
        late_entry.position,
        late_correction.position,
    ]
    assert [e["type"] for e in changes["events"]] == ["ModuleEntered", "EntryCorrected"]
    assert changes["events"][0]["participant_id"] == str(f0.id)
    assert changes["events"][0]["effective_date"] == "2021-05-03"
    changed = {
        c["cell"]: (c["before"], c["after"], c["difference"]) for c in changes["changed_cells"]
    }
    assert changed["entries|koeln|F4|2021-Q2"] == (1, 2, 1)
    assert changed["stock|koeln|F4|2021-Q2"] == (1, 2, 1)
    assert changed["exits_reason|warendorf|F4|2021-Q2|completed"] == (7, 6, -1)
    assert changed["exits_reason|warendorf|F4|2021-Q2|aborted_participant"] == (1, 2, 1)
    assert "exits|warendorf|F4|2021-Q2" not in changed
    assert changes["events"][1]["cells"]["exits_reason|warendorf|F4|2021-Q2|completed"] == -1


# ----------------------------------------------------------------- suppression


def check_published_quarter_table(document: dict[str, Any], threshold: int = 3) -> int:
    """No small count shown, and no hidden cell that one published total gives away."""
    rows = rows_of(document, "quartale")
    counts = [k for k in rows[0] if k in FLOW or k.startswith("exits_")]
    hidden = 0
    for row in rows:
        for k in counts:
            assert row[k] is None or row[k] == 0 or row[k] >= threshold, (row, k)
            hidden += row[k] is None
        reasons = [row[k] for k in counts if k.startswith("exits_")]
        assert [row["exits"], *reasons].count(None) != 1, row

    def groups(fixed: tuple[str, ...], varying: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
        result: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for row in rows:
            result.setdefault(tuple(row[f] for f in fixed), []).append(row)
        return result

    for fixed, total_name, varying in (
        (("municipality", "quarter"), "Gesamt", "module"),
        (("module", "quarter"), "Alle Kommunen", "municipality"),
    ):
        for members in groups(fixed, varying).values():
            for k in counts:
                values = [r[k] for r in members]
                assert values.count(None) != 1, (fixed, k, members[0])
                total = [r[k] for r in members if r[varying] == total_name]
                assert total
    return hidden


def test_published_reports_hide_small_counts_and_every_cell_totals_would_reveal(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    published = report(client, auth, runtime, "monitoring", role="auditor")

    hidden = check_published_quarter_table(published)
    rows = rows_of(published, "quartale")
    assert hidden > 0
    assert published["run"]["suppressed"] is True
    assert (
        pick(rows, municipality="Kreis Warendorf", module="F4", quarter="2021-Q2")["stock"] is None
    )
    # 14 + 11 entries (D's stay moved in); the single exit (D's transfer) is a small
    # count, and the stock identity must not give it away: entries or stock hidden too.
    entries, exits, *_, stock, _cumulative = flow(rows, "Alle Kommunen", "Gesamt", "2021-Q1")
    assert exits is None
    assert entries is None or stock is None


def test_funders_get_no_unsuppressed_figures_and_no_evidence(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    funder = auth("funder", "*")

    refused = client.get(
        "/reports/monitoring", params={"period": PERIOD, "unsuppressed": True}, headers=funder
    )
    financial = report(client, auth, runtime, "financial", role="auditor", evidence=True)
    admin_run = report(client, auth, runtime, "monitoring", unsuppressed=True)
    hidden_run = client.get(f"/reports/runs/{admin_run['run']['id']}", headers=funder)
    auditor_run = client.get(
        f"/reports/runs/{admin_run['run']['id']}", headers=auth("auditor", "*")
    )

    assert refused.status_code == 403
    assert "nachweise" in financial["tables"]
    assert hidden_run.status_code == 403
    assert auditor_run.status_code == 200


def test_coordinators_get_their_municipality_only_and_bad_parameters_are_named(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    coordinator = auth("coordinator", "warendorf")

    own = report(
        client, auth, runtime, "monitoring", role="coordinator", org="warendorf", unsuppressed=True
    )
    other = client.get(
        "/reports/monitoring",
        params={"period": PERIOD, "municipality": "koeln"},
        headers=coordinator,
    )
    bad_period = client.get(
        "/reports/monitoring", params={"period": "2021-Q5"}, headers=coordinator
    )
    bad_format = client.get(
        "/reports/monitoring", params={"period": PERIOD, "format": "pdf"}, headers=coordinator
    )
    unknown = client.get(
        "/reports/monitoring",
        params={"period": PERIOD, "municipality": "bonn"},
        headers=auth("admin", "*"),
    )
    koeln_run = report(client, auth, runtime, "monitoring", role="coordinator", org="koeln")
    not_theirs = client.get(f"/reports/runs/{koeln_run['run']['id']}", headers=coordinator)
    missing = client.get("/reports/runs/00000000-0000-0000-0000-000000000000", headers=coordinator)

    assert {r["municipality"] for r in rows_of(own, "quartale")} == {"Kreis Warendorf"}
    assert flow(rows_of(own, "quartale"), "Kreis Warendorf", "F4", "2021-Q2")[4] == 1
    assert other.status_code == 403
    assert (bad_period.status_code, bad_period.json()["field"]) == (422, "period")
    assert (bad_format.status_code, bad_format.json()["field"]) == (422, "format")
    assert (unknown.status_code, unknown.json()["field"]) == (422, "municipality")
    assert bad_period.headers["content-type"] == "application/problem+json"
    assert not_theirs.status_code == 404
    assert missing.status_code == 404


# --------------------------------------------------------------------- formats


def test_xlsx_csv_and_charts_can_be_read_back(
    client: TestClient, auth: Auth, runtime: Runtime, dataset: Any
) -> None:
    admin = auth("admin", "*")
    document = report(client, auth, runtime, "monitoring")
    run_id = document["run"]["id"]
    outcome_run = report(client, auth, runtime, "outcomes")["run"]["id"]

    xlsx = client.get(f"/reports/runs/{run_id}", params={"format": "xlsx"}, headers=admin)
    text = client.get(
        f"/reports/runs/{run_id}", params={"format": "csv", "table": "quartale"}, headers=admin
    )
    png = client.get(f"/reports/runs/{run_id}/charts/flows.png", headers=admin)
    svg = client.get(f"/reports/runs/{outcome_run}/charts/destinations.svg", headers=admin)

    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert workbook.sheetnames == ["quartale", "merkmale", "Herkunft"]
    sheet = workbook["quartale"]
    header = [c.value for c in sheet[1]]
    assert header[:6] == [
        "Kommune",
        "Förderbaustein",
        "Quartal",
        "Stichtag",
        "Eintritte",
        "Austritte",
    ]
    warendorf = next(
        r
        for r in sheet.iter_rows(min_row=2, values_only=True)
        if r[:3] == ("Kreis Warendorf", "F1", "2021-Q1")
    )
    published = pick(
        rows_of(document, "quartale"),
        municipality="Kreis Warendorf",
        module="F1",
        quarter="2021-Q1",
    )
    assert warendorf[3] == "2021-03-31"
    assert warendorf[4] == ("." if published["entries"] is None else published["entries"])
    assert len(list(sheet.iter_rows(min_row=2))) == len(document["tables"]["quartale"]["rows"])
    provenance = {r[0].value: r[1].value for r in workbook["Herkunft"].iter_rows(min_row=2)}
    assert provenance["Position im Ereignisprotokoll"] == document["run"]["position"]
    assert provenance["Programmkonfiguration"] == "2020.3"
    lines = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0][:3] == ["Kommune", "Förderbaustein", "Quartal"]
    assert len(lines) == 1 + len(document["tables"]["quartale"]["rows"])
    assert "." in {v for line in lines[1:] for v in line}  # suppressed cells
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert ET.fromstring(svg.content).tag.endswith("svg")
