"""An outage's echo in asyncio's log: one warning line, no traceback; other errors unchanged."""

from __future__ import annotations

import asyncio
import gc
import logging

import asyncpg
import pytest

import lotse.api.readmodels  # noqa: F401  (installs the filter on the asyncio logger)


def never_retrieved(error: Exception) -> None:
    async def leave_a_future() -> None:
        future = asyncio.get_running_loop().create_future()
        future.set_exception(error)
        del future
        gc.collect()

    asyncio.run(leave_a_future())


def test_a_lost_connection_nobody_awaited_is_one_warning_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        never_retrieved(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
    [record] = [r for r in caplog.records if r.name == "asyncio"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert record.getMessage() == "database connection lost (ConnectionDoesNotExistError)"


def test_any_other_exception_nobody_awaited_keeps_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        never_retrieved(ValueError("a bug"))
    [record] = [r for r in caplog.records if r.name == "asyncio"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
