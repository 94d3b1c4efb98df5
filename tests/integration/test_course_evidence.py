"""Financial evidence per course, against real PostgreSQL, on a hand-computed case.

One F4 course of caritas-ahlen (Kreis Warendorf), 2021-Q2, six participants of the
same provider (participants cannot be shared across providers yet): seven sessions
of 6 lesson hours = 42 held hours; every participant present at every session,
except one absent and one excused on the first day. P4 = 42 x 37.50 = 1,575.00 EUR,
once for the course, not per attendee (6 x 42 x 37.50 = 9,450 would be the
per-seat figure). An exam fee of 120.00 EUR is paid at cost.

Legacy evidence: one of the six also has a ``CourseAttendanceRecorded`` of 8
hours from before courses (2021-04-01): 8 x 37.50 = 300.00 EUR, reported apart in
the ``unterrichtsstunden`` table and never added to the course's figures.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import asyncpg
import openpyxl
import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.domain.configuration import FlatRate
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant
from lotse.projections.catalogue import PROJECTIONS
from lotse.reports import course_evidence
from lotse.reports.cells import TOTAL, Figures, publish
from lotse.reports.definition import Labels, ReportRequest
from lotse.reports.periods import parse_period
from lotse.reports.service import compute
from lotse.storage.keys import MasterKey
from tests.builders.api import Auth
from tests.builders.projections import rebuild_all, run, snapshot
from tests.builders.reports import get, head, pick, replayed_report, rows_of

SESSION_DAYS = [f"2021-04-{day:02d}" for day in (6, 7, 8, 13, 14, 15, 20)]


def f4_participant(runtime: Runtime) -> Participant:
    journeys = runtime.journeys
    programme = journeys.configuration.programmes["durchstarten"]
    common: dict[str, Any] = {
        "envelope": Envelope("coach", "caseworker", "caritas-ahlen", "script"),
        "today": journeys.clock(),
    }
    p = Participant.register(
        **common,
        programme=programme,
        provider="caritas-ahlen",
        municipality="warendorf",
        intake_date=date(2021, 3, 1),
        given_name="Test",
        family_name="Person",
        birth_date=date(2001, 5, 17),
        gender="female",
        nationality="SY",
        residence_status="duldung",
    )
    p.assess_eligibility(
        **common,
        effective_date=date(2021, 3, 1),
        programme=programme,
        eligible=True,
        target_group="duldung",
    )
    p.give_consent(
        **common, effective_date=date(2021, 3, 1), programme=programme, consent_version="2020-01"
    )
    p.enter_module(**common, effective_date=date(2021, 3, 2), programme=programme, module="F4")
    return p


def post(client: TestClient, auth: Auth, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body, headers=auth())
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def case(client: TestClient, auth: Auth, runtime: Runtime) -> dict[str, Any]:
    people = [f4_participant(runtime) for _ in range(6)]
    legacy = people[0]
    legacy.record_course_attendance(
        envelope=Envelope("coach", "caseworker", "caritas-ahlen", "script"),
        effective_date=date(2021, 4, 1),
        today=runtime.journeys.clock(),
        programme=runtime.journeys.configuration.programmes["durchstarten"],
        module="F4",
        lesson_hours=Decimal(8),
    )
    for p in people:
        runtime.journeys.save(p)
    course = post(
        client,
        auth,
        "/courses",
        {
            "programme": "durchstarten",
            "module": "F4",
            "provider": "caritas-ahlen",
            "title": "Berufsvorbereitung Ahlen 1",
            "course_type": "berufsvorbereitender_kurs",
            "planned_lesson_hours": 42,
            "start_date": "2021-04-01",
            "end_date": "2021-06-30",
        },
    )
    cid = course["id"]
    ids = [str(p.id) for p in people]
    for pid in ids:
        post(
            client,
            auth,
            f"/courses/{cid}/enrolments",
            {"participant_id": pid, "effective_date": "2021-04-01"},
        )
    for n, day in enumerate(SESSION_DAYS):
        sid = post(client, auth, f"/courses/{cid}/sessions", {"date": day, "lesson_hours": 6})[
            "session_id"
        ]
        marks = [{"participant_id": pid, "status": "present"} for pid in ids]
        if n == 0:
            marks[4]["status"], marks[5]["status"] = "absent", "excused"
        post(client, auth, f"/courses/{cid}/sessions/{sid}/attendance", {"entries": marks})
    post(
        client,
        auth,
        f"/courses/{cid}/exam-fees",
        {"effective_date": "2021-06-01", "amount_eur": "120.00", "receipt_reference": "R-17"},
    )
    return {"course": cid, "participants": ids}


def financial(client: TestClient, auth: Auth, runtime: Runtime, **params: Any) -> dict[str, Any]:
    params.setdefault("period", "2021-H1")
    params.setdefault("min_position", head(runtime))
    role = params.pop("role", "admin")
    org = params.pop("org", "*")
    result: dict[str, Any] = get(client, auth(role, org), "/reports/financial", **params)
    return result


def test_a_course_of_42_held_hours_is_paid_1575_eur_once_whatever_the_attendance(
    client: TestClient, auth: Auth, runtime: Runtime, case: dict[str, Any]
) -> None:
    document = financial(client, auth, runtime)

    [course] = rows_of(document, "kurse")
    assert course["course_id"] == case["course"]
    assert (course["sessions"], course["lesson_hours"]) == (7, "42.00")
    assert (course["present"], course["absent"], course["excused"]) == (40, 1, 1)
    assert (course["rate_code"], course["rate"], course["amount"]) == ("P4", "37.50", "1575.00")
    assert course["exam_fees"] == "120.00"
    quarters = rows_of(document, "kurse_quartale")
    warendorf = pick(
        quarters, municipality="Kreis Warendorf", provider="Alle Träger", quarter="Gesamtzeitraum"
    )
    ahlen_q2 = pick(
        quarters, municipality="Kreis Warendorf", provider="Caritasverband Ahlen", quarter="2021-Q2"
    )
    ahlen_q1 = pick(
        quarters, municipality="Kreis Warendorf", provider="Caritasverband Ahlen", quarter="2021-Q1"
    )
    everyone = pick(
        quarters, municipality="Alle Kommunen", provider="Alle Träger", quarter="Gesamtzeitraum"
    )
    assert (warendorf["lesson_hours"], warendorf["amount"], warendorf["exam_fees"]) == (
        "42.00",
        "1575.00",
        "120.00",
    )
    assert ahlen_q2["amount"] == "1575.00"
    assert ahlen_q1["amount"] == "0.00"
    assert everyone["amount"] == "1575.00"


def test_per_participant_lesson_hours_stay_legacy_evidence_counted_apart(
    client: TestClient, auth: Auth, runtime: Runtime, case: dict[str, Any]
) -> None:
    document = financial(client, auth, runtime)

    legacy = rows_of(document, "unterrichtsstunden")
    total = pick(legacy, provider="Alle Träger", module="Gesamt")
    assert (total["lesson_hours"], total["amount"]) == ("8.00", "300.00")
    assert "Altnachweise" in document["tables"]["unterrichtsstunden"]["title"]
    # The course's figures do not include the legacy hours, nor these its hours.
    everyone = pick(
        rows_of(document, "kurse_quartale"),
        municipality="Alle Kommunen",
        provider="Alle Träger",
        quarter="Gesamtzeitraum",
    )
    assert (everyone["lesson_hours"], everyone["amount"]) == ("42.00", "1575.00")


def test_each_course_has_its_attendance_list_as_a_sheet_with_pseudonyms_only(
    client: TestClient, auth: Auth, runtime: Runtime, case: dict[str, Any]
) -> None:
    document = financial(client, auth, runtime, evidence=True)
    name = "Teilnehmendenliste_" + case["course"][:8]

    marks = rows_of(document, name)
    assert len(marks) == 7 * 6
    assert {m["participant_id"] for m in marks} == set(case["participants"])
    assert sum(m["status"] == "anwesend" for m in marks) == 40
    # Without ``evidence`` the report has the totals and the per-course rows only.
    plain = financial(client, auth, runtime)
    lists = [t for t in plain["tables"] if t.startswith(course_evidence.LIST_PREFIX)]
    assert lists == []
    assert "nachweise" not in plain["tables"]
    assert rows_of(plain, "kurse") == rows_of(document, "kurse")
    response = client.get(
        "/reports/financial",
        params={"period": "2021-H1", "format": "xlsx", "evidence": True},
        headers=auth("admin", "*"),
    )
    assert response.status_code == 200, response.text
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert name in workbook.sheetnames
    cells = [str(c.value) for row in workbook[name].iter_rows() for c in row]
    assert "Test" not in cells
    assert "Person" not in cells
    # Only the financial report has evidence rows: asking another one names the field.
    refused = client.get(
        "/reports/monitoring",
        params={"period": "2021-H1", "evidence": True},
        headers=auth("admin", "*"),
    )
    assert (refused.status_code, refused.json()["field"]) == (422, "evidence")
    assert refused.json()["rule"] == "evidence-financial-only"


@pytest.fixture
def recorded_mid_2021(monkeypatch: pytest.MonkeyPatch) -> None:
    """The events are recorded on 1 July 2021 (the library's clock), before the
    half-year's release cut-off: releases count what was recorded by then."""
    moment = datetime(2021, 7, 1, 12, tzinfo=UTC)
    monkeypatch.setattr("eventsourcing.domain.datetime_now_with_tzinfo", lambda: moment)


def test_funders_get_the_course_totals_but_no_attendance_lists(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    recorded_mid_2021: None,
    case: dict[str, Any],
) -> None:
    # Funders get published releases only (issue 9): the half-year's, at its cut-off.
    published = client.post(
        "/reports/releases",
        json={"report": "financial", "period": "2021-H1"},
        headers=auth("admin", "*"),
    )
    assert published.status_code == 201, published.text
    document = get(client, auth("funder", "land-nrw"), published.headers["Location"])

    assert not [t for t in document["tables"] if t.startswith("Teilnehmendenliste")]
    everyone = pick(
        rows_of(document, "kurse_quartale"),
        municipality="Alle Kommunen",
        provider="Alle Träger",
        quarter="Gesamtzeitraum",
    )
    assert everyone["amount"] == "1575.00"


def test_course_figures_from_the_read_model_equal_a_replay_of_the_log(
    client: TestClient, auth: Auth, runtime: Runtime, case: dict[str, Any]
) -> None:
    # A replay (a job) carries the evidence: asked for here too.
    from_read_models = financial(client, auth, runtime, unsuppressed=True, evidence=True)
    replayed = replayed_report(
        client,
        auth,
        "financial",
        from_read_models["run"]["position"],
        period="2021-H1",
        unsuppressed=True,
    )

    assert replayed["run"]["source"] == "replay"
    assert replayed["tables"] == from_read_models["tables"]
    assert "kurse" in replayed["tables"]


@pytest.mark.parametrize(
    ("period", "quarters"),
    [("2021", True), ("2021-03-15..2021-07-15", False)],
    ids=["whole-quarters", "other-period"],
)
def test_course_figures_summed_in_sql_without_the_lists_equal_single_sessions_and_a_replay(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    case: dict[str, Any],
    period: str,
    quarters: bool,
) -> None:
    # Without the lists (change lists of runs, the benchmark), the read model's
    # sessions are summed per course and quarter: for a period of whole quarters
    # read from ``course_quarters``, else added up in PostgreSQL; for both units.
    financial(client, auth, runtime)  # waits until the live runner has caught up
    config = runtime.journeys.configuration
    request = ReportRequest("financial", "durchstarten", parse_period(period))
    assert course_evidence.whole_quarters(request.period) is quarters
    per_attendee = dataclasses.replace(
        config.programmes["durchstarten"],
        flat_rates=(FlatRate("P4", "F4", "participant_lesson_hour", Decimal("4.10")),),
    )

    async def figures() -> tuple[Any, ...]:
        conn = await asyncpg.connect(runtime.database.url)
        try:
            summed = await compute(conn, request, config, evidence=False)
            replayed = await compute(conn, request, config, position=summed.position)
            rows = {
                lists: await course_evidence.fetch(conn, request, evidence=lists)
                for lists in (False, True)
            }
        finally:
            await conn.close()
        priced = []
        for lists in (False, True):
            f = Figures()
            course_evidence.add(
                f, rows[lists], request, Labels.of(config, "durchstarten"), per_attendee
            )
            priced.append(f)
        return summed, replayed, rows[False], *priced

    summed, replayed, sums, from_sums, from_sessions = run(figures())

    assert summed.source == "read_models"
    assert len(sums.sessions) == 1  # seven sessions, one course, one quarter
    assert summed.figures.cells == replayed.figures.cells
    assert publish(summed.figures, set()) == publish(replayed.figures, set())
    assert summed.figures.value(("course_p", case["course"])) == Decimal("1575.00")
    # 6 h x (4 present on the first day + 6 on each of the other six) x 4.10 EUR
    assert from_sums.cells == from_sessions.cells
    assert from_sums.value(("course_p", case["course"])) == Decimal("984.00")


def test_the_courses_read_model_is_equal_after_a_rebuild(
    client: TestClient, auth: Auth, runtime: Runtime, case: dict[str, Any]
) -> None:
    financial(client, auth, runtime)  # waits until the live runner has caught up
    before = run(snapshot(runtime))

    run(rebuild_all(runtime, MasterKey.from_text(runtime.settings.master_key)))

    after = run(snapshot(runtime))
    assert len(before["rm_course_attendance"]) == 42
    assert len(before["rm_course_sessions"]) == 7
    assert after == before


def test_participant_read_models_hold_no_course_streams(
    client: TestClient, auth: Auth, runtime: Runtime, case: dict[str, Any]
) -> None:
    financial(client, auth, runtime)

    async def ids() -> set[str]:
        conn = await asyncpg.connect(runtime.database.url)
        try:
            found: set[str] = set()
            for projection in PROJECTIONS.values():
                if projection.aggregate != "Participant":
                    continue
                for table in projection.tables:
                    rows = await conn.fetch(f"SELECT DISTINCT participant_id FROM {table.name}")
                    found |= {str(r[0]) for r in rows}
            return found
        finally:
            await conn.close()

    found = run(ids())
    assert case["course"] not in found
    assert found == set(case["participants"])


# ------------------------------------------- the other unit: per attending participant


def test_participant_lesson_hours_pay_each_attending_participants_hour(
    runtime: Runtime,
) -> None:
    config = runtime.journeys.configuration
    programme = dataclasses.replace(
        config.programmes["durchstarten"],
        flat_rates=(FlatRate("P4", "F4", "participant_lesson_hour", Decimal("4.10")),),
    )
    cid = uuid4()
    course = {
        "course_id": cid,
        "programme": "durchstarten",
        "module": "F4",
        "provider": "caritas-ahlen",
        "municipality": "warendorf",
        "title": "Jugendintegrationskurs",
        "course_type": "jugendintegrationskurs",
    }
    sessions = [
        {
            **course,
            "session_id": uuid4(),
            "session_date": date(2021, 4, 6),
            "lesson_hours": Decimal(4),
            "present": 5,
            "absent": 1,
            "excused": 0,
        },
        {
            **course,
            "session_id": uuid4(),
            "session_date": date(2021, 4, 7),
            "lesson_hours": Decimal(3),
            "present": 6,
            "absent": 0,
            "excused": 0,
        },
    ]
    request = ReportRequest("financial", "durchstarten", parse_period("2021-Q2"))
    figures = Figures()

    course_evidence.add(
        figures,
        course_evidence.CourseRows(courses=[course], sessions=sessions),
        request,
        Labels.of(config, "durchstarten"),
        programme,
    )

    # (4 h x 5 present + 3 h x 6 present) x 4.10 EUR = 38 x 4.10 = 155.80 EUR
    assert figures.value(("course_p", str(cid))) == Decimal("155.80")
    assert figures.value(("course_amount", TOTAL, TOTAL, TOTAL)) == Decimal("155.80")


def test_the_demo_data_has_a_course_per_provider_billed_once_each(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    from lotse.api.demo_courses import seed_courses

    written = seed_courses(runtime.journeys)

    assert written > 0
    document = financial(client, auth, runtime)
    courses = rows_of(document, "kurse")
    assert len(courses) == len(runtime.journeys.configuration.providers)
    assert {c["amount"] for c in courses} == {"1575.00"}
    everyone = pick(
        rows_of(document, "kurse_quartale"),
        municipality="Alle Kommunen",
        provider="Alle Träger",
        quarter="Gesamtzeitraum",
    )
    assert everyone["amount"] == str(Decimal("1575.00") * len(courses))


def test_a_session_held_after_a_run_is_listed_among_its_changes(
    client: TestClient, auth: Auth, runtime: Runtime, case: dict[str, Any]
) -> None:
    document = financial(client, auth, runtime, unsuppressed=True)
    cid = case["course"]

    post(client, auth, f"/courses/{cid}/sessions", {"date": "2021-05-04", "lesson_hours": 2})
    financial(client, auth, runtime)  # waits until the read models include the session

    changes = get(client, auth("admin", "*"), f"/reports/runs/{document['run']['id']}/changes")
    assert [e["type"] for e in changes["events"]] == ["SessionHeld"]
    cells = {c["cell"]: c["difference"] for c in changes["changed_cells"]}
    assert cells["course_amount|_all|_all|_all"] == "75.00"
    assert cells[f"course_held|{cid}"] == "2.00"
