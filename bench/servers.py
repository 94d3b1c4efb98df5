"""Does ``lotse serve`` run its workers as well as a maintained server would?

    DATABASE_URL=postgresql://... .venv/bin/python bench/servers.py [--rounds 3]

The same application, two worker processes, three ways of running them:

- ``lotse``: ``lotse serve --workers 2``: granian's worker management as
  ``serve_app`` configures it (respawn, a watch on the supervisor in every
  worker), in place of the supervisor of our own it replaced (issue 10 item 7);
- ``granian``: the plain ``granian --workers 2`` command line on the same app
  factory: what our configuration and per-worker start hook cost, if anything;
- ``uvicorn``: ``uvicorn --workers 2``, uvicorn's own process manager (one shared
  listening socket).

Each is loaded with the write benchmark's closed loop (16 keep-alive clients
recording milestones, connections opened together as a client pool does) and
with the same clients reading participants. The variants alternate in rounds on
one database, each round on a settled database, and the ratios to ``lotse`` are
the medians of the rounds' ratios (the machines drift by tens of percent within
minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Secrets,
    bench_database,
    lotse_server,
    machine,
    markdown_table,
    percentile,
    write_results,
)
from bench.http_client import KeepAliveClient  # noqa: E402
from bench.write_api import LoadResult, prepare, saturate, settle  # noqa: E402
from lotse.api.tokens import create_token  # noqa: E402
from lotse.domain.access import Principal, Role  # noqa: E402

WORKERS = 2
VARIANTS: dict[str, tuple[str, ...]] = {
    "lotse": (sys.executable, "-m", "lotse.api.cli", "serve", "--workers", str(WORKERS)),
    "uvicorn": (
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "lotse.api.app:create_app",
        "--workers",
        str(WORKERS),
        "--log-level",
        "warning",
        "--no-access-log",
    ),
    "granian": (
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--workers",
        str(WORKERS),
        "--log-level",
        "warning",
        "--no-access-log",
        "lotse.api.app:create_app",
    ),
}


def available() -> list[str]:
    names = ["lotse", "granian"]
    if importlib.util.find_spec("uvicorn") is not None:
        names.append("uvicorn")
    else:
        print("uvicorn is not installed: its variant is skipped", file=sys.stderr)
    return names


def read_requests(client: KeepAliveClient, ids: list[str]) -> dict[str, bytes]:
    """GET /participants/{id}: the read path through the same workers."""
    return {pid: client.get_bytes(f"/participants/{pid}") for pid in ids}


@contextlib.contextmanager
def projector(database_url: str, keys: Secrets) -> Iterator[None]:
    """One ``lotse projector`` for every variant: the servers run none of their own."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_SECRET_KEY": keys.token_secret,
        "LOTSE_MASTER_KEY": keys.master_key,
        "LOTSE_AUDIT_SIGNING_KEY": keys.audit_signing_key,
        "LOTSE_DATA_DIR": tempfile.mkdtemp(prefix="lotse-bench-projector-"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "lotse.api.cli", "projector"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def summary(result: LoadResult) -> dict[str, Any]:
    ordered = sorted(result.latencies_ms)
    return {
        "per_s": result.rate,
        "p50_ms": percentile(ordered, 50),
        "p99_ms": percentile(ordered, 99),
        "errors": result.sent - result.ok,
        "server_cpu_per_request_ms": 1000 * result.server_cpu_s / max(result.ok, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    keys = Secrets()
    token = create_token(
        keys.token_secret, Principal("bench-coach-1", Role.CASEWORKER, "caritas-ahlen"), 2
    )
    names = available()
    rounds: list[dict[str, dict[str, dict[str, Any]]]] = []
    env = {"LOTSE_PROJECTOR": "external", "LOTSE_WORKERS": str(WORKERS)}
    with bench_database() as database, projector(database.url, keys):
        with lotse_server(database.url, keys, env) as server:
            ids = asyncio.run(prepare(server, token, args.participants))
        for r in range(1, args.rounds + 1):
            order = names if r % 2 else list(reversed(names))
            this_round: dict[str, dict[str, dict[str, Any]]] = {}
            for name in order:
                settle(database.url)
                with lotse_server(database.url, keys, env, command=VARIANTS[name]) as server:
                    print(f"round {r}: {name} writes ...", file=sys.stderr)
                    writes = asyncio.run(saturate(server, token, ids, args.clients, args.seconds))
                    print(f"round {r}: {name} reads ...", file=sys.stderr)
                    reads = asyncio.run(
                        saturate(
                            server,
                            token,
                            ids,
                            args.clients,
                            args.seconds,
                            build=read_requests,
                            ok_status=200,
                        )
                    )
                this_round[name] = {"writes": summary(writes), "reads": summary(reads)}
            rounds.append(this_round)
    ratios: dict[str, dict[str, float]] = {}
    for name in names:
        ratios[name] = {
            kind: statistics.median(
                rnd[name][kind]["per_s"] / rnd["lotse"][kind]["per_s"] for rnd in rounds
            )
            for kind in ("writes", "reads")
        }
    return {"machine": machine(), "parameters": vars(args), "rounds": rounds, "ratios": ratios}


def report(results: dict[str, Any]) -> str:
    rows = []
    for r, rnd in enumerate(results["rounds"], 1):
        for name, kinds in rnd.items():
            for kind, s in kinds.items():
                rows.append(
                    [
                        r,
                        name,
                        kind,
                        f"{s['per_s']:,.0f}",
                        f"{s['p50_ms']:.1f} / {s['p99_ms']:.1f}",
                        f"{s['server_cpu_per_request_ms']:.2f}",
                        s["errors"],
                    ]
                )
    table = markdown_table(
        [
            "round",
            "server",
            "load",
            "requests/s",
            "p50 / p99 ms",
            "server CPU ms/request",
            "errors",
        ],
        rows,
    )
    ratio_rows = [
        [name, f"{r['writes']:.2f}", f"{r['reads']:.2f}"] for name, r in results["ratios"].items()
    ]
    return (
        table
        + "\n\nmedian of the rounds' ratios to lotse serve --workers 2:\n\n"
        + markdown_table(["server", "writes", "reads"], ratio_rows)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="per load, per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = run(args)
    print(report(results))
    print(f"results: {write_results('servers', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
