"""Benchmark: a statewide year of funding reports, from read models and by replay.

1. Seeds ``--participants`` journeys (``api.demo``'s generator, bulk saves) and
   ``--courses`` F4 courses of ``--year`` with about ``--sessions`` sessions and
   their attendance lists (``bench.course_year``: the ``Course`` aggregate's own
   commands) in a fresh database (``DATABASE_URL`` server, or embedded
   PostgreSQL), and catches the projections up with the runner.
2. Times the statewide monitoring report and the statewide financial evidence
   (totals, per-course and per-quarter rows) for ``--year`` from the read models,
   as ``GET /reports/monitoring|financial`` computes them before storing the run:
   query (side by side on pooled connections in one snapshot, as the API reads),
   cells, small-cell protection and the published tables; p50/p95 over ``--runs``
   runs each, after ``--warmup`` untimed runs (the first run, reported apart, reads
   the tables from disk after the replay or the seed); target p95 < 1 s. Then the
   financial report with its
   evidence (``evidence=true``: the event trail and every course's
   Teilnehmendenliste) for one provider (``--evidence-provider``), as a provider's
   proof of use of funds asks for it, over ``--evidence-runs`` runs.
3. Computes the same reports by replaying every event up to the same position
   through the projections' folds (``--replay-runs`` runs), checks that the
   published tables and every cell are equal, and prints the ratio replay / read
   models.

The issue's size (issue 11) is the default: 100,000 participants (about 2.7 million
events), 8,000 courses, 300,000 sessions, about 2 million attendance marks.
``--participants 5000 --courses 400 --sessions 15000`` is a quick run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
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
from bench.course_year import CourseCounts, seed_courses, seed_participants
from lotse.domain.configuration import Configuration, load_configuration
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.runner import Runner
from lotse.reports.cells import publish
from lotse.reports.definition import ReportRequest
from lotse.reports.periods import parse_period
from lotse.reports.service import TABLES, Computed, compute, figures_from_rows
from lotse.reports.sources import replay
from lotse.reports.suppression import suppress
from lotse.storage.keys import MasterKey


async def has_events(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('lotse_events')") is None:
            return False
        return bool(await conn.fetchval("SELECT EXISTS (SELECT FROM lotse_events)"))
    finally:
        await conn.close()


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()


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


def served(computed: Computed) -> dict[str, Any]:
    """What the route publishes: small-cell protection applied, tables resolved."""
    hidden = suppress(computed.figures)
    return {"suppressed": sorted(map(repr, hidden)), "tables": publish(computed.figures, hidden)}


async def measure(
    url: str,
    config: Configuration,
    kind: str,
    year: str,
    variants: list[tuple[bool, int, str | None]],
    replay_runs: int,
    warmup: int = 1,
) -> list[dict[str, Any]]:
    """Each ``(evidence, runs, provider)`` variant from the read models, then by replay.

    The replay folds the log once per replay run for all variants (``compute``
    with a position does exactly this: ``replay`` and then ``figures_from_rows``);
    a variant's replay time is the fold plus its own figures.
    """
    requests = [
        ReportRequest(kind, "durchstarten", parse_period(year), provider=provider)
        for _evidence, _runs, provider in variants
    ]
    # As the API computes a report: a pooled connection, and spare ones of the pool
    # to read side by side in the report's snapshot (reports.snapshots).
    pool = await asyncpg.create_pool(url, min_size=3, max_size=3)
    conn = await pool.acquire()
    found: list[dict[str, Any]] = []
    documents = []
    try:
        for request, (evidence, runs, provider) in zip(requests, variants, strict=True):
            read_times = []
            computed = document = None
            # The first run after the log was replayed or the database loaded reads
            # the read models from disk (this host keeps about 2 GB in its page cache
            # and 128 MB of shared buffers, the database is 5 GB): timed apart, as
            # "first run", and not in p50/p95, which describe a server that serves
            # reports all day.
            cold = []
            for _ in range(warmup):
                started = time.perf_counter()
                served(await compute(conn, request, config, evidence=evidence, pool=pool))
                cold.append(time.perf_counter() - started)
            for _ in range(runs):
                started = time.perf_counter()
                computed = await compute(conn, request, config, evidence=evidence, pool=pool)
                document = served(computed)
                read_times.append(time.perf_counter() - started)
            assert computed is not None
            assert document is not None
            assert computed.source == "read_models"
            documents.append((computed, document))
            read_times.sort()
            found.append(
                {
                    "kind": kind,
                    "evidence": evidence,
                    "provider": provider,
                    "position": computed.position,
                    "cells": len(computed.figures.cells),
                    "tables": len(document["tables"]),
                    "table_rows": sum(len(t["rows"]) for t in document["tables"].values()),
                    "read_model_seconds": read_times,
                    "read_model_p50": percentile(read_times, 50),
                    "read_model_p95": percentile(read_times, 95),
                    "first_run_seconds": cold,
                    "replay_seconds": [],
                }
            )
            print(
                f"  {kind} evidence={evidence}: first {cold}, then {read_times}",
                file=sys.stderr,
                flush=True,
            )
        position = found[0]["position"]
        assert all(f["position"] == position for f in found)
        equal = [True] * len(variants)
        for _ in range(replay_runs):
            started = time.perf_counter()
            rows = await replay(conn, position, TABLES[kind])
            folded = time.perf_counter() - started
            for i, (evidence, _runs, _provider) in enumerate(variants):
                request = requests[i]
                started = time.perf_counter()
                figures = figures_from_rows(request, rows, config, evidence=evidence)
                document = served(Computed(request, position, "replay", figures))
                found[i]["replay_seconds"].append(folded + time.perf_counter() - started)
                computed, served_document = documents[i]
                found[i]["cells_equal"] = figures.cells == computed.figures.cells
                found[i]["documents_equal"] = document == served_document
                equal[i] = equal[i] and found[i]["cells_equal"] and found[i]["documents_equal"]
                del figures, document
            del rows
        events = await conn.fetchval(
            "SELECT count(*) FROM lotse_events WHERE notification_id <= $1", position
        )
    finally:
        await pool.release(conn)
        await pool.close()
    for i, f in enumerate(found):
        f["events"] = int(events)
        f["replay_median"] = statistics.median(f["replay_seconds"])
        f["figures_equal"] = equal[i]
    return found


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


async def course_counts(url: str) -> CourseCounts:
    """What the courses read model holds (the same as generated when seeded here)."""
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM rm_courses) AS courses, "
            "(SELECT count(*) FROM rm_course_sessions) AS sessions, "
            "(SELECT count(*) FROM rm_course_sessions WHERE attendance_version IS NOT NULL) "
            "AS lists, (SELECT count(*) FROM rm_course_attendance) AS marks, "
            "(SELECT sum(enrolled) FROM rm_courses) AS enrolments, "
            "(SELECT count(*) FROM lotse_events) AS events"
        )
    finally:
        await conn.close()
    return CourseCounts(**{k: int(v or 0) for k, v in dict(row).items()})


def seed(url: str, args: argparse.Namespace) -> tuple[int, float, CourseCounts]:
    """Participants and courses through the aggregates, saved in bulk."""
    runtime = bench_runtime(url)
    try:

        def progress(done: int) -> None:
            if done % 10_000 == 0:
                print(f"  {done:,} participants", file=sys.stderr, flush=True)

        started = time.perf_counter()
        events, stays = seed_participants(runtime.journeys, args.participants, on_progress=progress)
        counts = seed_courses(
            runtime.journeys,
            stays,
            courses=args.courses,
            sessions=args.sessions,
            year=int(args.year[:4]),
        )
        events += counts.events
        seconds = time.perf_counter() - started
        print(
            f"seeded {events:,} events in {seconds:.0f}s: {counts.courses:,} courses, "
            f"{counts.sessions:,} sessions, {counts.marks:,} attendance marks",
            file=sys.stderr,
        )
        master = MasterKey.from_text(runtime.settings.master_key)
        projection_seconds = asyncio.run(catch_up(url, master))
        print(f"projections caught up in {projection_seconds:.0f}s", file=sys.stderr)
        with runtime.journeys.recorder.datastore.transaction(commit=True) as curs:
            curs.execute("ANALYZE")
    finally:
        runtime.close()
    return events, seconds, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--courses", type=int, default=8_000)
    parser.add_argument("--sessions", type=int, default=300_000)
    parser.add_argument("--year", default="2021")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--evidence-runs",
        type=int,
        default=3,
        help="runs of the financial report with its evidence rows for --evidence-provider",
    )
    parser.add_argument(
        "--evidence-provider",
        default="caritas-ahlen",
        help="the provider whose financial report with evidence is timed",
    )
    parser.add_argument("--replay-runs", type=int, default=1)
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed runs of each report before its timed ones (reported as first run)",
    )
    parser.add_argument(
        "--database",
        help="a database URL to keep: seeded here if it holds no events yet, else measured as "
        "an earlier run with the same options left it; default: a fresh database, dropped",
    )
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.database:
            url, embedded, version = args.database, False, "?"
            seed_seconds = None
            if not asyncio.run(has_events(url)):
                _events, seed_seconds, _counts = seed(url, args)
            else:
                # Read models added since the database was seeded start from the log.
                runtime = bench_runtime(url)
                master = MasterKey.from_text(runtime.settings.master_key)
                runtime.close()
                caught_up = asyncio.run(catch_up(url, master))
                print(f"projections caught up in {caught_up:.0f}s", file=sys.stderr)
        else:
            db = stack.enter_context(bench_database())
            url, embedded, version = db.url, db.embedded, db.server_version
            _events, seed_seconds, _counts = seed(url, args)
        counts = asyncio.run(course_counts(url))
        if args.database:
            version = asyncio.run(server_version(url))
        config = load_configuration(None)
        load_before = load()
        reports = [
            *asyncio.run(
                measure(
                    url,
                    config,
                    "monitoring",
                    args.year,
                    [(False, args.runs, None)],
                    args.replay_runs,
                    args.warmup,
                )
            ),
            *asyncio.run(
                measure(
                    url,
                    config,
                    "financial",
                    args.year,
                    [
                        (False, args.runs, None),
                        (True, args.evidence_runs, args.evidence_provider),
                    ],
                    args.replay_runs,
                    args.warmup,
                )
            ),
        ]
        load_after = load()

    m = machine()
    results = {
        "machine": m,
        "load_average_before_after": [load_before, load_after],
        "database": {"embedded": embedded, "server_version": version},
        "participants": args.participants,
        "courses": counts.__dict__,
        "seed_seconds": seed_seconds,
        "reports": [
            {
                "period": args.year,
                "scope": r["provider"] or "statewide",
                **r,
                "replay_to_read_model_ratio": r["replay_median"] / r["read_model_p50"],
            }
            for r in reports
        ],
        "target_p95_seconds": 1.0,
    }
    path = write_results("reports", results)
    where = "embedded" if embedded else "server"
    print(f"\n### Funding reports: statewide {args.year} ({where} PostgreSQL {version})")
    print(f"\n{m['cpu']}, {m['nproc']} cores, Python {m['python']}")
    print(f"load average (1 / 5 / 15 min) before the timings {load_before}, after {load_after}")
    print(
        f"{args.participants:,} participants, {counts.courses:,} courses, "
        f"{counts.sessions:,} sessions, {counts.lists:,} attendance lists with "
        f"{counts.marks:,} marks; {reports[0]['events']:,} events\n"
    )
    names = {
        ("monitoring", False): "monitoring",
        ("financial", False): "financial: figures and per-course rows",
        ("financial", True): f"financial of one provider ({args.evidence_provider}) with "
        "evidence=true: + its courses' Teilnehmendenlisten and the legacy event trail",
    }
    rows = []
    for r in reports:
        p50, p95 = r["read_model_p50"] * 1000, r["read_model_p95"] * 1000
        runs = len(r["read_model_seconds"])
        first = "".join(f"; first run {t * 1000:,.0f} ms" for t in r["first_run_seconds"][:1])
        rows.append(
            [
                names[r["kind"], r["evidence"]],
                f"{r['cells']:,} cells, {r['tables']:,} tables, {r['table_rows']:,} rows",
                f"p50 {p50:,.0f} ms, p95 {p95:,.0f} ms ({runs} runs{first})",
                "pass" if r["read_model_p95"] < 1 else "fail",
                f"{r['replay_median']:,.1f} s",
                f"{r['replay_median'] / r['read_model_p50']:,.1f}x",
                "yes" if r["figures_equal"] else "NO",
            ]
        )
    print(
        markdown_table(
            [
                "report (statewide unless named)",
                "size",
                "from read models",
                "p95 < 1 s",
                f"replay ({args.replay_runs} run(s))",
                "replay / read p50",
                "equal",
            ],
            rows,
        )
    )
    print(f"\nresults: {path}")
    return 0 if all(r["figures_equal"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
