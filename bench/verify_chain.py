"""Benchmark: hash-chain verification speed, and what chaining costs on the write path.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python bench/verify_chain.py [--participants 40000]

1. Generates about 1,000,000 events with ``api.demo.seed`` (bulk saves) in a fresh
   database (created on the ``DATABASE_URL`` server and dropped afterwards, or an
   embedded PostgreSQL), signs a checkpoint.
2. Verification: ``lotse audit verify``'s code path (asyncpg, one snapshot), in
   events/s, against a plain asyncpg scan of the events table (the floor any
   verifier must read) measured in the same run. Target: >= 200,000 events/s.
3. Write path: ``Journeys.record_milestone``, one milestone per save, 1 and 16
   threads, with the chain hook on and off (the recorder switch exists for this
   benchmark only), alternating rounds in the same run. Target: <= 1.15x.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench.common import (
    bench_database,
    bench_runtime,
    machine,
    markdown_table,
    write_results,
)
from lotse.api.demo import seed
from lotse.api.runtime import Runtime
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role
from lotse.storage.recorder import LotseRecorder
from lotse.storage.verification import run_verification

ADMIN = Principal("bench", Role.ADMIN, ALL_ORGANISATIONS)


async def raw_scan(url: str) -> float:
    """Rows/s of a plain asyncpg scan of the events table in log order."""
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        n = 0
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await conn.cursor(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM lotse_events ORDER BY notification_id"
            )
            while rows := await cursor.fetch(20_000):
                n += len(rows)
        return n / (time.perf_counter() - started)
    finally:
        await conn.close()


def library_read_rate(runtime: Runtime, limit: int = 200_000) -> float:
    """Events/s of the library reading and decoding the notification log (the baseline)."""
    recorder = runtime.journeys.recorder
    mapper = runtime.journeys.mapper
    started = time.perf_counter()
    n = 0
    start = 1
    while n < limit:
        page = recorder.select_notifications(start, 1000)
        if not page:
            break
        for notification in page:
            mapper.to_domain_event(notification)
        n += len(page)
        start = page[-1].id + 1
    return n / (time.perf_counter() - started)


def verify_rate(runtime: Runtime) -> tuple[float, int]:
    assert runtime.checkpoints is not None
    started = time.perf_counter()
    report = asyncio.run(run_verification(runtime.database.url, runtime.checkpoints.public_key))
    elapsed = time.perf_counter() - started
    if not report.ok:
        msg = f"verification failed: {report.first_problem}"
        raise SystemExit(msg)
    return report.verified / elapsed, report.verified


# ------------------------------------------------------------------ write path


def fresh_participants(runtime: Runtime, n: int) -> list[UUID]:
    journeys = runtime.journeys
    ids = []
    for i in range(n):
        recorded = journeys.register(
            ADMIN,
            f"bench-{i}",
            programme="durchstarten",
            provider="caritas-ahlen",
            intake_date=date(2021, 3, 1),
            given_name="Bench",
            family_name="Mark",
            birth_date=date(2000, 1, 1),
            gender="female",
            nationality="SY",
            residence_status="duldung",
        )
        ids.append(recorded.participant_id)
    return ids


def record_contacts(runtime: Runtime, participant_id: UUID, count: int) -> None:
    journeys = runtime.journeys
    day = date(2021, 3, 2)
    for i in range(count):
        journeys.record_milestone(
            ADMIN,
            "bench",
            participant_id,
            "CoachingContactLogged",
            day + timedelta(days=i % 300),
            minutes=45,
            mode="phone",
        )


def write_round(runtime: Runtime, threads: int, per_thread: int, *, chained: bool) -> float:
    recorder = runtime.journeys.recorder
    assert isinstance(recorder, LotseRecorder)
    participants = fresh_participants(runtime, threads)
    recorder.chain_enabled = chained
    try:
        workers = [
            threading.Thread(target=record_contacts, args=(runtime, pid, per_thread))
            for pid in participants
        ]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
    finally:
        recorder.chain_enabled = True
    return threads * per_thread / elapsed


def write_cost(runtime: Runtime, threads: int, per_thread: int, rounds: int) -> dict[str, Any]:
    on: list[float] = []
    off: list[float] = []
    write_round(runtime, threads, max(per_thread // 5, 5), chained=True)  # warm-up
    for _ in range(rounds):
        off.append(write_round(runtime, threads, per_thread, chained=False))
        on.append(write_round(runtime, threads, per_thread, chained=True))
    rate_on, rate_off = statistics.median(on), statistics.median(off)
    return {
        "threads": threads,
        "events_per_round": threads * per_thread,
        "chained_events_per_s": rate_on,
        "unchained_events_per_s": rate_off,
        "cost_ratio": rate_off / rate_on,
        "rounds_chained": on,
        "rounds_unchained": off,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=40_000)
    parser.add_argument("--verify-runs", type=int, default=3)
    parser.add_argument("--write-rounds", type=int, default=3)
    parser.add_argument("--single-events", type=int, default=300)
    parser.add_argument("--threaded-events", type=int, default=60, help="per thread")
    args = parser.parse_args()

    with bench_database() as db:
        runtime = bench_runtime(db.url)
        try:
            started = time.perf_counter()
            counter = {"done": 0, "shown": 0.0}

            def progress(n: int) -> None:
                counter["done"] += n
                if time.perf_counter() - counter["shown"] > 15:
                    counter["shown"] = time.perf_counter()
                    print(f"  seeded {counter['done']} participants", file=sys.stderr, flush=True)

            events = seed(runtime.journeys, args.participants, batch=100, on_progress=progress)
            seed_seconds = time.perf_counter() - started
            print(f"seeded {events} events in {seed_seconds:.0f}s", file=sys.stderr)
            assert runtime.checkpoints is not None
            runtime.checkpoints.create()
            with runtime.journeys.recorder.datastore.transaction(commit=True) as curs:
                curs.execute("ANALYZE")  # fresh statistics, as autovacuum would give

            library_read = library_read_rate(runtime)
            scans = [asyncio.run(raw_scan(db.url)) for _ in range(args.verify_runs)]
            verifications = [verify_rate(runtime) for _ in range(args.verify_runs)]
            verified = verifications[0][1]
            verify_best = max(r for r, _ in verifications)
            verify_median = statistics.median(r for r, _ in verifications)
            scan_median = statistics.median(scans)

            single = write_cost(runtime, 1, args.single_events, args.write_rounds)
            threaded = write_cost(runtime, 16, args.threaded_events, args.write_rounds)
        finally:
            runtime.close()

    results = {
        "machine": machine(),
        "database": {"embedded": db.embedded, "server_version": db.server_version},
        "seed": {
            "participants": args.participants,
            "events": events,
            "seconds": seed_seconds,
            "events_per_s": events / seed_seconds,
        },
        "verification": {
            "events": verified,
            "events_per_s_median": verify_median,
            "events_per_s_best": verify_best,
            "runs": [r for r, _ in verifications],
            "asyncpg_scan_rows_per_s_median": scan_median,
            "ratio_to_scan": verify_median / scan_median,
            "library_read_decode_events_per_s": library_read,
            "ratio_to_library_read": verify_median / library_read,
            "target_events_per_s": 200_000,
        },
        "write_path": [single, threaded],
    }
    path = write_results("verify_chain", results)
    m = results["machine"]
    where = "embedded" if db.embedded else "server"
    print(f"\n### Hash chain: verification and write-path cost ({where} PostgreSQL)")
    print(f"\n{m['cpu']}, {m['nproc']} cores, Python {m['python']}, PostgreSQL {db.server_version}")
    print(f"seed: {events:,} events ({args.participants:,} participants) in {seed_seconds:.0f} s\n")
    rows: list[list[Any]] = [
        [
            "verification (lotse audit verify)",
            f"{verify_median:,.0f} events/s (best {verify_best:,.0f})",
            f"{verify_median / scan_median:.2f}x of a plain asyncpg scan "
            f"({scan_median:,.0f} rows/s); target >= 200,000/s",
        ],
        [
            "library read + decode of the log (baseline)",
            f"{library_read:,.0f} events/s",
            f"verification is {verify_median / library_read:.1f}x faster",
        ],
    ]
    for w in (single, threaded):
        rows.append(
            [
                f"record_milestone, {w['threads']} thread(s), chained",
                f"{w['chained_events_per_s']:,.0f} events/s",
                f"cost {w['cost_ratio']:.3f}x vs. unchained "
                f"({w['unchained_events_per_s']:,.0f} events/s); target <= 1.15x",
            ]
        )
    print(markdown_table(["what", "rate", "ratio"], rows))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
