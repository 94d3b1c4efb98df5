"""Benchmark: the due list (Wiedervorlage) of the whole state, per case worker's view.

1. Seeds ``--participants`` journeys (``api.demo``'s generator through
   ``bench.course_year.seed_participants``, bulk saves) in a fresh database
   (``DATABASE_URL`` server, or embedded PostgreSQL) and catches every read model
   up with the runner.
2. Times, alternating in the same run, for a case worker of each provider in turn:
   the due list as ``GET /worklist`` computes it (``projections.due_list.due_list``:
   items due within 14 days and overdue, open, up to 500) and the first page of the
   caseload as ``GET /participants`` computes it (``projections.caseload.caseload_page``,
   50 rows, names opened); also the coordinator's view of a municipality's due list.
   p50/p95 over ``--runs`` calls each; target p95 < 200 ms per case worker's view.

The read-side functions are called directly on one asyncpg connection: what the
routes add (parsing, the read-access log, JSON) is the same for both. With the
demo configuration's six providers, 100,000 participants make about 16,700 per
provider: a case worker's view here is a whole provider's, far more than a real
provider's 50-600.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench.common import bench_database, bench_runtime, latency_summary, machine, markdown_table
from bench.common import write_results as write
from bench.course_year import seed_participants
from lotse.domain.access import Principal, Role
from lotse.domain.application import programme_today
from lotse.domain.configuration import load_configuration
from lotse.projections.caseload import caseload_page
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.due_list import due_list
from lotse.projections.runner import Runner
from lotse.storage.keys import MasterKey


async def catch_up(url: str, master: MasterKey) -> float:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    runner = Runner(pool, master, list(PROJECTIONS.values()))
    started = time.perf_counter()
    try:
        await runner.acquire(wait=False)
        await runner.catch_up()
    finally:
        await runner.release()
        await pool.close()
    return time.perf_counter() - started


def seed(url: str, participants: int) -> dict[str, Any]:
    runtime = bench_runtime(url)
    try:

        def progress(done: int) -> None:
            if done % 10_000 == 0:
                print(f"  {done:,} participants", file=sys.stderr, flush=True)

        started = time.perf_counter()
        events, _ = seed_participants(runtime.journeys, participants, on_progress=progress)
        seconds = time.perf_counter() - started
        print(f"seeded {events:,} events in {seconds:.0f}s", file=sys.stderr, flush=True)
        master = MasterKey.from_text(runtime.settings.master_key)
        caught_up = asyncio.run(catch_up(url, master))
        print(f"read models caught up in {caught_up:.0f}s", file=sys.stderr, flush=True)
        with runtime.journeys.recorder.datastore.transaction(commit=True) as curs:
            curs.execute("ANALYZE")
        return {
            "events": events,
            "seed_seconds": seconds,
            "catch_up_seconds": caught_up,
            "master": runtime.settings.master_key,
        }
    finally:
        runtime.close()


async def measure(url: str, master_text: str, runs: int) -> dict[str, Any]:
    config = load_configuration(None)
    master = MasterKey.from_text(master_text)
    providers = sorted(config.providers)
    municipalities = sorted(config.municipalities)
    today = programme_today()
    timings: dict[str, list[float]] = {"worklist": [], "caseload": [], "coordinator": []}
    sizes: dict[str, list[int]] = {k: [] for k in timings}
    conn = await asyncpg.connect(url)
    try:
        for i in range(runs):
            provider = providers[i % len(providers)]
            caseworker = Principal(f"cw-{provider}", Role.CASEWORKER, provider)
            coordinator = Principal("co", Role.COORDINATOR, municipalities[i % len(municipalities)])

            async def worklist(p: Principal = caseworker) -> int:
                found = await due_list(conn, config, p, today=today, due_within_days=14)
                return len(found.items)

            async def caseload(p: Principal = caseworker) -> int:
                rows, _ = await caseload_page(
                    conn,
                    master,
                    p,
                    provider=None,
                    municipality=None,
                    status=None,
                    module=None,
                    name_terms=None,
                    after=None,
                    limit=50,
                )
                return len(rows)

            async def municipality(p: Principal = coordinator) -> int:
                found = await due_list(conn, config, p, today=today, due_within_days=14)
                return len(found.items)

            # Alternating order, so that neither gets the warmer cache every time.
            order = [("worklist", worklist), ("caseload", caseload), ("coordinator", municipality)]
            if i % 2:
                order.reverse()
            for name, call in order:
                started = time.perf_counter()
                size = await call()
                timings[name].append((time.perf_counter() - started) * 1000)
                sizes[name].append(size)
    finally:
        await conn.close()
    return latency_summary(timings, sizes, "items_median")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument(
        "--database",
        help="a database URL to keep: seeded if it holds no events yet (the master key is"
        " then kept in --keep-key), else measured as it is",
    )
    parser.add_argument("--keep-key", help="file holding the master key of --database")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.database:
            url, embedded, version = args.database, False, "?"
            key_file = Path(args.keep_key or "/tmp/lotse-bench-worklist.key")
            if key_file.exists():
                seeded = {"master": key_file.read_text().strip()}
            else:
                seeded = seed(url, args.participants)
                key_file.write_text(seeded["master"])
        else:
            db = stack.enter_context(bench_database())
            url, embedded, version = db.url, db.embedded, db.server_version
            seeded = seed(url, args.participants)
        load_before = os.getloadavg()
        views = asyncio.run(measure(url, seeded.pop("master"), args.runs))
        load_after = os.getloadavg()
    results = {
        "machine": machine(),
        "database": {"embedded": embedded, "server_version": version},
        "participants": args.participants,
        **seeded,
        "load_average_before_after": [load_before, load_after],
        "views": views,
        "ratio_worklist_to_caseload_p95": round(
            views["worklist"]["p95_ms"] / views["caseload"]["p95_ms"], 2
        ),
    }
    path = write("worklist", results)
    rows = [
        [name, v["p50_ms"], v["p95_ms"], v["max_ms"], v["items_median"]]
        for name, v in views.items()
    ]
    print(markdown_table(["view", "p50 ms", "p95 ms", "max ms", "items (median)"], rows))
    print(f"ratio due list / caseload (p95): {results['ratio_worklist_to_caseload_p95']}")
    print(f"target: due list p95 < 200 ms per case worker's view; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
