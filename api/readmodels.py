"""The read side as the API sees it: an asyncpg pool, read-your-writes, the runner.

In the embedded mode (and unless ``LOTSE_PROJECTOR=external``) the projection
runner runs inside ``lotse serve``; with ``external`` a separate ``lotse projector``
process does it (docker-compose).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg

from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.runner import Runner
from lotse.projections.schema import TRACKING, ensure_projections
from lotse.storage.keys import MasterKey
from lotse.storage.log_head import log_head

log = logging.getLogger(__name__)


class _TypeOnly(logging.Filter):
    """Keep a library's warning to one line: the error's type instead of its traceback.

    asyncpg's pool logs each failed attempt to restore its minimum of connections
    with the full traceback; during an outage that is one traceback per attempt.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.msg} ({type(record.exc_info[1]).__name__})"
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_TypeOnly())


class _LostConnectionOnly(logging.Filter):
    """A connection lost during an outage as one warning line, not an error traceback.

    When the database goes away in the middle of a statement, asyncpg may leave a
    future whose exception nobody awaits any more, and asyncio reports it at
    garbage collection as an error with the traceback ("Future exception was never
    retrieved"). The outage itself is already answered (503) and logged; this is
    only its echo. Any other never-retrieved exception keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, asyncpg.PostgresConnectionError):
            record.msg = f"database connection lost ({type(error).__name__})"
            record.args = ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("asyncio").addFilter(_LostConnectionOnly())


class BoundedPool(asyncpg.Pool):
    """An asyncpg pool whose ``acquire`` waits at most ``acquire_timeout`` by default.

    asyncpg's own default is to wait forever, also inside ``pool.fetch`` and the
    like, so a request could hang on a pool that a database outage left without
    connections. ``acquire_timeout=None`` keeps that default.
    """

    __slots__ = ("_acquire_timeout",)

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        self._acquire_timeout = acquire_timeout
        super().__init__(*args, **kwargs)

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


class ReadModels:
    def __init__(self, pool: asyncpg.Pool, master: MasterKey):
        self.pool = pool
        self.master = master
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        master: MasterKey,
        *,
        max_size: int = 10,
        timeout: float | None = None,
        command_timeout: float | None = None,
    ) -> ReadModels:
        """Open the pool; ``timeout`` bounds connecting and waiting for a free
        connection, ``command_timeout`` each statement (client side, so it holds
        when the server stops answering, too)."""
        pool = BoundedPool(
            url,
            min_size=1,
            max_size=max_size,
            max_queries=50000,
            max_inactive_connection_lifetime=300.0,
            loop=None,
            connection_class=asyncpg.Connection,
            record_class=asyncpg.Record,
            acquire_timeout=timeout,
            timeout=timeout if timeout is not None else 60,
            command_timeout=command_timeout,
        )
        await pool
        async with pool.acquire() as conn:
            await ensure_projections(conn, list(PROJECTIONS.values()))
        return cls(pool, master)

    def start_runner(self) -> None:
        runner = Runner(self.pool, self.master, list(PROJECTIONS.values()))
        self._task = asyncio.create_task(runner.run_forever(self._stop, idle_poll_seconds=0.5))

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, timeout=5)
        try:
            await asyncio.wait_for(self.pool.close(), timeout=5)
        except TimeoutError:
            self.pool.terminate()

    async def positions(self) -> dict[str, int]:
        rows = await self.pool.fetch(
            f"SELECT name, position FROM {TRACKING} WHERE status = 'active'"  # noqa: S608
        )
        return {r["name"]: r["position"] for r in rows}

    async def wait_for(self, names: tuple[str, ...], position: int, timeout: float = 2.0) -> bool:
        """Wait until the named read models include the write at ``position``."""
        deadline = time.monotonic() + timeout
        while True:
            positions = await self.positions()
            if all(positions.get(n, 0) >= position for n in names):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)

    async def head(self) -> int:
        return await log_head(self.pool)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        result: list[asyncpg.Record] = await self.pool.fetch(query, *args)
        return result
