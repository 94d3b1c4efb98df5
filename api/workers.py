"""API worker processes, each listening on its own socket (``SO_REUSEPORT``).

uvicorn's ``--workers`` hands one listening socket to all its processes, and an
event loop that wakes accepts every connection then pending. A burst of new
keep-alive connections (clients starting together, a reverse proxy filling its
pool) therefore lands on whichever worker woke first, and the others idle for
as long as those connections live: measured with the write benchmark's 16
clients, one of two workers served all of them and the other took no request.
With ``SO_REUSEPORT`` every worker listens on a socket of its own, bound to the
same address, and the kernel spreads new connections over them by a hash of
the connection's addresses (what nginx's ``listen ... reuseport`` does).

The supervisor here does what uvicorn's does besides: restart a worker that
died, stop all on SIGINT/SIGTERM, and give up when a worker cannot start (a bad
configuration would fail the same way on every restart). Where the platform
has no ``SO_REUSEPORT`` it returns ``False`` and the caller uses uvicorn's.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

logger = logging.getLogger("lotse.workers")

LISTEN_BACKLOG = 2048


def reuse_port_supported() -> bool:
    # Only Linux balances connections across SO_REUSEPORT sockets; the BSDs and
    # macOS accept the option but give every connection to the last socket bound.
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bound_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        if listen:
            sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def run_worker(host: str, port: int, app: str, options: dict[str, Any], ready: Any) -> None:
    """One worker process: its own socket, one uvicorn server on it.

    ``ready`` (a multiprocessing Event) is set once the app's startup, which
    opens the database, has succeeded: a worker that ends before that failed
    to start, and would fail again however often it were restarted. A worker
    whose supervisor is gone (killed without the chance to stop it) shuts down
    gracefully instead of serving on unsupervised.
    """
    import uvicorn

    supervisor = os.getppid()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                ready.set()

        async def on_tick(self, counter: int) -> bool:
            if counter % 10 == 0 and os.getppid() != supervisor:
                self.should_exit = True
            return await super().on_tick(counter)

    sock = bound_socket(host, port, listen=True)
    Server(uvicorn.Config(app, factory=True, **options)).run(sockets=[sock])


def serve(host: str, port: int, workers: int, app: str, **options: Any) -> int:
    """Run ``workers`` processes of the app factory ``app`` until told to stop.

    The parent keeps a bound socket that never listens: it holds the port
    (and resolves port 0 to one) so that every worker, and a replacement for
    one that died, binds the same port, while it receives no connection itself.
    """
    holder = bound_socket(host, port, listen=False)
    port = holder.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}

    def start() -> tuple[BaseProcess, Any]:
        ready = context.Event()
        process = context.Process(target=run_worker, args=(host, port, app, options, ready))
        process.start()
        logger.info("API worker %s started", process.pid)
        return process, ready

    running = [start() for _ in range(workers)]
    status = 0
    try:
        while not stop.wait(0.5):
            for i, (process, ready) in enumerate(running):
                if process.is_alive():
                    continue
                if not ready.is_set():
                    logger.error(
                        "API worker %s ended at start (exit code %s): stopping",
                        process.pid,
                        process.exitcode,
                    )
                    status = 1
                    stop.set()
                    break
                logger.warning(
                    "API worker %s died (exit code %s): starting another",
                    process.pid,
                    process.exitcode,
                )
                running[i] = start()
    finally:
        for process, _ in running:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)  # uvicorn's graceful shutdown
        for process, _ in running:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
        holder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
