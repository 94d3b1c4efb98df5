"""Benchmark (issue 13): the web pages against the JSON API doing the same query.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/pages.py
    .venv/bin/python bench/pages.py --in-scope 200 --events 60 --runs 20   # a quick run

1. Seeds ``api.demo``'s journeys (the generator behind ``lotse demo``; providers
   chosen at random) until ``--in-scope`` participants (default 2,000) belong to
   the case worker's provider (caritas-ahlen; about five times as many elsewhere,
   which the scope must filter out), and one participant there with ``--events``
   events (default 300: registration, eligibility, consent, module entry and
   coaching contacts), all through the ``Participant`` aggregate; catches the
   projections up with the runner.
2. Serves the real application in this process (``create_app``, its lifespan run)
   and times each request on the server side: from the moment the ASGI app is
   called to the last byte of the body it sends (the client is ``httpx`` over the
   ASGI transport, so no socket or HTTP parsing is counted on either side).
3. Measures, interleaved in the same run, with the case worker's session cookie for
   the pages and a bearer token for the API:
   - Meine Teilnehmenden (``GET /teilnehmende``) against ``GET /participants``;
   - a participant's page (``GET /teilnehmende/{id}``) against ``GET
     /participants/{id}`` + ``GET /participants/{id}/timeline``, the two routes a
     program needs for what the page shows (their times added per round);
   prints p50/p95 and the ratios pages / API. Target: p95 < 150 ms for each page.

``--database URL`` keeps a database: seeded on the first run (its secrets kept in
``bench/results/``), measured as it is on later runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bench.common import (
    RESULTS,
    Secrets,
    bench_database,
    bench_runtime,
    machine,
    markdown_table,
    percentile,
    write_results,
)
from lotse.api.app import create_app
from lotse.api.demo import generate_journey
from lotse.api.runtime import Runtime
from lotse.api.sessions import cookie_name
from lotse.api.tokens import create_token
from lotse.domain.access import Principal, Role
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.runner import Runner
from lotse.storage.keys import MasterKey

PROVIDER = "caritas-ahlen"
COACH = Principal("coach-caritas-ahlen-1", Role.CASEWORKER, PROVIDER)
#: The participant with the long timeline: the same id in every run.
LONG = uuid5(NAMESPACE_URL, "lotse-bench-pages-long-timeline")
TARGET_P95_MS = 150.0
#: What the pages and the API route answer (the pages' addresses from issue 13).
CASELOAD_PAGE, CASELOAD_API = "/teilnehmende", "/participants"


def participant_page(pid: UUID) -> str:
    return f"/teilnehmende/{pid}"


def participant_api(pid: UUID) -> tuple[str, str]:
    return f"/participants/{pid}", f"/participants/{pid}/timeline"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


# ------------------------------------------------------------------ seeding


def seed(runtime: Runtime, in_scope: int, events: int) -> dict[str, int]:
    journeys = runtime.journeys
    config = journeys.configuration
    programme = config.programmes["durchstarten"]
    today = journeys.clock()
    rng = random.Random(20200301)
    counted = {"in_scope": 0, "elsewhere": 0, "events": 0}
    pending: list[Participant] = []
    started = time.perf_counter()
    while counted["in_scope"] < in_scope:
        p = generate_journey(rng, config, programme, today)
        counted["in_scope" if p.provider == PROVIDER else "elsewhere"] += 1
        pending.append(p)
        if len(pending) >= 100:
            counted["events"] += sum(len(x.pending_events) for x in pending)
            journeys.save(*pending)
            pending = []
    long = long_timeline(runtime, events)
    pending.append(long)
    counted["events"] += sum(len(x.pending_events) for x in pending)
    journeys.save(*pending)
    counted["in_scope"] += 1
    log(
        f"seeded {counted['events']:,} events in {time.perf_counter() - started:.0f} s: "
        f"{counted['in_scope']:,} participants at {PROVIDER}, {counted['elsewhere']:,} elsewhere"
    )
    return counted


def long_timeline(runtime: Runtime, events: int) -> Participant:
    """A participant at the coach's provider with ``events`` events."""
    config = runtime.journeys.configuration
    programme = config.programmes["durchstarten"]
    today = runtime.journeys.clock()
    rng = random.Random(300)
    p = generate_journey(rng, config, programme, today, participant_id=LONG)
    # The generator picks the provider and maybe an exit: one in scope, still in the
    # programme, so that contacts can follow.
    while p.provider != PROVIDER or p.exit_date is not None:
        p = generate_journey(rng, config, programme, today, participant_id=LONG)
    envelope = Envelope(COACH.user, COACH.role.value, PROVIDER, "bench")
    while len(p.pending_events) < events:
        p.log_coaching_contact(
            envelope=envelope,
            today=today,
            effective_date=today,
            minutes=rng.choice([30, 45, 60]),
            mode=rng.choice(["in_person", "phone", "video"]),
            confirmed_by_participant=True,
        )
    return p


async def catch_up(url: str, master: MasterKey) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    runner = Runner(pool, master, list(PROJECTIONS.values()))
    try:
        await runner.acquire(wait=False)
        await runner.catch_up()
    finally:
        await runner.release()
        await pool.close()


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


# ------------------------------------------------------------------ timing


class ServerTime:
    """ASGI wrapper: the time from the app being called to its last body byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - started

        await self.app(scope, receive, timed_send)


Request = Callable[[], Awaitable[float]]


def timed_get(client: httpx.AsyncClient, timer: ServerTime, path: str) -> Request:
    async def get() -> float:
        answer = await client.get(path)
        if answer.status_code != 200:
            msg = f"GET {path} answered {answer.status_code}: {answer.text[:300]}"
            raise RuntimeError(msg)
        return timer.last

    return get


def summed(*requests: Request) -> Request:
    async def both() -> float:
        return sum([await r() for r in requests])

    return both


async def measure(runtime: Runtime, runs: int, warmup: int) -> dict[str, dict[str, Any]]:
    app = create_app(runtime=runtime)
    timer = ServerTime(app)
    assert runtime.sessions is not None
    session_id, _ = runtime.sessions.open(COACH.user, COACH.role.value, PROVIDER, "demo")
    token = create_token(runtime.settings.secret_key, COACH)
    transport = httpx.ASGITransport(app=timer)
    base = "http://lotse.bench"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url=base, cookies={cookie_name(runtime): session_id}
        ) as browser,
        httpx.AsyncClient(
            transport=transport, base_url=base, headers={"Authorization": f"Bearer {token}"}
        ) as program,
    ):
        record, timeline = participant_api(LONG)
        pairs: dict[str, tuple[Request, Request]] = {
            "caseload": (
                timed_get(browser, timer, CASELOAD_PAGE),
                timed_get(program, timer, CASELOAD_API),
            ),
            "participant": (
                timed_get(browser, timer, participant_page(LONG)),
                summed(timed_get(program, timer, record), timed_get(program, timer, timeline)),
            ),
        }
        times: dict[str, dict[str, list[float]]] = {k: {"page": [], "api": []} for k in pairs}
        for i in range(warmup + runs):
            for name, (page, api) in pairs.items():
                # Interleaved: page, API, page, API ..., so that both see the same
                # state of caches and machine load.
                page_s, api_s = await page(), await api()
                if i >= warmup:
                    times[name]["page"].append(page_s)
                    times[name]["api"].append(api_s)
    found: dict[str, dict[str, Any]] = {}
    for name, kinds in times.items():
        row: dict[str, Any] = {}
        for kind, values in kinds.items():
            values.sort()
            row[f"{kind}_ms"] = [v * 1000 for v in values]
            row[f"{kind}_p50"] = percentile(values, 50) * 1000
            row[f"{kind}_p95"] = percentile(values, 95) * 1000
        row["ratio_p50"] = row["page_p50"] / row["api_p50"]
        row["ratio_p95"] = row["page_p95"] / row["api_p95"]
        found[name] = row
    return found


def kept_secrets(url: str) -> tuple[Secrets, bool]:
    """The secrets of a kept database (``--database``); True when they are new."""
    store = RESULTS / "pages-secrets.json"
    known: dict[str, dict[str, str]] = json.loads(store.read_text()) if store.exists() else {}
    if url in known:
        return Secrets(**known[url]), False
    keys = Secrets()
    RESULTS.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps({**known, url: asdict(keys)}))
    store.chmod(0o600)
    return keys, True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--in-scope", type=int, default=2000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--database",
        help="a database URL to keep: seeded here if it holds no events yet, else measured as "
        "an earlier run left it; default: a fresh database, dropped",
    )
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if args.database:
            url, embedded = args.database, False
            keys, fresh = kept_secrets(url)
            must_seed = not asyncio.run(has_events(url))
            if fresh and not must_seed:
                sys.exit("--database: it holds events seeded elsewhere (their keys are unknown)")
            version = asyncio.run(server_version(url))
        else:
            db = stack.enter_context(bench_database())
            url, embedded, version = db.url, db.embedded, db.server_version
            keys, must_seed = Secrets(), True
        runtime = bench_runtime(url, keys)
        stack.callback(runtime.close)
        counted: dict[str, int] = {}
        if must_seed:
            counted = seed(runtime, args.in_scope, args.events)
            started = time.perf_counter()
            asyncio.run(catch_up(url, MasterKey.from_text(keys.master_key)))
            log(f"projections caught up in {time.perf_counter() - started:.0f} s")
            with runtime.journeys.recorder.datastore.transaction(commit=True) as curs:
                curs.execute("ANALYZE")
        load_before = load()
        found = asyncio.run(measure(runtime, args.runs, args.warmup))
        load_after = load()

    m = machine()
    results = {
        "machine": m,
        "load_average_before_after": [load_before, load_after],
        "database": {"embedded": embedded, "server_version": version},
        "seeded": counted,
        "in_scope": args.in_scope,
        "events_of_the_long_timeline": args.events,
        "runs": args.runs,
        "pages": found,
        "target_p95_ms": TARGET_P95_MS,
    }
    path = write_results("pages", results)
    where = "embedded" if embedded else "server"
    print(f"\n### Web pages against the JSON API ({where} PostgreSQL {version})")
    print(f"\n{m['cpu']}, {m['nproc']} cores, Python {m['python']}")
    print(f"load average (1 / 5 / 15 min) before the timings {load_before}, after {load_after}")
    print(
        f"{args.in_scope:,} participants in the case worker's scope (and one more: the timeline of "
        f"{args.events} events); {args.runs} runs each, server time in process\n"
    )
    names = {
        "caseload": (f"Meine Teilnehmenden `{CASELOAD_PAGE}`", f"`{CASELOAD_API}`"),
        "participant": (
            "Teilnehmende/r `/teilnehmende/{id}`",
            "`/participants/{id}` + `/timeline`",
        ),
    }
    rows = []
    for name, r in found.items():
        page, api = names[name]
        rows.append(
            [
                page,
                f"{r['page_p50']:.1f} / {r['page_p95']:.1f} ms",
                "pass" if r["page_p95"] < TARGET_P95_MS else "fail",
                api,
                f"{r['api_p50']:.1f} / {r['api_p95']:.1f} ms",
                f"{r['ratio_p50']:.2f} / {r['ratio_p95']:.2f}",
            ]
        )
    print(
        markdown_table(
            ["page", "p50 / p95", "p95 < 150 ms", "API doing the same", "p50 / p95", "pages / API"],
            rows,
        )
    )
    print(f"\nresults: {path}")
    return 0 if all(r["page_p95"] < TARGET_P95_MS for r in found.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
