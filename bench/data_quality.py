"""Benchmark: the data quality report per provider and quarter, against two baselines.

1. Seeds ``--participants`` journeys (``api.demo``'s generator through
   ``bench.course_year.seed_participants``, bulk saves) in a fresh database
   (``DATABASE_URL`` server, or embedded PostgreSQL) and catches every read model
   up with the runner (the ``data_quality`` read model among them).
2. Times, alternating in the same run, as ``GET /reports/data-quality`` computes it
   (``reports.data_quality.data_quality``): a coordinator's municipality and the
   statewide report (admin), for ``--quarter`` (default: the current one, where the
   seeded entries were recorded, so every entry of the log is in it); and as
   baselines a coordinator's due list (``GET /worklist``'s ``due_list``, 14 days)
   and the statewide monitoring report for the same quarter from the read models
   (``reports.service.compute``, what ``GET /reports/monitoring`` computes before
   storing the run). p50/p95 over ``--runs`` calls each; ratios to the baselines.

The read-side functions are called directly on one asyncpg connection: what the
routes add (parsing, JSON) is small and the same for all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench.common import bench_database, latency_summary, machine, markdown_table
from bench.common import write_results as write
from bench.worklist import seed
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role
from lotse.domain.application import programme_today
from lotse.domain.configuration import load_configuration
from lotse.projections.due_list import due_list
from lotse.reports.data_quality import data_quality
from lotse.reports.definition import ReportRequest
from lotse.reports.periods import parse_period
from lotse.reports.service import compute


def current_quarter() -> str:
    today = programme_today()
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


async def measure(url: str, quarter: str, runs: int) -> dict[str, Any]:
    config = load_configuration(None)
    municipalities = sorted(config.municipalities)
    today = programme_today()
    admin = Principal("bench-admin", Role.ADMIN, ALL_ORGANISATIONS)
    monitoring = ReportRequest("monitoring", "durchstarten", parse_period(quarter))
    names = ("data_quality_municipality", "data_quality_statewide", "due_list", "monitoring")
    timings: dict[str, list[float]] = {n: [] for n in names}
    sizes: dict[str, list[int]] = {n: [] for n in names}
    conn = await asyncpg.connect(url)
    try:
        for i in range(runs):
            coordinator = Principal(
                "bench-co", Role.COORDINATOR, municipalities[i % len(municipalities)]
            )

            async def municipality(p: Principal = coordinator) -> int:
                found = await data_quality(
                    conn, config, p, quarter=quarter, municipality=None, today=today
                )
                return sum(r["entries"] for r in found["providers"])

            async def statewide() -> int:
                found = await data_quality(
                    conn, config, admin, quarter=quarter, municipality=None, today=today
                )
                return sum(r["entries"] for r in found["providers"])

            async def worklist(p: Principal = coordinator) -> int:
                found = await due_list(conn, config, p, today=today, due_within_days=14)
                return len(found.items)

            async def report() -> int:
                computed = await compute(conn, monitoring, config, evidence=False)
                return len(computed.figures.cells)

            calls: list[tuple[str, Callable[[], Awaitable[int]]]] = [
                ("data_quality_municipality", municipality),
                ("data_quality_statewide", statewide),
                ("due_list", worklist),
                ("monitoring", report),
            ]
            # Rotating order, so that none gets the warmer cache every time.
            shift = i % len(calls)
            for name, call in calls[shift:] + calls[:shift]:
                started = time.perf_counter()
                size = await call()
                timings[name].append((time.perf_counter() - started) * 1000)
                sizes[name].append(size)
    finally:
        await conn.close()
    return latency_summary(timings, sizes, "size_median")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--quarter", help="YYYY-Qn (default: the current quarter)")
    args = parser.parse_args()
    quarter = args.quarter or current_quarter()
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(bench_database())
        url, embedded, version = db.url, db.embedded, db.server_version
        seeded = seed(url, args.participants)
        seeded.pop("master")
        load_before = os.getloadavg()
        views = asyncio.run(measure(url, quarter, args.runs))
        load_after = os.getloadavg()
    statewide = views["data_quality_statewide"]["p95_ms"]
    results = {
        "machine": machine(),
        "database": {"embedded": embedded, "server_version": version},
        "participants": args.participants,
        "quarter": quarter,
        **seeded,
        "load_average_before_after": [load_before, load_after],
        "views": views,
        "ratio_statewide_to_monitoring_p95": round(statewide / views["monitoring"]["p95_ms"], 2),
        "ratio_municipality_to_due_list_p95": round(
            views["data_quality_municipality"]["p95_ms"] / views["due_list"]["p95_ms"], 2
        ),
    }
    path = write("data_quality", results)
    rows = [
        [name, v["p50_ms"], v["p95_ms"], v["max_ms"], v["size_median"]] for name, v in views.items()
    ]
    print(markdown_table(["view", "p50 ms", "p95 ms", "max ms", "size (median)"], rows))
    print(
        "ratio data quality statewide / monitoring (p95): "
        f"{results['ratio_statewide_to_monitoring_p95']}; a municipality's / its due list: "
        f"{results['ratio_municipality_to_due_list_p95']}; results in {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
