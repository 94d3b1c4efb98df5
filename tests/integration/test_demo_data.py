"""The demo data, seeded as ``lotse demo`` seeds it, against real PostgreSQL.

Besides the random journeys and one course per provider, the demo holds what several
providers do for one person and how a journey is mended: courses shared by own and
referred participants, referrals, a transfer to another municipality, a correction,
voided entries and a re-entry (``api/demo_scenarios.py``). These tests check that the
stored log holds each of them, that every read model projects them without parking
an event, and that each shared course is billed once: held hours x the flat rate.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from lotse.api.demo import seed
from lotse.api.demo_courses import seed_courses
from lotse.api.demo_scenarios import SHARED_COURSES, seed_scenarios
from lotse.api.runtime import Runtime
from lotse.domain.course import Course
from lotse.domain.courses import Courses
from lotse.domain.participant import Participant
from tests.builders.projections import parked, query, tracking
from tests.builders.reports import get, head, replayed_report, rows_of
from tests.conftest import Auth

PERIOD = "2021"


def stored(runtime: Runtime) -> list[Any]:
    return list(runtime.journeys.recorder.select_notifications(1, 1_000_000))


@pytest.fixture
def demo(runtime: Runtime) -> int:
    """The demo's three seeders, in the order ``lotse demo`` runs them."""
    written = seed(runtime.journeys, 12, batch=6)
    written += seed_courses(runtime.journeys)
    return written + seed_scenarios(runtime.journeys)


def event_types(runtime: Runtime) -> Counter[str]:
    return Counter(n.topic.rsplit(".", 1)[-1] for n in stored(runtime))


def courses_of(runtime: Runtime) -> list[Course]:
    ids = {UUID(str(n.originator_id)) for n in stored(runtime) if ":Course." in n.topic}
    service = Courses(runtime.journeys)
    return [service.load(i) for i in sorted(ids)]


def shared(runtime: Runtime) -> list[tuple[Course, set[UUID]]]:
    """Courses with participants led by another provider, and those participants."""
    found = []
    for course in courses_of(runtime):
        led_elsewhere = {
            pid
            for pid in course.enrolled
            if runtime.journeys._load(pid).provider != course.provider
        }
        if led_elsewhere:
            found.append((course, led_elsewhere))
    return found


def test_the_demo_log_holds_every_kind_of_journey_event(runtime: Runtime, demo: int) -> None:
    kinds = event_types(runtime)

    assert demo == sum(kinds.values())
    for kind in (
        "ReferralMade",
        "ReferralAccepted",
        "ReferralEnded",
        "CaseTransferred",
        "EntryCorrected",
        "EntryVoided",
        "Reentered",
        "ParticipantEnrolled",
        "AttendanceRecorded",
    ):
        assert kinds[kind] > 0, kind
    # More referrals made than accepted: one still waits for the receiving provider.
    assert kinds["ReferralMade"] > kinds["ReferralAccepted"]


def test_referred_participants_attend_another_providers_course_on_an_accepted_referral(
    runtime: Runtime, demo: int
) -> None:
    courses = shared(runtime)

    assert len(courses) == len(SHARED_COURSES)
    for course, referred in courses:
        own = set(course.enrolled) - referred
        assert own, "a shared course has participants of both providers"
        for pid in referred:
            p = runtime.journeys._load(pid)
            [referral] = [r for r in p.referrals.values() if r.provider == course.provider]
            assert (referral.module, referral.accepted_on is not None) == (course.module, True)
            assert referral.accepted_on is not None
            assert referral.accepted_on <= course.enrolled[pid]
            assert any(pid in marks for marks in course.attendance.values())
        present = {
            pid
            for marks in course.attendance.values()
            for pid, status in marks.items()
            if status == "present"
        }
        assert present & referred


def test_the_transfer_correction_voids_and_reentry_are_in_the_participants_histories(
    runtime: Runtime, demo: int
) -> None:
    ids = {UUID(str(n.originator_id)) for n in stored(runtime) if ":Participant." in n.topic}
    events = [e for pid in ids for e in runtime.journeys.history(pid)]

    transfers = [e for e in events if isinstance(e, Participant.CaseTransferred)]
    assert any(t.from_municipality != t.to_municipality for t in transfers)
    corrections = [e for e in events if isinstance(e, Participant.EntryCorrected)]
    assert any("effective_date" in c.changes for c in corrections)
    voids = [e for e in events if isinstance(e, Participant.EntryVoided)]
    assert {"ModuleEntered", "Registered"} <= {v.voided_type for v in voids}
    reentered = {e.originator_id for e in events if isinstance(e, Participant.Reentered)}
    exited = {e.originator_id for e in events if isinstance(e, Participant.Exited)}
    assert reentered
    assert reentered <= exited


def test_the_read_models_project_the_demo_without_parking_an_event(
    client: TestClient, auth: Auth, runtime: Runtime, demo: int
) -> None:
    position = head(runtime)

    # A report waits until the read models have caught up with the log's head.
    get(
        client,
        auth("admin", "*"),
        "/reports/monitoring",
        period=PERIOD,
        min_position=position,
    )

    assert parked(runtime) == []
    assert all(t["position"] >= position for t in tracking(runtime).values())
    referrals = query(runtime, "SELECT status, count(*) AS n FROM rm_referrals GROUP BY status")
    assert {r["status"] for r in referrals} >= {"made", "accepted", "ended"}
    courses = query(runtime, "SELECT count(*) AS n FROM rm_courses")
    assert courses[0]["n"] == len(courses_of(runtime))


def test_the_demos_monitoring_from_read_models_equals_a_replay_of_the_log(
    client: TestClient, auth: Auth, runtime: Runtime, demo: int
) -> None:
    """Voids, the correction, the transfer and the re-entry count alike both ways."""
    position = head(runtime)
    admin = auth("admin", "*")
    params: dict[str, Any] = {"period": PERIOD, "unsuppressed": True}
    live = get(client, admin, "/reports/monitoring", min_position=position, **params)

    replayed = replayed_report(client, auth, "monitoring", position, **params)

    assert live["tables"] == replayed["tables"]


def test_each_shared_course_is_billed_its_held_hours_times_the_flat_rate_once(
    client: TestClient, auth: Auth, runtime: Runtime, demo: int
) -> None:
    programme = runtime.journeys.configuration.programmes["durchstarten"]
    [rate] = [r.amount_eur for r in programme.flat_rates if r.code == "P4"]
    document = get(
        client,
        auth("admin", "*"),
        "/reports/financial",
        period=PERIOD,
        min_position=head(runtime),
    )
    rows = {r["course_id"]: r for r in rows_of(document, "kurse")}

    for course, _ in shared(runtime):
        held = sum((hours for _, hours in course.sessions.values()), Decimal(0))
        row = rows[str(course.id)]
        assert Decimal(row["lesson_hours"]) == held
        assert Decimal(row["amount"]) == held * rate
        attendees = len(course.enrolled)
        assert attendees > 1
        assert Decimal(row["amount"]) != held * rate * attendees
    expected = {spec.held_hours * rate for spec in SHARED_COURSES}
    assert {Decimal(rows[str(c.id)]["amount"]) for c, _ in shared(runtime)} == expected
