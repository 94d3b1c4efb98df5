"""The read side as the API sees it: an asyncpg pool, read-your-writes, the runner.

In the embedded mode (and unless ``LOTSE_PROJECTOR=external``) the projection
runner runs inside ``lotse serve``; with ``external`` a separate ``lotse projector``
process does it (docker-compose).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import asyncpg

from projections.catalogue import PROJECTIONS
from projections.runner import Runner
from projections.schema import TRACKING, ensure_projections
from storage.keys import MasterKey

log = logging.getLogger(__name__)


class ReadModels:
    def __init__(self, pool: asyncpg.Pool, master: MasterKey):
        self.pool = pool
        self.master = master
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, master: MasterKey, *, max_size: int = 10) -> ReadModels:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size)
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
        head: int = await self.pool.fetchval(
            "SELECT coalesce(max(notification_id), 0) FROM lotse_events"
        )
        return head

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        result: list[asyncpg.Record] = await self.pool.fetch(query, *args)
        return result


def runs_projector_in_process() -> bool:
    return os.environ.get("LOTSE_PROJECTOR", "in-process") != "external"
