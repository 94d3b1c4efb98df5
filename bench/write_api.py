"""Issue 2 benchmark: milestones recorded through the real HTTP API on PostgreSQL.

    python3 dev.py bench                       # embedded PostgreSQL in a temp dir
    DATABASE_URL=postgresql://... python3 dev.py bench   # a fresh database on that server

What it measures, in one run, against one database:

(a) latency at a fixed offered load (default 100 milestones/s, ten times the statewide
    peak). Open loop: each request is sent at its planned time whether or not earlier
    ones have finished, and latency counts from the planned time, so a stalled server
    cannot hide its queue (no coordinated omission). Target: p99 < 50 ms.
(b) throughput saturated by 16 concurrent keep-alive clients: milestones/s.
(c) the library's own rate: a plain ``eventsourcing`` Application with a trivial
    aggregate on the default ``eventsourcing.postgres`` factory (its own table), one
    event per ``save``, 16 threads. Target: (b)/(c) >= 0.6.
    (b) and (c) alternate in rounds (default 3), each started on a settled
    database (projector caught up, no autovacuum running, a checkpoint written):
    the machines are shared, their speed drifts by tens of percent within a
    minute, and a ratio of rates measured minutes apart measures the drift. The
    ratio reported is the median of the rounds' ratios; each round's figures are
    printed too.
(d) the read path's cost of decryption: the same participants loaded through
    ``Journeys.repository.get`` with the encrypting mapper, and with the library's
    plain ``Mapper`` (sealed fields stay sealed), events/s each and the ratio.

The client runs in this process: asyncio with a lean HTTP/1.1 keep-alive client
(``bench/http_client.py``) that sends pre-encoded requests, because httpx used as
much CPU per request as the server it loads. Its CPU use and scheduling lag are
reported, so one can see that it is not the bottleneck. Setup (registrations)
still goes through httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, DomainEventProtocol, event
from eventsourcing.persistence import Mapper, StoredEvent

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BenchDatabase,
    Secrets,
    Server,
    bench_database,
    lotse_server,
    machine,
    markdown_table,
    percentile,
    write_results,
)
from bench.http_client import KeepAliveClient
from lotse.api.runtime import build_runtime
from lotse.api.settings import Settings
from lotse.api.tokens import create_token
from lotse.domain.access import Principal, Role
from lotse.domain.application import Journeys
from lotse.projections.schema import EVENTS, TRACKING
from lotse.storage.database import Database
from lotse.storage.sealing import SEALED, SEALED_CHANGES, SEALED_FIELDS

P99_TARGET_MS = 50.0
RATIO_TARGET = 0.6
INTAKE = "2021-03-01"
MILESTONE = {
    "type": "CoachingContactLogged",
    "effective_date": "2021-06-01",
    "minutes": 45,
    "mode": "in_person",
}


def registration(i: int) -> dict[str, Any]:
    return {
        "programme": "durchstarten",
        "provider": "caritas-ahlen",
        "intake_date": INTAKE,
        "given_name": f"Teilnehmerin {i}",
        "family_name": "Beispiel",
        "birth_date": "2001-05-17",
        "gender": "female",
        "nationality": "AF",
        "residence_status": "duldung",
    }


READY = (
    {
        "type": "EligibilityAssessed",
        "effective_date": "2021-03-02",
        "eligible": True,
        "target_group": "duldung",
    },
    {"type": "ConsentGiven", "effective_date": "2021-03-02", "consent_version": "2020-01"},
)


def http_client(server: Server, token: str, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {token}"},
        # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would
        # close them under a request in flight (a ReadError, not a server failure).
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=2.0,
        ),
        timeout=60.0,
    )


async def prepare(server: Server, token: str, count: int) -> list[str]:
    """Register ``count`` participants, eligible and consenting: ready for milestones."""
    async with http_client(server, token, 16) as client:
        semaphore = asyncio.Semaphore(16)

        async def one(i: int) -> str:
            async with semaphore:
                response = await client.post("/participants", json=registration(i))
                response.raise_for_status()
                pid = str(response.json()["id"])
                for body in READY:
                    (
                        await client.post(f"/participants/{pid}/milestones", json=body)
                    ).raise_for_status()
                return pid

        return list(await asyncio.gather(*(one(i) for i in range(count))))


@dataclass
class LoadResult:
    sent: int
    ok: int
    errors: dict[int, int]
    wall_s: float
    latencies_ms: list[float]
    client_cpu_s: float
    server_cpu_s: float
    lag_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.wall_s

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        lag = sorted(self.lag_ms)
        return {
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "wall_s": round(self.wall_s, 2),
            "milestones_per_s": round(self.rate, 1),
            "p50_ms": round(percentile(lat, 50), 2),
            "p95_ms": round(percentile(lat, 95), 2),
            "p99_ms": round(percentile(lat, 99), 2),
            "max_ms": round(lat[-1], 2) if lat else None,
            "client_cpu_share": round(self.client_cpu_s / self.wall_s, 3),
            "server_cpu_share": round(self.server_cpu_s / self.wall_s, 3),
            "client_send_lag_p99_ms": round(percentile(lag, 99), 2) if lag else None,
        }


async def fixed_load(
    server: Server, token: str, ids: list[str], rate: float, duration: float
) -> LoadResult:
    """Open loop: send at planned times; latency from the planned time."""
    rng = random.Random(1)
    total = int(rate * duration)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    lags: list[float] = []
    statuses: Counter[int] = Counter()
    client = KeepAliveClient(server.base_url, token, 256)
    requests = milestone_requests(client, ids)
    try:
        await warm_up(client, ids)

        async def one(pid: str, planned: float) -> None:
            lags.append((loop.time() - planned) * 1000)
            statuses[await client.send(requests[pid])] += 1
            latencies.append((loop.time() - planned) * 1000)

        cpu, server_cpu = time.process_time(), server.cpu_seconds()
        start = loop.time() + 0.05
        tasks = []
        for i in range(total):
            planned = start + i / rate
            delay = planned - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(rng.choice(ids), planned)))
        await asyncio.gather(*tasks)
        wall = loop.time() - start
        cpu, server_cpu = time.process_time() - cpu, server.cpu_seconds() - server_cpu
    finally:
        await client.close()
    ok = statuses.pop(201, 0)
    return LoadResult(total, ok, dict(statuses), wall, latencies, cpu, server_cpu, lags)


async def saturate(
    server: Server,
    token: str,
    ids: list[str],
    clients: int,
    duration: float,
    *,
    build: Callable[[KeepAliveClient, list[str]], dict[str, bytes]] | None = None,
    ok_status: int = 201,
) -> LoadResult:
    """Closed loop: ``clients`` keep-alive clients, each sending as fast as answered.

    By default each sends milestones; ``build`` makes other pre-encoded requests
    (one per participant id), answered with ``ok_status``.
    """
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    client = KeepAliveClient(server.base_url, token, clients)
    requests = (build or milestone_requests)(client, ids)
    try:
        await warm_up(client, ids)
        cpu, server_cpu = time.process_time(), server.cpu_seconds()
        start = loop.time()
        end = start + duration

        async def worker(k: int) -> None:
            rng = random.Random(k)
            while loop.time() < end:
                sent = loop.time()
                statuses[await client.send(requests[rng.choice(ids)])] += 1
                latencies.append((loop.time() - sent) * 1000)

        await asyncio.gather(*(worker(k) for k in range(clients)))
        wall = loop.time() - start
        cpu, server_cpu = time.process_time() - cpu, server.cpu_seconds() - server_cpu
    finally:
        await client.close()
    ok = statuses.pop(ok_status, 0)
    sent = ok + sum(statuses.values())
    return LoadResult(sent, ok, dict(statuses), wall, latencies, cpu, server_cpu)


def milestone_requests(client: KeepAliveClient, ids: list[str]) -> dict[str, bytes]:
    """One pre-encoded milestone POST per participant: the client only sends bytes."""
    body = json.dumps(MILESTONE).encode()
    return {pid: client.post_bytes(f"/participants/{pid}/milestones", body) for pid in ids}


async def warm_up(client: KeepAliveClient, ids: list[str]) -> None:
    """Open connections and load code paths before the clock starts."""
    await asyncio.gather(
        *(client.send(client.get_bytes(f"/participants/{pid}")) for pid in ids[:16])
    )


# ---------------------------------------------------------------- (c) library


class Tally(Aggregate):
    """The trivial aggregate of the library baseline."""

    def __init__(self) -> None:
        self.count = 0

    @event("Counted")
    def count_one(self) -> None:
        self.count += 1


class LibraryBaseline(Application[UUID]):
    name = "BenchBaseline"  # its own table: benchbaseline_events


def library_save_rate(database: BenchDatabase, threads: int, duration: float) -> dict[str, Any]:
    """The library's Application.save, one event per save, ``threads`` writers."""
    env = Database(database.url, database.embedded).eventsourcing_env()
    env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
    app = LibraryBaseline(env=env)
    counts = [0] * threads
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()

    def writer(k: int) -> None:
        tally = Tally()
        app.save(tally)
        barrier.wait()
        while not stop.is_set():
            tally.count_one()
            app.save(tally)
            counts[k] += 1

    workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(duration)
    stop.set()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    app.close()
    return {
        "threads": threads,
        "events": sum(counts),
        "wall_s": wall,
        "events_per_s": round(sum(counts) / wall, 1),
    }


def settle(url: str, timeout: float = 60.0) -> None:
    """Start (b) and (c) alike: nothing left over from the phase before.

    Waits until every active read model has reached the head of the log and no
    autovacuum worker runs, then writes a checkpoint: otherwise whichever phase
    comes second pays for the first one's projection, vacuum and dirty pages.
    """
    behind = (
        f"SELECT (SELECT coalesce(max(notification_id), 0) FROM {EVENTS})"
        f" - (SELECT coalesce(min(position), 0) FROM {TRACKING} WHERE status = 'active')"
        " + (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')"
    )
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(behind).fetchone()
            if row is None or row[0] <= 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        conn.execute("CHECKPOINT")


def merged(results: list[LoadResult]) -> LoadResult:
    """The rounds of (b) as one load: rates over the summed time."""
    errors: Counter[int] = Counter()
    for r in results:
        errors.update(r.errors)
    return LoadResult(
        sum(r.sent for r in results),
        sum(r.ok for r in results),
        dict(errors),
        sum(r.wall_s for r in results),
        [x for r in results for x in r.latencies_ms],
        sum(r.client_cpu_s for r in results),
        sum(r.server_cpu_s for r in results),
    )


# ------------------------------------------------------------- (d) read path


def read_rates(
    database: BenchDatabase, keys: Secrets, ids: list[str], passes: int
) -> dict[str, Any]:
    """Load every participant through repository.get: encrypting vs. plain mapper."""
    settings = Settings(
        database_url=database.url,
        data_dir=Path(tempfile.mkdtemp(prefix="lotse-bench-read-")),
        config_dir=None,
        secret_key=keys.token_secret,
        master_key=keys.master_key,
        token_ttl_hours=1,
    )
    runtime = build_runtime(settings)
    protected = runtime.journeys
    env = Database(database.url, database.embedded).eventsourcing_env()
    env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
    plain = UndecryptingJourneys(runtime.configuration, env=env)
    participant_ids = [UUID(pid) for pid in ids]
    results: dict[str, Any] = {}
    try:
        # Alternate the two, pass by pass, so drifting load on a shared machine
        # falls on both alike.
        for label, app in (("decrypting", protected), ("plain", plain)):
            _load_all(app, participant_ids)  # unmeasured: connections, keys, code warm
            results[label] = {"events": 0, "seconds": 0.0}
        for _ in range(passes):
            for label, app in (("decrypting", protected), ("plain", plain)):
                events, seconds = _load_all(app, participant_ids)
                results[label]["events"] += events
                results[label]["seconds"] += seconds
        for figures in (results["decrypting"], results["plain"]):
            figures["events_per_s"] = round(figures["events"] / figures["seconds"], 1)
    finally:
        plain.close()
        runtime.close()
    results["decrypting_over_plain"] = round(
        results["decrypting"]["events_per_s"] / results["plain"]["events_per_s"], 3
    )
    return results


class SealedStaysSealedMapper(Mapper[UUID]):
    """The library's plain Mapper; sealed identifiers are left undecrypted (``None``).

    Only the bookkeeping the aggregate needs to load (the sealed field names read
    as absent) is added, so the difference to the encrypting mapper is the cost of
    decryption itself: the key lookup, AES-GCM and decoding the sealed JSON.
    """

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        event = super().to_domain_event(stored_event)
        state = event.__dict__
        if state.pop(SEALED, None) is not None:
            for name in state.pop(SEALED_FIELDS, []):
                state[name] = None
            changes = state.pop(SEALED_CHANGES, [])
            if changes:
                state["changes"] = {**state["changes"], **dict.fromkeys(changes)}
        return event


class UndecryptingJourneys(Journeys):
    name = "Lotse"  # the same events table: the library names tables after the app

    def construct_mapper(self) -> Mapper[UUID]:
        return SealedStaysSealedMapper(transcoder=self.construct_transcoder())


def _load_all(app: Any, participant_ids: list[UUID]) -> tuple[int, float]:
    """Load every participant once; (events replayed, seconds)."""
    events = 0
    started = time.perf_counter()
    for pid in participant_ids:
        events += app.repository.get(pid).version
    return events, time.perf_counter() - started


# ------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def report(results: dict[str, Any]) -> str:
    a, b, c, d = results["fixed"], results["saturated"], results["library"], results["read"]
    ratio = results["ratio_saturated_over_library"]
    args = results["parameters"]
    rows = [
        [
            f"(a) latency at {args['rate']:g} milestones/s offered, open loop",
            f"p50 {a['p50_ms']} / p95 {a['p95_ms']} / p99 {a['p99_ms']} ms "
            f"(max {a['max_ms']}; {a['ok']}/{a['sent']} ok)",
            f"p99 < {P99_TARGET_MS:g} ms",
            verdict(a["p99_ms"] < P99_TARGET_MS and a["ok"] == a["sent"]),
        ],
        [
            f"(b) saturated, {args['clients']} keep-alive clients",
            f"{b['milestones_per_s']} milestones/s (p50 {b['p50_ms']} / p99 {b['p99_ms']} ms)",
            "",
            "",
        ],
        [
            f"(c) library Application.save, 1 event/save, {c['threads']} threads",
            f"{c['events_per_s']} events/s",
            "",
            "",
        ],
        [
            "(b)/(c), median of the rounds",
            f"{ratio:.2f} (rounds: "
            + ", ".join(
                f"{r['saturated_per_s']:g}/{r['library_per_s']:g}" for r in results["rounds"]
            )
            + ")",
            f">= {RATIO_TARGET}",
            verdict(ratio >= RATIO_TARGET),
        ],
        [
            "(d) read via repository.get, decrypting mapper",
            f"{d['decrypting']['events_per_s']} events/s",
            "",
            "",
        ],
        [
            "(d) read via repository.get, plain Mapper",
            f"{d['plain']['events_per_s']} events/s",
            "",
            "",
        ],
        ["(d) decrypting / plain", f"{d['decrypting_over_plain']:.2f}", "(issue 3)", ""],
        [
            "client CPU (share of one core) during (a) / (b)",
            f"{a['client_cpu_share']:.2f} / {b['client_cpu_share']:.2f}"
            f" (send lag p99 in (a): {a['client_send_lag_p99_ms']} ms)",
            "well below 1",
            verdict(max(a["client_cpu_share"], b["client_cpu_share"]) < 0.8),
        ],
        [
            "server CPU, API and projector processes (share of one core) during (a) / (b)",
            f"{a['server_cpu_share']:.2f} / {b['server_cpu_share']:.2f}",
            "",
            "",
        ],
    ]
    m = results["machine"]
    load = results["load_average"]
    where = "embedded" if results["database"]["embedded"] else "server"
    facts = [
        ["nproc", m["nproc"]],
        ["CPU", m["cpu"]],
        ["Python", m["python"]],
        ["PostgreSQL", f"{results['database']['server_version']} ({where})"],
        ["load average (1 min) at start / end", f"{load['start']:.1f} / {load['end']:.1f}"],
        ["participants", args["participants"]],
        ["projector", args["projector"]],
        ["API worker processes", args.get("workers", 1)],
        ["aggregate cache", args["aggregate_cache"] or "off"],
        [
            "durations (a) / (b) / (c)",
            f"{args['fixed_s']:g} / {args['saturated_s']:g} / {args['library_s']:g} s"
            f" ((b) and (c) in {args['rounds']} rounds)",
        ],
    ]
    return (
        markdown_table(["measure", "figure", "target", "result"], rows)
        + "\n\n"
        + markdown_table(["machine", ""], facts)
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    keys = Secrets()
    token = create_token(
        keys.token_secret, Principal("bench-coach-1", Role.CASEWORKER, "caritas-ahlen"), 2
    )
    results: dict[str, Any] = {"machine": machine(), "parameters": vars(args)}
    # Other work on a shared machine moves every figure: say how busy it was.
    load_at_start = os.getloadavg()[0]
    with bench_database() as database:
        results["database"] = {
            "embedded": database.embedded,
            "server_version": database.server_version,
        }
        server_env = {"LOTSE_PROJECTOR": args.projector, "LOTSE_WORKERS": str(args.workers)}
        if args.aggregate_cache:
            server_env["AGGREGATE_CACHE_MAXSIZE"] = str(args.aggregate_cache)
        with lotse_server(database.url, keys, server_env) as server:
            print(f"preparing {args.participants} participants ...", file=sys.stderr)
            ids = asyncio.run(prepare(server, token, args.participants))
            print(f"(a) {args.rate:g}/s for {args.fixed_s:g} s ...", file=sys.stderr)
            fixed = asyncio.run(fixed_load(server, token, ids, args.rate, args.fixed_s))
            rounds: list[tuple[LoadResult, dict[str, Any]]] = []
            for r in range(1, args.rounds + 1):
                seconds = args.saturated_s / args.rounds
                print(f"(b) round {r}: {args.clients} clients, {seconds:g} s ...", file=sys.stderr)
                settle(database.url)
                b = asyncio.run(saturate(server, token, ids, args.clients, seconds))
                settle(database.url)
                seconds = args.library_s / args.rounds
                print(f"(c) round {r}: library save, {seconds:g} s ...", file=sys.stderr)
                rounds.append((b, library_save_rate(database, args.clients, seconds)))
            saturated = merged([b for b, _ in rounds])
            if fixed.errors or saturated.errors:
                # The server's log goes with its data directory: show why, first.
                lines = server.log_path.read_text(errors="replace").splitlines()
                print("server log, last lines:", *lines[-40:], sep="\n", file=sys.stderr)
        library = {
            "threads": args.clients,
            "events": sum(c["events"] for _, c in rounds),
            "events_per_s": round(
                sum(c["events"] for _, c in rounds) / sum(c["wall_s"] for _, c in rounds), 1
            ),
        }
        print("(d) read path ...", file=sys.stderr)
        read = read_rates(database, keys, ids, args.read_passes)
    results["load_average"] = {"start": load_at_start, "end": os.getloadavg()[0]}
    results["fixed"] = fixed.summary()
    results["saturated"] = saturated.summary()
    results["library"] = library
    ratios = [b.rate / c["events_per_s"] for b, c in rounds]
    results["rounds"] = [
        {"saturated_per_s": round(b.rate, 1), "library_per_s": c["events_per_s"]} for b, c in rounds
    ]
    results["ratio_saturated_over_library"] = round(statistics.median(ratios), 3)
    results["read"] = read
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="offered milestones/s in (a)")
    parser.add_argument("--fixed-s", type=float, default=20.0, help="duration of (a)")
    parser.add_argument("--clients", type=int, default=16, help="clients in (b), threads in (c)")
    parser.add_argument(
        "--workers", type=int, default=2, help="API worker processes (lotse serve --workers)"
    )
    parser.add_argument("--saturated-s", type=float, default=15.0, help="duration of (b)")
    parser.add_argument("--library-s", type=float, default=15.0, help="duration of (c)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="(b) and (c) alternate in this many rounds"
    )
    parser.add_argument(
        "--read-passes", type=int, default=3, help="passes over all participants in (d)"
    )
    parser.add_argument(
        "--projector",
        choices=["in-process", "external"],
        default="in-process",
        help="in-process: the projection runner inside lotse serve (its default); "
        "external: the write path alone, as the API runs beside a projector service",
    )
    parser.add_argument(
        "--aggregate-cache",
        type=int,
        default=0,
        help="AGGREGATE_CACHE_MAXSIZE for the server (0: the library's default, no cache)",
    )
    args = parser.parse_args(argv)
    results = run(args)
    table = report(results)
    results["table"] = table
    path = write_results("write_api", results)
    print(table)
    print(f"\nJSON: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
