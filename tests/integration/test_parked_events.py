"""A read side that one bad event cannot stop: parked per read model, against real PostgreSQL.

The poison is stored through the write side directly (the aggregate's own event,
bypassing the command's input checks), so these tests prove the read side robust
on its own, whatever the API accepts.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.cli import main
from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.parking import ParkingError, skip
from lotse.projections.runner import ProjectionBusyError, Runner
from lotse.storage.keys import MasterKey
from tests.builders.api import Auth
from tests.builders.projections import (
    catch_up,
    journeys_with_twists,
    parked,
    query,
    read_models_match_aggregates,
    rebuild_all,
    run,
    snapshot,
    tracking,
)

DAY = date(2021, 3, 1)
NUL = "\x00"


def registered(runtime: Runtime) -> Participant:
    programme = runtime.journeys.configuration.programmes["durchstarten"]
    return Participant.register(
        envelope=Envelope("coach", "caseworker", "caritas-ahlen", "test"),
        today=runtime.journeys.clock(),
        programme=programme,
        provider="caritas-ahlen",
        municipality="warendorf",
        intake_date=DAY,
        given_name="Test",
        family_name="Person",
        birth_date=date(2001, 5, 17),
        gender="female",
        nationality="AF",
        residence_status="gestattung",
    )


def coaching(runtime: Runtime, p: Participant) -> None:
    p.log_coaching_contact(
        envelope=Envelope("coach", "caseworker", "caritas-ahlen", "test"),
        effective_date=DAY,
        today=runtime.journeys.clock(),
        minutes=30,
        mode="phone",
    )


def store_poisoned(runtime: Runtime) -> tuple[UUID, int]:
    """A participant whose eligibility's rule version holds a NUL (PostgreSQL refuses it
    in text; only the timeline shows that field), and a coaching contact after it;
    returns the id and the poison's position.

    Today's commands refuse such a value (``domain.text``), so the event is stored
    as a log written before that check would hold it: through the library's
    ``trigger_event``, past the command and its text guard.
    """
    p = registered(runtime)
    coaching(runtime, p)
    p.trigger_event(
        Participant.EligibilityAssessed,
        effective_date=DAY,
        recorded_by="coach",
        recorded_role="caseworker",
        organisation="caritas-ahlen",
        request_id="test",
        eligible=True,
        target_group="duldung",
        rule_version=f"2020{NUL}-04",
        lives_in_reception_centre=False,
        excluded_by_security_check=False,
        employment_ban=False,
        regular_school_access=False,
        justification=None,
    )
    poison_version = p.version
    coaching(runtime, p)
    runtime.journeys.save(p)
    return p.id, position_of(runtime, p.id, poison_version)


def position_of(runtime: Runtime, pid: UUID, version: int) -> int:
    with psycopg.connect(runtime.database.url) as conn:
        row = conn.execute(
            "SELECT notification_id FROM lotse_events "
            "WHERE originator_id = %s AND originator_version = %s",
            (pid, version),
        ).fetchone()
    assert row is not None
    return int(row[0])


def head(runtime: Runtime) -> int:
    return int(runtime.journeys.recorder.max_notification_id() or 0)


@pytest.fixture
def broken_outcomes() -> Iterator[set[int]]:
    """Positions at which the ``outcomes`` fold raises, as a bug in our own code would."""
    positions: set[int] = set()
    projection = PROJECTIONS["outcomes"]
    original = projection.apply

    def failing(state: Any, event: Any, identifiers: Any) -> Any:
        if event.position in positions:
            raise KeyError("a field the fold expected")
        return original(state, event, identifiers)

    projection.apply = failing  # type: ignore[method-assign]
    try:
        yield positions
    finally:
        projection.apply = original  # type: ignore[method-assign]


# ------------------------------------------------------------------ the runner


def test_a_value_postgres_refuses_parks_the_event_for_that_read_model_only(
    runtime: Runtime, master: MasterKey
) -> None:
    before = journeys_with_twists(runtime, random.Random(5), 3)
    pid, poison = store_poisoned(runtime)
    after = journeys_with_twists(runtime, random.Random(6), 2)

    run(catch_up(runtime, master))

    rows = query(runtime, "SELECT * FROM lotse_projection_parked")
    assert [(r["name"], r["position"]) for r in rows] == [("timeline", poison)]
    assert rows[0]["originator_id"] == pid
    assert rows[0]["topic"].endswith("EligibilityAssessed")
    assert rows[0]["sqlstate"].startswith("22")
    # Every read model, the timeline included, went on to the head of the log.
    assert {name: r["position"] for name, r in tracking(runtime).items()} == dict.fromkeys(
        PROJECTIONS, head(runtime)
    )
    timeline = query(
        runtime, "SELECT position FROM rm_timeline WHERE participant_id = $1 ORDER BY version", pid
    )
    positions = [r["position"] for r in timeline]
    assert poison not in positions
    assert len(positions) == 3  # registered, and both coaching contacts (one after the poison)
    participant = query(runtime, "SELECT * FROM rm_participants WHERE participant_id = $1", pid)
    assert participant[0]["coaching_contacts"] == 2
    run(read_models_match_aggregates(runtime, before + after))


def test_a_fold_error_parks_only_the_event_at_fault_in_its_batch(
    runtime: Runtime, master: MasterKey, broken_outcomes: set[int]
) -> None:
    ids = journeys_with_twists(runtime, random.Random(3), 6)
    bad = query(
        runtime,
        "SELECT notification_id, originator_id FROM lotse_events "
        "WHERE originator_version = 3 ORDER BY notification_id LIMIT 1",
    )[0]
    broken_outcomes.add(bad["notification_id"])

    run(catch_up(runtime, master, batch_size=500))

    assert parked(runtime) == [("outcomes", bad["notification_id"])]
    assert all(r["position"] == head(runtime) for r in tracking(runtime).values())
    assert all(r["error"] is None for r in tracking(runtime).values())
    others = [i for i in ids if i != bad["originator_id"]]
    run(read_models_match_aggregates(runtime, others))


def test_a_terminated_connection_is_retried_and_nothing_is_parked(
    runtime: Runtime, master: MasterKey
) -> None:
    journeys_with_twists(runtime, random.Random(8), 4)

    async def scenario() -> tuple[bool, int]:
        pool = await asyncpg.create_pool(
            runtime.database.url,
            min_size=1,
            max_size=4,
            server_settings={"application_name": "runner-under-test"},
        )
        mid_store = [True]

        def kill_mid_store(point: str) -> None:
            # Once, while the timeline's rows are being stored: the batch must be
            # repeated, not the event parked.
            if point == "after-write:timeline" and mid_store:
                mid_store.clear()
                terminate(runtime, "runner-under-test")

        runner = Runner(
            pool, master, list(PROJECTIONS.values()), batch_size=50, fault=kill_mid_store
        )
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run_forever(stop, idle_poll_seconds=0.2))
        try:
            await wait_until(lambda: caught_up(pool), timeout=30)
            # Every backend of the runner: the batches', the listener's, and the one
            # holding its locks.
            killed = await asyncio.to_thread(terminate, runtime, "runner-under-test")
            await asyncio.to_thread(journeys_with_twists, runtime, random.Random(9), 3)
            await wait_until(lambda: caught_up(pool), timeout=30)
            # Its locks were taken again: a second runner is still refused.
            second = Runner(pool, master, list(PROJECTIONS.values()))
            try:
                await second.acquire(wait=False)
                refused = False
            except ProjectionBusyError:
                refused = True
            finally:
                await second.release()
            assert not mid_store  # the kill in the middle of a store happened
            return refused, killed
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)
            await pool.close()

    async def caught_up(_pool: asyncpg.Pool) -> bool:
        # Watched over a connection of its own: the runner's pool is the one whose
        # backends this test terminates, and a poll sharing it would race the kills.
        conn = await asyncpg.connect(runtime.database.url)
        try:
            rows = await conn.fetch(
                "SELECT position FROM lotse_projections WHERE status = 'active'"
            )
        finally:
            await conn.close()
        return len(rows) == len(PROJECTIONS) and all(r["position"] == head(runtime) for r in rows)

    refused, killed = run(scenario())

    assert killed >= 2  # the locks' session and the listener's, at least
    assert refused
    assert parked(runtime) == []
    assert all(r["position"] == head(runtime) for r in tracking(runtime).values())


def terminate(runtime: Runtime, application_name: str) -> int:
    with psycopg.connect(runtime.database.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def wait_until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await condition():
                return
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            pass  # the test's own pool connection may have been one of those terminated
        if time.monotonic() > deadline:
            msg = "condition not met in time"
            raise AssertionError(msg)
        await asyncio.sleep(0.1)


# ------------------------------------------------------------ rebuild


@pytest.mark.parametrize("processes", [1, 2])
def test_a_rebuild_completes_with_the_event_parked_in_the_new_generation(
    runtime: Runtime, master: MasterKey, processes: int
) -> None:
    journeys_with_twists(runtime, random.Random(4), 3)
    _, poison = store_poisoned(runtime)
    run(catch_up(runtime, master))
    old = tracking(runtime)["timeline"]["generation"]

    options: dict[str, Any] = {}
    if processes > 1:
        options = {"processes": processes, "database_url": runtime.database.url}
    generations = run(rebuild_all(runtime, master, **options))

    assert generations["timeline"] != old
    rows = query(runtime, "SELECT name, generation, position FROM lotse_projection_parked")
    assert [(r["name"], r["generation"], r["position"]) for r in rows] == [
        ("timeline", generations["timeline"], poison)
    ]
    assert all(r["position"] == head(runtime) for r in tracking(runtime).values())


# ------------------------------------------------------------ operators


def test_health_and_status_turn_red_naming_the_read_model_and_position(
    runtime: Runtime,
    master: MasterKey,
    auth: Auth,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid, poison = store_poisoned(runtime)
    run(catch_up(runtime, master))

    with TestClient(create_app(runtime=runtime)) as client:
        anonymous = client.get("/health")
        caseworker = client.get("/health", headers=auth())
        admin = client.get("/health", headers=auth("admin", "*"))
    code = main(["projections", "status"])
    out = capsys.readouterr().out

    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "degraded"}
    assert caseworker.json() == {"status": "degraded"}
    details = admin.json()
    assert details["status"] == "degraded"
    assert [(p["read_model"], p["position"]) for p in details["parked"]] == [("timeline", poison)]
    assert details["parked"][0]["participant_id"] == str(pid)
    states = {p["name"]: p["state"] for p in details["projections"]}
    assert states["timeline"] == "degraded"
    assert states["participants"] == "active"
    assert code != 0
    assert f"parked at position {poison}" in next(
        line for line in out.splitlines() if line.startswith("timeline")
    )
    assert "Koch" not in admin.text + out


def test_retry_after_a_fix_applies_the_parked_event_and_clears_the_list(
    runtime: Runtime,
    master: MasterKey,
    broken_outcomes: set[int],
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = journeys_with_twists(runtime, random.Random(12), 4)
    bad = query(
        runtime,
        "SELECT notification_id FROM lotse_events WHERE originator_version = 2 "
        "ORDER BY notification_id LIMIT 2",
    )
    broken_outcomes.update(r["notification_id"] for r in bad)
    run(catch_up(runtime, master))
    assert [p for _, p in parked(runtime)] == sorted(broken_outcomes)

    still_broken = main(["projections", "retry", "--read-model", "outcomes"])
    broken_outcomes.clear()  # the fix
    fixed = main(["projections", "retry", "--read-model", "outcomes", "--by", "ops-1"])
    journeys_with_twists(runtime, random.Random(13), 2)
    run(catch_up(runtime, master))
    out = capsys.readouterr().out

    assert still_broken != 0
    assert fixed == 0
    assert parked(runtime) == []
    done = query(runtime, "SELECT * FROM lotse_projection_resolutions ORDER BY id")
    assert [(d["resolution"], d["position"], d["resolved_by"]) for d in done] == [
        ("retried", p["notification_id"], "ops-1") for p in bad
    ]
    assert "still fails (KeyError)" in out
    assert main(["projections", "status"]) == 0
    after_retry = run(snapshot(runtime))
    run(rebuild_all(runtime, master))
    assert run(snapshot(runtime)) == after_retry
    run(read_models_match_aggregates(runtime, ids))


def test_skipping_a_parked_event_is_recorded_with_who_when_and_why(
    runtime: Runtime, master: MasterKey, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _, poison = store_poisoned(runtime)
    run(catch_up(runtime, master))

    refused = main(
        ["projections", "skip", "--read-model", "timeline", "--position", str(poison),
         "--reason", "fixed\n2026-12-02 forged log line"]
    )  # fmt: skip
    skipped = main(
        ["projections", "skip", "--read-model", "timeline", "--position", str(poison),
         "--reason", "NUL in occupation; value corrected by the provider", "--by", "ops-2"]
    )  # fmt: skip
    listed = main(["projections", "parked", "--all"])
    out = capsys.readouterr().out
    status = main(["projections", "status"])
    run(rebuild_all(runtime, master))

    assert refused == 2
    assert skipped == 0
    assert listed == 0
    assert parked(runtime) == []
    done = query(runtime, "SELECT * FROM lotse_projection_resolutions")
    assert [(d["resolution"], d["position"], d["resolved_by"]) for d in done] == [
        ("skipped", poison, "ops-2")
    ]
    assert done[0]["reason"] == "NUL in occupation; value corrected by the provider"
    assert done[0]["resolved_at"] is not None
    assert f"skipped timeline position {poison}" in out
    assert "by ops-2" in out
    assert status == 0
    # A skip holds for later generations: the rebuild leaves the event out, unparked.
    assert parked(runtime) == []


def test_a_skip_reason_with_control_characters_is_refused(
    runtime: Runtime, master: MasterKey
) -> None:
    _, poison = store_poisoned(runtime)
    run(catch_up(runtime, master))

    async def attempt(reason: str) -> str:
        conn = await asyncpg.connect(runtime.database.url)
        try:
            await skip(conn, "timeline", poison, reason=reason, by="ops")
        except ParkingError as e:
            return str(e)
        finally:
            await conn.close()
        return "accepted"

    for reason in ("a\x00b", "a\x1b[31mb", "a\rb", "a\u202eb", " "):
        message = run(attempt(reason))
        assert message != "accepted"
        assert reason.strip() == "" or reason not in message
    assert parked(runtime) == [("timeline", poison)]


def test_lotse_projections_rebuild_completes_and_names_the_parked_event(
    runtime: Runtime, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    journeys_with_twists(runtime, random.Random(14), 2)
    _, poison = store_poisoned(runtime)

    code = main(["projections", "rebuild"])
    err = capsys.readouterr().err

    assert code == 0
    assert f"timeline parked the event at position {poison}" in err
    assert parked(runtime) == [("timeline", poison)]


def test_a_course_fold_error_parks_the_course_event_and_no_participant_event(
    runtime: Runtime, master: MasterKey
) -> None:
    """The slow path that finds the event at fault applies only the read model's own
    kind of stream: a participant's events in the same batch are not a course's."""
    ids = journeys_with_twists(runtime, random.Random(4), 3)
    coach = Principal("coach", Role.CASEWORKER, "caritas-ahlen")
    course = runtime.courses.schedule(
        coach,
        "test",
        programme="durchstarten",
        provider="caritas-ahlen",
        module="F4",
        title="Berufsvorbereitung",
        course_type="berufsvorbereitender_kurs",
        planned_lesson_hours=Decimal(42),
        start_date=date(2021, 4, 1),
        end_date=date(2021, 6, 30),
    )
    journeys_with_twists(runtime, random.Random(7), 2)
    projection = PROJECTIONS["courses"]
    original = projection.apply

    def failing(state: Any, event: Any, identifiers: Any) -> Any:
        if event.participant_id == course.participant_id:
            raise KeyError("a field the fold expected")
        return original(state, event, identifiers)

    projection.apply = failing  # type: ignore[method-assign]
    try:
        run(catch_up(runtime, master))
    finally:
        projection.apply = original  # type: ignore[method-assign]

    assert parked(runtime) == [("courses", position_of(runtime, course.participant_id, 1))]
    assert all(r["position"] == head(runtime) for r in tracking(runtime).values())
    run(read_models_match_aggregates(runtime, ids))
