"""What the durable read-access log costs a read: GET /participants/{id}, with and without it.

    .venv/bin/python bench/access_log.py                 # embedded PostgreSQL
    DATABASE_URL=postgresql://... .venv/bin/python bench/access_log.py

Two ``lotse serve`` processes on one database: the product as shipped (every read
waits for its log entry's commit) and the same app with the access log switched
off (possible only here, by building the runtime without it). Both are loaded
alternately in rounds by the same number of keep-alive clients reading random
participants, so machine drift hits both alike; reads/s of each round, the median
ratio (with / without) and the server CPU per read are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    Secrets,
    Server,
    bench_database,
    lotse_server,
    machine,
    markdown_table,
    write_results,
)
from bench.http_client import KeepAliveClient
from lotse.api.tokens import create_token
from lotse.domain.access import Principal, Role


def serve_without_log(host: str, port: int) -> int:
    """``lotse serve``, but the runtime has no access log: the baseline, never a product mode."""
    import uvicorn

    from lotse.api.app import create_app
    from lotse.api.cli import configure_logging
    from lotse.api.runtime import build_runtime
    from lotse.api.settings import load_settings

    configure_logging()
    settings = load_settings()
    runtime = build_runtime(settings)
    assert runtime.access_log is not None
    runtime.access_log.close()
    runtime.access_log = None
    try:
        uvicorn.run(create_app(settings, runtime), host=host, port=port, access_log=False)
    finally:
        runtime.close()
    return 0


def register(base_url: str, token: str, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(count):
            response = http.post(
                "/participants",
                json={
                    "programme": "durchstarten",
                    "provider": "caritas-ahlen",
                    "intake_date": "2021-03-01",
                    "given_name": f"Bench{i}",
                    "family_name": "Reader",
                    "birth_date": "2001-05-17",
                    "gender": "female",
                    "nationality": "AF",
                    "residence_status": "duldung",
                },
            )
            response.raise_for_status()
            ids.append(str(response.json()["id"]))
    return ids


async def load(server: Server, token: str, ids: list[str], clients: int, seconds: float) -> float:
    """Closed loop: ``clients`` keep-alive connections reading for ``seconds``; reads/s."""
    client = KeepAliveClient(server.base_url, token, clients)
    requests = [client.get_bytes(f"/participants/{pid}") for pid in ids]
    ok = 0
    failed = 0
    deadline = time.monotonic() + seconds

    async def reader(seed: int) -> None:
        nonlocal ok, failed
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            status = await client.send(rng.choice(requests))
            if status == 200:
                ok += 1
            else:
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(reader(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    await client.close()
    if failed:
        print(f"  {failed} read(s) failed", file=sys.stderr)
    return ok / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-without-log", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=20.0, help="total load time")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two servers")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--participants", type=int, default=200)
    args = parser.parse_args()
    if args.serve_without_log:
        return serve_without_log(args.host, args.port)

    keys = Secrets()
    token = create_token(
        keys.token_secret, Principal("bench-reader", Role.CASEWORKER, "caritas-ahlen"), 2
    )
    per_run = args.seconds / (2 * args.rounds)
    external = {"LOTSE_PROJECTOR": "external"}  # reads of the write side only
    without_command = (sys.executable, str(Path(__file__).resolve()), "--serve-without-log")
    with (
        bench_database() as db,
        lotse_server(db.url, keys, external) as durable,
        lotse_server(db.url, keys, external, command=without_command) as unlogged,
    ):
        ids = register(durable.base_url, token, args.participants)
        # Warm both (connection pools, caches) before measuring.
        asyncio.run(load(durable, token, ids, args.clients, 1.0))
        asyncio.run(load(unlogged, token, ids, args.clients, 1.0))
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds):
            figures: dict[str, float] = {}
            for name, server in (("with_log", durable), ("without_log", unlogged)):
                cpu = server.cpu_seconds()
                started = time.monotonic()
                rate = asyncio.run(load(server, token, ids, args.clients, per_run))
                reads = rate * (time.monotonic() - started)
                figures[f"{name}_per_s"] = round(rate, 1)
                figures[f"{name}_server_cpu_ms_per_read"] = round(
                    1000 * (server.cpu_seconds() - cpu) / max(reads, 1), 3
                )
            figures["ratio"] = round(figures["with_log_per_s"] / figures["without_log_per_s"], 3)
            rounds.append(figures)
        print(
            markdown_table(
                [
                    "round",
                    "with log reads/s",
                    "without log reads/s",
                    "ratio",
                    "server CPU ms/read with / without",
                ],
                [
                    (
                        i + 1,
                        r["with_log_per_s"],
                        r["without_log_per_s"],
                        r["ratio"],
                        f"{r['with_log_server_cpu_ms_per_read']} / "
                        f"{r['without_log_server_cpu_ms_per_read']}",
                    )
                    for i, r in enumerate(rounds)
                ],
            )
        )
        ratio = statistics.median(r["ratio"] for r in rounds)
        # CPU per read drifts less than rates on a shared machine: the steadier figure.
        cpu_ratio = statistics.median(
            r["with_log_server_cpu_ms_per_read"] / r["without_log_server_cpu_ms_per_read"]
            for r in rounds
        )
        print(f"median ratio (durable log / no log): {ratio:.3f}  ({db.server_version})")
        print(f"median server CPU per read (durable log / no log): {cpu_ratio:.3f}")
        results: dict[str, Any] = {
            "benchmark": "access_log",
            "database": "embedded" if db.embedded else "server",
            "server_version": db.server_version,
            "clients": args.clients,
            "rounds": rounds,
            "median_ratio": ratio,
            "median_cpu_per_read_ratio": round(cpu_ratio, 3),
            "machine": machine(),
        }
        path = write_results("access_log", results)
        print(f"results: {path}")
        print(json.dumps({"median_ratio": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
