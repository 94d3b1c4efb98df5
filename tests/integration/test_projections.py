"""Read models against real PostgreSQL: equal to the aggregates' fold, exactly once, rebuildable."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import date
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.rebuild import rebuild
from lotse.projections.runner import ProjectionBusyError, Runner
from lotse.storage.keys import MasterKey
from lotse.storage.log_head import log_head
from tests.builders.projections import (
    catch_up,
    fetch_rows,
    journeys_with_twists,
    pool_for,
    read_models_match_aggregates,
    rebuild_all,
    run,
    snapshot,
)

ADMIN = Principal("admin", Role.ADMIN, "*")


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing handles it."""


# ----------------------------------------------------------------------- tests


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(min_value=0, max_value=2**32), count=st.integers(min_value=1, max_value=6))
def test_read_models_equal_a_fold_over_the_aggregates(
    runtime: Runtime, master: MasterKey, seed: int, count: int
) -> None:
    ids = journeys_with_twists(runtime, random.Random(seed), count)

    run(catch_up(runtime, master))

    run(read_models_match_aggregates(runtime, ids))


def test_runner_killed_inside_batches_never_double_counts(
    runtime: Runtime, master: MasterKey
) -> None:
    ids = journeys_with_twists(runtime, random.Random(7), 40)
    rng = random.Random(11)
    crashes = 0

    def maybe_crash(point: str) -> None:
        nonlocal crashes
        if rng.random() < 0.25:
            crashes += 1
            raise Crash(point)

    async def until_caught_up() -> None:
        pool = await pool_for(runtime)
        try:
            while True:
                runner = Runner(
                    pool, master, list(PROJECTIONS.values()), batch_size=53, fault=maybe_crash
                )
                await runner.acquire(wait=False)
                try:
                    await runner.catch_up()
                    return
                except Crash:
                    continue  # a fresh runner, as after a restart
                finally:
                    await runner.release()
        finally:
            await pool.close()

    run(until_caught_up())
    after_crashes = run(snapshot(runtime))
    run(rebuild_all(runtime, master))

    assert crashes > 5
    assert run(snapshot(runtime)) == after_crashes
    run(read_models_match_aggregates(runtime, ids))


def test_an_event_a_projection_cannot_handle_is_parked_for_that_projection_only(
    runtime: Runtime, master: MasterKey
) -> None:
    journeys_with_twists(runtime, random.Random(3), 3)
    broken = PROJECTIONS["outcomes"]
    original = broken.apply

    def failing(state: Any, event: Any, identifiers: Any) -> Any:
        if event.position == 5:
            raise KeyError("boom")
        return original(state, event, identifiers)

    broken.apply = failing  # type: ignore[method-assign]
    try:
        run(catch_up(runtime, master))
    finally:
        broken.apply = original  # type: ignore[method-assign]

    async def states() -> tuple[dict[str, Any], list[Any]]:
        conn = await asyncpg.connect(runtime.database.url)
        try:
            rows = await conn.fetch(
                "SELECT name, position, error FROM lotse_projections WHERE status = 'active'"
            )
            parked = await conn.fetch(
                "SELECT name, position, error_type FROM lotse_projection_parked"
            )
            return {r["name"]: r for r in rows}, [tuple(p) for p in parked]
        finally:
            await conn.close()

    found, parked = run(states())
    head = runtime.journeys.recorder.max_notification_id()
    assert parked == [("outcomes", 5, "KeyError")]
    assert found["outcomes"]["position"] == head
    assert found["outcomes"]["error"] is None
    assert found["participants"]["position"] == head


def test_a_second_runner_for_the_same_projection_is_refused(
    runtime: Runtime, master: MasterKey
) -> None:
    async def two_runners() -> str:
        pool = await pool_for(runtime)
        first = Runner(pool, master, list(PROJECTIONS.values()))
        second = Runner(pool, master, [PROJECTIONS["timeline"]])
        await first.acquire(wait=False)
        try:
            await second.acquire(wait=False)
        except Exception as e:
            return str(e)
        finally:
            await first.release()
            await second.release()
            await pool.close()
        return "no error"

    assert "already running projection 'timeline'" in run(two_runners())


def test_a_runner_standing_by_for_another_stops_at_once_when_asked(
    runtime: Runtime, master: MasterKey
) -> None:
    """Every worker of a server starts a runner; all but one wait for the locks.

    Shutting such a worker down must not wait out the lock poll (it took 5 s per
    app before, in every page test that opened a second client).
    """

    async def stand_by_then_stop() -> float:
        pool = await pool_for(runtime)
        first = Runner(pool, master, list(PROJECTIONS.values()))
        second = Runner(pool, master, list(PROJECTIONS.values()))
        await first.acquire(wait=False)
        stop = asyncio.Event()
        try:
            task = asyncio.create_task(second.run_forever(stop, idle_poll_seconds=0.1))
            await asyncio.sleep(0.5)  # the second is waiting for the first's locks
            assert not task.done()
            stop.set()
            started = asyncio.get_running_loop().time()
            await asyncio.wait_for(task, timeout=10)
            return asyncio.get_running_loop().time() - started
        finally:
            await first.release()
            await pool.close()

    assert run(stand_by_then_stop()) < 0.5


def test_rebuild_while_writes_continue_equals_a_rebuild_from_scratch(
    runtime: Runtime, master: MasterKey
) -> None:
    journeys_with_twists(runtime, random.Random(5), 30)
    run(catch_up(runtime, master))
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        # Paced like case workers (a journey every 20 ms), not as fast as bulk saves
        # go: an unpaced writer on an idle machine outruns a rebuild with tiny
        # batches forever, and the test would measure a race, not the swap.
        rng = random.Random(9)
        while not stop.is_set() and len(written) < 500:
            journeys_with_twists(runtime, rng, 1)
            written.append(1)
            stop.wait(0.02)

    async def rebuild_with_live_runner_and_readers() -> int:
        pool = await pool_for(runtime)
        live = Runner(pool, master, list(PROJECTIONS.values()), batch_size=50)
        halt = asyncio.Event()
        live_task = asyncio.create_task(live.run_forever(halt, idle_poll_seconds=0.05))
        answered = 0

        async def reader() -> None:
            nonlocal answered
            while not halt.is_set():
                async with pool.acquire() as conn:
                    await conn.fetchval("SELECT count(*) FROM rm_participants")
                    await conn.fetchval("SELECT count(*) FROM rm_timeline")
                answered += 1
                await asyncio.sleep(0.01)

        read_task = asyncio.create_task(reader())
        await rebuild(pool, master, list(PROJECTIONS.values()), batch_size=40)
        stop.set()
        await asyncio.sleep(0.3)
        while await _lag(pool) > 0:
            await asyncio.sleep(0.05)
        halt.set()
        await live_task
        await read_task
        await pool.close()
        return answered

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        answered = run(rebuild_with_live_runner_and_readers())
    finally:
        stop.set()
        thread.join()
    swapped = run(snapshot(runtime))
    run(rebuild_all(runtime, master))

    assert written, "writes went on during the rebuild"
    assert answered > 10
    assert run(snapshot(runtime)) == swapped


async def _lag(pool: asyncpg.Pool) -> int:
    head = await log_head(pool)
    low = await pool.fetchval("SELECT min(position) FROM lotse_projections WHERE status = 'active'")
    return int(head - low)


def test_read_models_hold_a_participant_once_whatever_the_batch_size(
    runtime: Runtime, master: MasterKey
) -> None:
    journeys_with_twists(runtime, random.Random(21), 10)

    run(catch_up(runtime, master))
    small = run(snapshot(runtime))
    run(rebuild_all(runtime, master))

    assert run(snapshot(runtime)) == small


def test_a_corrected_residence_status_counts_for_the_module_stays_entered_after_it(
    runtime: Runtime, master: MasterKey
) -> None:
    journeys = runtime.journeys
    programme = journeys.configuration.programmes["durchstarten"]
    today = journeys.clock()
    env = Envelope("coach", "caseworker", "caritas-ahlen", "test")
    day = date(2021, 3, 1)
    p = Participant.register(
        envelope=env,
        today=today,
        programme=programme,
        provider="caritas-ahlen",
        municipality="warendorf",
        intake_date=day,
        given_name="Test",
        family_name="Person",
        birth_date=date(2001, 5, 17),
        gender="female",
        nationality="AF",
        residence_status="gestattung",
    )
    p.assess_eligibility(
        envelope=env,
        effective_date=day,
        today=today,
        programme=programme,
        eligible=True,
        target_group="gestattung",
    )
    p.give_consent(
        envelope=env,
        effective_date=day,
        today=today,
        programme=programme,
        consent_version="2020-01",
    )
    p.change_residence_status(envelope=env, effective_date=day, today=today, status="duldung")
    status_version = p.version
    p.correct_entry(
        envelope=env,
        effective_date=day,
        today=today,
        programme=programme,
        corrects_version=status_version,
        reason="Tippfehler",
        changes={"status": "ausbildungsduldung_60c"},
    )
    p.enter_module(envelope=env, effective_date=day, today=today, programme=programme, module="F1")
    journeys.save(p)

    run(catch_up(runtime, master))
    live = run(snapshot(runtime))
    run(rebuild_all(runtime, master))

    spans = run(fetch_rows(runtime, "SELECT residence_status FROM rm_module_stays"))
    assert spans == [("ausbildungsduldung_60c",)]
    assert run(snapshot(runtime)) == live


def test_a_runner_following_the_log_in_small_steps_writes_what_a_rebuild_writes(
    runtime: Runtime, master: MasterKey
) -> None:
    # The live runner writes only the rows a batch adds to a participant's
    # timeline, unless earlier rows changed (a transfer, a correction): then it
    # writes them all again. Followed step by step, it must end where a rebuild does.
    from tests.builders.writers import COACH, log_contact, register

    journeys = runtime.journeys
    ids = [register(journeys).participant_id for _ in range(3)]

    async def follow() -> None:
        pool = await pool_for(runtime)
        runner = Runner(pool, master, list(PROJECTIONS.values()), batch_size=2)
        await runner.acquire(wait=False)
        try:
            for step in range(6):
                for pid in ids:
                    log_contact(journeys, pid)
                if step == 5:  # last: the case worker may not write to it afterwards
                    journeys.record_milestone(
                        COACH,
                        "req-transfer",
                        ids[0],
                        "CaseTransferred",
                        date(2021, 6, 2),
                        to_provider="diakonie-duesseldorf",
                    )
                if step == 3:
                    journeys.record_milestone(
                        COACH,
                        "req-correct",
                        ids[1],
                        "EntryCorrected",
                        date(2021, 6, 2),
                        corrects_version=3,
                        reason="Dauer falsch erfasst",
                        changes={"minutes": 15},
                    )
                await runner.catch_up()
        finally:
            await runner.release()
            await pool.close()

    run(follow())
    followed = run(snapshot(runtime))
    run(rebuild_all(runtime, master))

    assert run(snapshot(runtime)) == followed
    assert len(followed["rm_timeline"]) == 3 + 6 * 3 + 2


def test_a_rebuild_in_two_processes_writes_what_one_process_writes(
    runtime: Runtime, master: MasterKey
) -> None:
    journeys_with_twists(runtime, random.Random(5), 12)
    run(rebuild_all(runtime, master))
    in_one = run(snapshot(runtime))
    counted: list[int] = []

    generations = run(
        rebuild_all(
            runtime,
            master,
            on_batch=counted.append,
            processes=2,
            database_url=runtime.database.url,
        )
    )

    assert run(snapshot(runtime)) == in_one
    assert set(generations.values()) == {3}  # built, swapped in: the third generation
    assert sum(counted) == run(event_count(runtime))


def test_a_second_rebuild_while_one_runs_is_refused(runtime: Runtime, master: MasterKey) -> None:
    async def both() -> None:
        pool = await pool_for(runtime)
        try:
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_advisory_lock(hashtext('lotse-rebuild'))")
                with pytest.raises(ProjectionBusyError):
                    await rebuild(
                        pool,
                        master,
                        list(PROJECTIONS.values()),
                        processes=2,
                        database_url=runtime.database.url,
                    )
                await conn.execute("SELECT pg_advisory_unlock(hashtext('lotse-rebuild'))")
        finally:
            await pool.close()

    run(both())


async def event_count(runtime: Runtime) -> int:
    conn = await asyncpg.connect(runtime.database.url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM lotse_events"))
    finally:
        await conn.close()


def test_a_read_model_added_later_catches_up_without_moving_the_others_back(
    runtime: Runtime, master: MasterKey
) -> None:
    # A new read model starts at position 0 while the others are at the head: each
    # batch must fill the new one and leave the others where they are (a batch used
    # to set every model's position to its own end, so all re-applied the log).
    journeys_with_twists(runtime, random.Random(11), 6)
    run(catch_up(runtime, master))
    before = run(snapshot(runtime))

    async def add_one() -> list[dict[str, int]]:
        pool = await pool_for(runtime)
        try:
            async with pool.acquire() as conn:
                head = await log_head(conn)
                await conn.execute("DELETE FROM lotse_projections WHERE name = 'person_facts'")
            runner = Runner(pool, master, list(PROJECTIONS.values()), batch_size=20)
            await runner.acquire(wait=False)
            seen = []
            try:
                while await runner.step():
                    async with pool.acquire() as conn:
                        rows = await conn.fetch(
                            "SELECT name, position FROM lotse_projections WHERE status = 'active'"
                        )
                    seen.append({r["name"]: r["position"] for r in rows})
            finally:
                await runner.release()
            return [{**p, "head": head} for p in seen]
        finally:
            await pool.close()

    seen = run(add_one())

    assert len(seen) > 2  # the new one took several batches
    for positions in seen:
        others = {n: p for n, p in positions.items() if n not in ("person_facts", "head")}
        assert set(others.values()) == {positions["head"]}, positions
    assert seen[-1]["person_facts"] == seen[-1]["head"]
    assert run(snapshot(runtime)) == before
