"""Benchmark: the statewide monitoring report for a year, from read models and by replay.

1. Seeds ``--participants`` journeys with ``api.demo.seed`` (bulk saves) in a fresh
   database (``DATABASE_URL`` server, or embedded PostgreSQL), and catches the
   projections up with the runner.
2. Times the statewide monitoring report for ``--year`` from the read models
   (computation + small-cell protection, as the API does before storing the run):
   p50/p95 over ``--runs`` runs; target p95 < 1 s.
3. Computes the same figures by replaying every event up to the same position
   through the projections' folds (``--replay-runs`` runs), checks that the figures
   are equal, and prints the ratio replay / read models.

The issue's size is ``--participants 100000`` (about 2.7 million events).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench.common import (
    bench_database,
    bench_runtime,
    machine,
    markdown_table,
    percentile,
    write_results,
)
from lotse.api.demo import seed
from lotse.domain.configuration import Configuration
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.runner import Runner
from lotse.reports.definition import ReportRequest
from lotse.reports.periods import parse_period
from lotse.reports.service import compute
from lotse.reports.suppression import suppress
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


async def measure(
    url: str, config: Configuration, year: str, runs: int, replay_runs: int
) -> dict[str, Any]:
    request = ReportRequest("monitoring", "durchstarten", parse_period(year))
    conn = await asyncpg.connect(url)
    try:
        read_times = []
        computed = None
        for _ in range(runs):
            started = time.perf_counter()
            computed = await compute(conn, request, config)
            suppress(computed.figures)
            read_times.append(time.perf_counter() - started)
        assert computed is not None
        assert computed.source == "read_models"
        replay_times = []
        replayed = None
        for _ in range(replay_runs):
            started = time.perf_counter()
            replayed = await compute(conn, request, config, position=computed.position)
            suppress(replayed.figures)
            replay_times.append(time.perf_counter() - started)
        assert replayed is not None
        equal = replayed.figures.cells == computed.figures.cells
        events = await conn.fetchval(
            "SELECT count(*) FROM lotse_events WHERE notification_id <= $1", computed.position
        )
    finally:
        await conn.close()
    read_times.sort()
    return {
        "events": int(events),
        "cells": len(computed.figures.cells),
        "read_model_seconds": read_times,
        "read_model_p50": percentile(read_times, 50),
        "read_model_p95": percentile(read_times, 95),
        "replay_seconds": replay_times,
        "replay_median": statistics.median(replay_times),
        "figures_equal": equal,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--year", default="2021")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--replay-runs", type=int, default=1)
    args = parser.parse_args()

    with bench_database() as db:
        runtime = bench_runtime(db.url)
        try:
            started = time.perf_counter()
            events = seed(runtime.journeys, args.participants, batch=100)
            seed_seconds = time.perf_counter() - started
            print(f"seeded {events} events in {seed_seconds:.0f}s", file=sys.stderr)
            master = MasterKey.from_text(runtime.settings.master_key)
            projection_seconds = asyncio.run(catch_up(db.url, master))
            print(f"projections caught up in {projection_seconds:.0f}s", file=sys.stderr)
            with runtime.journeys.recorder.datastore.transaction(commit=True) as curs:
                curs.execute("ANALYZE")
            figures = asyncio.run(
                measure(db.url, runtime.configuration, args.year, args.runs, args.replay_runs)
            )
        finally:
            runtime.close()

    ratio = figures["replay_median"] / figures["read_model_p50"]
    results = {
        "machine": machine(),
        "database": {"embedded": db.embedded, "server_version": db.server_version},
        "participants": args.participants,
        "events": events,
        "seed_seconds": seed_seconds,
        "projection_catch_up_seconds": projection_seconds,
        "report": {"kind": "monitoring", "period": args.year, "scope": "statewide", **figures},
        "replay_to_read_model_ratio": ratio,
        "target_p95_seconds": 1.0,
    }
    path = write_results("reports", results)
    m = results["machine"]
    where = "embedded" if db.embedded else "server"
    print(f"\n### Funding reports: statewide monitoring {args.year} ({where} PostgreSQL)")
    print(f"\n{m['cpu']}, {m['nproc']} cores, Python {m['python']}, PostgreSQL {db.server_version}")
    print(
        f"{args.participants:,} participants, {figures['events']:,} events; "
        f"{figures['cells']:,} cells per report\n"
    )
    rows = [
        [
            f"from read models ({args.runs} runs)",
            f"p50 {figures['read_model_p50'] * 1000:,.0f} ms, "
            f"p95 {figures['read_model_p95'] * 1000:,.0f} ms",
            f"target p95 < 1 s: {'pass' if figures['read_model_p95'] < 1 else 'fail'}",
        ],
        [
            f"by replaying the events ({args.replay_runs} run(s))",
            f"median {figures['replay_median']:,.1f} s",
            f"{ratio:,.0f}x the read-model p50; same figures: {figures['figures_equal']}",
        ],
    ]
    print(markdown_table(["monitoring report", "time", "ratio / target"], rows))
    print(f"\nresults: {path}")
    return 0 if figures["figures_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
