"""Read models against real PostgreSQL: equal to the aggregates' fold, exactly once, rebuildable."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotse.api.demo import generate_journey
from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role, accepted_referrals
from lotse.domain.envelope import Envelope
from lotse.domain.errors import RuleViolationError
from lotse.domain.participant import Participant
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.model import age_band
from lotse.projections.rebuild import rebuild
from lotse.projections.runner import ProjectionBusyError, Runner
from lotse.storage.keys import MasterKey
from lotse.storage.log_head import log_head

ADMIN = Principal("admin", Role.ADMIN, "*")


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing handles it."""


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def master(runtime: Runtime) -> MasterKey:
    return MasterKey.from_text(runtime.settings.master_key)


async def pool_for(runtime: Runtime) -> asyncpg.Pool:
    return await asyncpg.create_pool(runtime.database.url, min_size=1, max_size=4)


async def catch_up(runtime: Runtime, master: MasterKey) -> None:
    pool = await pool_for(runtime)
    runner = Runner(pool, master, list(PROJECTIONS.values()), batch_size=97)
    await runner.acquire(wait=False)
    try:
        await runner.catch_up()
    finally:
        await runner.release()
        await pool.close()


async def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, in key order; sealed names differ by nonce, so left out."""
    conn = await asyncpg.connect(runtime.database.url)
    try:
        result = {}
        for projection in PROJECTIONS.values():
            for table in projection.tables:
                columns = [c for c in table.column_names if c != "names_sealed"]
                rows = await conn.fetch(
                    f"SELECT {', '.join(columns)} FROM {table.name} "
                    f"ORDER BY {', '.join(table.primary_key)}"
                )
                result[table.name] = [tuple(r) for r in rows]
        return result
    finally:
        await conn.close()


def refer_at_random(
    p: Participant,
    rng: random.Random,
    config: Any,
    programme: Any,
    env: Envelope,
    today: date,
) -> None:
    """A referral to another provider, accepted or not, ended or not."""
    receiving = config.providers[
        rng.choice([x for x in sorted(config.providers) if x != p.provider])
    ]
    day = max(p.last_effective_date, p.intake_date)
    referral_id = p.make_referral(
        envelope=env,
        effective_date=day,
        today=today,
        programme=programme,
        receiving=receiving,
        module=rng.choice(["F1", "F2", "F4"]),
    )
    if rng.random() < 0.7:
        accepting = Envelope("teacher", "caseworker", receiving.id, "test")
        p.accept_referral(
            envelope=accepting, effective_date=day, today=today, referral_id=referral_id
        )
    if rng.random() < 0.3:
        p.end_referral(
            envelope=env,
            effective_date=day,
            today=today,
            referral_id=referral_id,
            reason="completed",
        )


def journeys_with_twists(runtime: Runtime, rng: random.Random, count: int) -> list[UUID]:
    """Realistic journeys plus corrections, transfers and erasures at random."""
    journeys = runtime.journeys
    config = journeys.configuration
    programme = config.programmes["durchstarten"]
    today = journeys.clock()
    ids = []
    for _ in range(count):
        p = generate_journey(rng, config, programme, today)
        journeys.save(p)
        ids.append(p.id)
        twist = rng.random()
        env = Envelope("coach", "caseworker", p.provider, "test")
        if rng.random() < 0.5 and p.consent_version and not p.consent_withdrawn and not p.exit_date:
            refer_at_random(p, rng, config, programme, env, today)
        if twist < 0.3 and p._entries:
            version = rng.choice(sorted(p._entries))
            entry = p._entries[version]
            changes = _a_correction(type(entry).__name__, rng)
            if changes:
                day = max(p.last_effective_date, p.intake_date)
                # A correction that would break the journey (a module changed under
                # its lesson hours, say) is refused and writes nothing.
                with contextlib.suppress(RuleViolationError):
                    p.correct_entry(
                        envelope=env,
                        effective_date=day,
                        today=today,
                        programme=programme,
                        corrects_version=version,
                        reason="Korrektur",
                        changes=changes,
                    )
        elif twist < 0.4 and p.exit_date is None:
            other = rng.choice([x for x in sorted(config.providers) if x != p.provider])
            p.transfer(
                envelope=env,
                effective_date=max(p.last_effective_date, p.intake_date),
                today=today,
                to_provider=other,
                to_municipality=config.providers[other].municipality,
            )
        elif twist < 0.5:
            p.erase_personal_data(
                envelope=env,
                today=today,
                mode=rng.choice(["shred", "restrict"]),
                reason_code="other",
            )
        if p.pending_events:
            journeys._save(
                p, None, shred=any(getattr(e, "mode", "") == "shred" for e in p.pending_events)
            )
    return ids


def _a_correction(event_type: str, rng: random.Random) -> dict[str, Any] | None:
    match event_type:
        case "Registered":
            return {"gender": rng.choice(["female", "male", "diverse"]), "nationality": "ER"}
        case "LanguageLevelAssessed":
            return {"level": rng.choice(["A1", "B2"])}
        case "ModuleEntered":
            return {"module": rng.choice(["F2", "F6"])} if rng.random() < 0.5 else None
        case "Exited":
            return {"destination": "school"}
        case "CoachingContactLogged":
            return {"minutes": 15}
    return None


def expected_spans(p: Participant) -> list[tuple[Any, ...]]:
    spans: list[list[Any]] = []
    for version in sorted(p._entries):
        e = p._entries[version]
        name = type(e).__name__
        if name == "ModuleEntered":
            spans.append([p.id, version, e.module, e.effective_date, None, None])  # type: ignore[attr-defined]
        elif name == "ModuleExited":
            for span in spans:
                if span[2] == e.module and span[4] is None:  # type: ignore[attr-defined]
                    span[4], span[5] = e.effective_date, e.reason  # type: ignore[attr-defined]
        elif name == "CaseTransferred" and e.from_municipality != e.to_municipality:  # type: ignore[attr-defined]
            # The open stays move with the person: ended here, continued there.
            moved = [s for s in spans if s[4] is None]
            for span in moved:
                span[4], span[5] = e.effective_date, "transferred"
            spans += [[p.id, version, s[2], e.effective_date, None, None] for s in moved]
    return sorted((tuple(s) for s in spans), key=lambda s: (s[1], s[2]))


def expected_outcomes(p: Participant) -> list[tuple[Any, ...]]:
    found = []
    for version in sorted(p._entries):
        e = p._entries[version]
        if type(e).__name__ == "Exited":
            found.append((version, "exit", e.effective_date, e.destination))  # type: ignore[attr-defined]
        elif type(e).__name__ == "FollowUpRecorded":
            found.append((version, "follow_up", e.effective_date, e.destination))  # type: ignore[attr-defined]
    return found


async def read_models_match_aggregates(runtime: Runtime, ids: list[UUID]) -> None:
    conn = await asyncpg.connect(runtime.database.url)
    try:
        for pid in ids:
            p = runtime.journeys.repository.get(pid)
            row = await conn.fetchrow(
                "SELECT * FROM rm_participants WHERE participant_id = $1", pid
            )
            assert row is not None
            assert (row["status"], row["provider"], row["municipality"]) == (
                p.status,
                p.provider,
                p.municipality,
            )
            assert row["open_modules"] == sorted(p.open_modules)
            assert (row["gender"], row["nationality"], row["residence_status"]) == (
                p.gender,
                p.nationality,
                p.residence_status,
            )
            assert row["age_band"] == age_band(p.age_at_intake)
            assert (row["language_level"], row["eligible"], row["target_group"]) == (
                p.language_level,
                p.eligible,
                p.target_group,
            )
            assert (row["coaching_contacts"], row["coaching_minutes"]) == (
                p.coaching_contacts,
                p.coaching_minutes,
            )
            assert row["lesson_hours"] == sum(p.lesson_hours.values(), start=0)
            assert (row["exit_date"], row["exit_reason"], row["exit_destination"]) == (
                p.exit_date,
                p.exit_reason,
                p.exit_destination,
            )
            assert (row["corrections"], row["personal_data_erased"], row["restricted"]) == (
                p.corrections,
                p.personal_data_erased,
                p.restricted,
            )
            assert (row["version"], row["last_milestone"], row["last_effective_date"]) == (
                p.version,
                p.last_milestone,
                p.last_effective_date,
            )
            assert (row["names_sealed"] is None) == (p.personal_data_erased or p.given_name is None)
            spans = await conn.fetch(
                "SELECT participant_id, entered_version, module, entered, exited, exit_reason "
                "FROM rm_module_spans WHERE participant_id = $1 ORDER BY entered_version, module",
                pid,
            )
            assert [tuple(s) for s in spans] == expected_spans(p)
            outcomes = await conn.fetch(
                "SELECT version, kind, effective_date, destination FROM rm_outcomes "
                "WHERE participant_id = $1 ORDER BY version",
                pid,
            )
            assert [tuple(o) for o in outcomes] == expected_outcomes(p)
            timeline = await conn.fetch(
                "SELECT version, corrects_version FROM rm_timeline "
                "WHERE participant_id = $1 ORDER BY version",
                pid,
            )
            assert [t["version"] for t in timeline] == list(range(1, p.version + 1))
            accepted = await conn.fetchval(
                "SELECT referrals FROM rm_participants WHERE participant_id = $1", pid
            )
            assert accepted == [f"{x}/{m}" for x, m in accepted_referrals(p.referrals.values())]
            referrals = await conn.fetch(
                "SELECT referral_id, provider, module, status, lead_provider, municipality "
                "FROM rm_referrals WHERE participant_id = $1 ORDER BY referral_id",
                pid,
            )
            assert [tuple(r) for r in referrals] == [
                (
                    r.referral_id,
                    r.provider,
                    r.module,
                    "ended" if r.ended else "accepted" if r.accepted else "made",
                    p.provider,
                    p.municipality,
                )
                for r in sorted(p.referrals.values(), key=lambda r: r.referral_id)
            ]
    finally:
        await conn.close()


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


async def rebuild_all(runtime: Runtime, master: MasterKey, **options: Any) -> dict[str, int]:
    pool = await pool_for(runtime)
    try:
        return await rebuild(pool, master, list(PROJECTIONS.values()), batch_size=101, **options)
    finally:
        await pool.close()


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

    spans = run(_fetch(runtime, "SELECT residence_status FROM rm_module_spans"))
    assert spans == [("ausbildungsduldung_60c",)]
    assert run(snapshot(runtime)) == live


async def _fetch(runtime: Runtime, query: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(runtime.database.url)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


def test_a_runner_following_the_log_in_small_steps_writes_what_a_rebuild_writes(
    runtime: Runtime, master: MasterKey
) -> None:
    # The live runner writes only the rows a batch adds to a participant's
    # timeline, unless earlier rows changed (a transfer, a correction): then it
    # writes them all again. Followed step by step, it must end where a rebuild does.
    from tests.integration.test_concurrent_writers import COACH, log_contact, register

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
