"""What a provider's RS256 token costs a request, against Lotse's own HS256 token.

    .venv/bin/python bench/token_validation.py                 # embedded PostgreSQL
    DATABASE_URL=postgresql://... .venv/bin/python bench/token_validation.py

One ``lotse serve`` trusts a real OpenID provider (``tests.builders.openid_provider``, the
sign-on tests' ``oidc-provider`` on loopback); a person signs in there and gets an
RS256 access token. The same number of keep-alive clients then read random
participants (``GET /participants/{id}``) alternately with that token and with an
HS256 token of ``lotse token create`` for the same role and organisation, in
rounds, so machine drift hits both alike. Printed: reads/s of each round and the
median ratio (RS256 / HS256); the issue's target is at least 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.access_log import register
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
from lotse.domain.configuration import DEFAULT_CONFIG_DIR
from tests.builders.openid_provider import OpenIDProvider, issuers_toml

ACCOUNTS = {"anna": {"name": "Anna Coach", "email": "anna@example.org", "groups": ["coaches"]}}


async def load(server: Server, token: str, ids: list[str], clients: int, seconds: float) -> float:
    """Closed loop: ``clients`` keep-alive connections reading for ``seconds``; reads/s."""
    client = KeepAliveClient(server.base_url, token, clients)
    requests = [client.get_bytes(f"/participants/{pid}") for pid in ids]
    ok = failed = 0
    deadline = time.monotonic() + seconds

    async def reader(seed: int) -> None:
        nonlocal ok, failed
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            if await client.send(rng.choice(requests)) == 200:
                ok += 1
            else:
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(reader(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    await client.close()
    if failed:
        msg = f"{failed} read(s) failed: the token was not accepted"
        raise RuntimeError(msg)
    return ok / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="total load time")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two tokens")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--participants", type=int, default=200)
    args = parser.parse_args()

    keys = Secrets()
    workdir = Path(tempfile.mkdtemp(prefix="lotse-bench-op-"))
    provider = OpenIDProvider(workdir, ACCOUNTS)
    provider.start()
    config = workdir / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    (config / "issuers.toml").write_text(
        issuers_toml(provider, {"coaches": ("caseworker", "caritas-ahlen")})
    )
    hs256 = create_token(
        keys.token_secret, Principal("bench-reader", Role.CASEWORKER, "caritas-ahlen"), 2
    )
    per_run = args.seconds / (2 * args.rounds)
    env = {"LOTSE_PROJECTOR": "external", "LOTSE_CONFIG": str(config)}
    try:
        with bench_database() as db, lotse_server(db.url, keys, env) as server:
            rs256 = provider.sign_in("anna")["access_token"]
            ids = register(server.base_url, hs256, args.participants)
            for token in (rs256, hs256):  # warm: pools, caches, the provider's keys
                asyncio.run(load(server, token, ids, args.clients, 1.0))
            rounds: list[dict[str, float]] = []
            for _ in range(args.rounds):
                figures = {
                    f"{name}_per_s": round(
                        asyncio.run(load(server, token, ids, args.clients, per_run)), 1
                    )
                    for name, token in (("rs256", rs256), ("hs256", hs256))
                }
                figures["ratio"] = round(figures["rs256_per_s"] / figures["hs256_per_s"], 3)
                rounds.append(figures)
    finally:
        provider.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        markdown_table(
            ["round", "provider RS256 reads/s", "Lotse HS256 reads/s", "ratio"],
            [(i + 1, r["rs256_per_s"], r["hs256_per_s"], r["ratio"]) for i, r in enumerate(rounds)],
        )
    )
    ratio = statistics.median(r["ratio"] for r in rounds)
    print(f"median ratio (RS256 / HS256): {ratio:.3f}  (target >= 0.9; {db.server_version})")
    results: dict[str, Any] = {
        "benchmark": "token_validation",
        "database": "embedded" if db.embedded else "server",
        "server_version": db.server_version,
        "clients": args.clients,
        "rounds": rounds,
        "median_ratio": ratio,
        "machine": machine(),
    }
    print(f"results: {write_results('token_validation', results)}")
    print(json.dumps({"median_ratio": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
