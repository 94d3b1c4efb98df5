"""``lotse serve --workers N``: every worker gets connections, and the supervisor holds up.

``lotse serve`` runs its workers under granian (``serve_app`` in ``api/cli.py``),
configured to do what the supervisor of our own it replaced did; these tests hold
it to that. The apps here answer with their process id, so a test can see which
worker served it.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lotse.storage.checkpoints import new_signing_key_text
from lotse.storage.keys import MasterKey

ROOT = Path(__file__).resolve().parents[2]
# Only Linux balances connections over SO_REUSEPORT sockets (and has /proc).
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux worker sockets")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(app: str, port: int) -> subprocess.Popen[bytes]:
    """What ``lotse serve --workers 2`` runs, with one of the apps here instead of Lotse's."""
    code = (
        "import sys; from lotse.api.cli import serve_app; "
        f"sys.exit(serve_app({app!r}, '127.0.0.1', {port}, 2))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def pids_of_new_connections(port: int, count: int) -> list[int]:
    """Open ``count`` connections at once, as clients starting together do, then ask each."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(count)]
    for c in connections:
        c.connect()
    pids = []
    for c in connections:
        c.request("GET", "/")
        pids.append(int(c.getresponse().read()))
        c.close()
    return pids


def wait_until_serving(port: int, workers: int = 2) -> set[int]:
    deadline = time.monotonic() + 60
    while True:
        try:
            pids = set(pids_of_new_connections(port, 32))
            if len(pids) == workers:
                return pids
        except OSError:
            pass
        assert time.monotonic() < deadline, "the workers did not come up"
        time.sleep(0.2)


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    parent = start("tests.worker_pid_app:create", port)
    yield parent, port
    if parent.poll() is None:
        parent.kill()
        parent.wait()


def test_connections_opened_together_are_spread_over_the_workers(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    _, port = served
    wait_until_serving(port)

    pids = pids_of_new_connections(port, 32)

    assert len(set(pids)) == 2


def test_a_worker_that_dies_is_replaced_and_the_port_keeps_answering(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    parent, port = served
    first, second = sorted(wait_until_serving(port))

    os.kill(first, signal.SIGKILL)
    pids = wait_until_serving(port)

    assert parent.poll() is None
    assert second in pids
    assert first not in pids


def test_sigterm_stops_the_supervisor_and_its_workers(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    parent, port = served
    wait_until_serving(port)

    parent.send_signal(signal.SIGTERM)

    assert parent.wait(timeout=30) == 0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


def test_workers_stop_when_their_supervisor_is_killed(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    parent, port = served
    workers = wait_until_serving(port)

    parent.kill()  # SIGKILL: no chance to stop its workers
    parent.wait()

    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "orphaned workers kept running"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_that_cannot_start_stops_the_server_with_an_error() -> None:
    parent = start("tests.worker_pid_app:broken", free_port())

    assert parent.wait(timeout=60) == 1


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def test_lotse_serve_with_two_workers_answers_and_stops_all_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_SECRET_KEY": "workers-test-" + "s" * 32,
        "LOTSE_MASTER_KEY": MasterKey.generate().to_text(),
        "LOTSE_AUDIT_SIGNING_KEY": new_signing_key_text(),
        "LOTSE_DATA_DIR": str(tmp_path),
    }
    env.pop("LOTSE_PROJECTOR", None)  # the default: serve starts the projector beside
    env.pop("LOTSE_CONFIG", None)
    parent = subprocess.Popen(
        [sys.executable, "-m", "lotse.api.cli", "serve", "--workers", "2", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert parent.poll() is None, "lotse serve exited"
            assert time.monotonic() < deadline, "lotse serve did not come up"
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        children = _children(parent.pid)
        assert len(children) >= 3  # two workers and the projector

        parent.send_signal(signal.SIGTERM)

        assert parent.wait(timeout=60) == 0
        assert not any(_alive(pid) for pid in children)
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
            pass
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
