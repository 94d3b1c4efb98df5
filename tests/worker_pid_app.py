"""ASGI apps for the worker-supervisor tests: they answer with their process id."""

from __future__ import annotations

import os
from typing import Any


async def _pid_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: accept startup and shutdown
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = str(os.getpid()).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def create() -> Any:
    return _pid_app


def broken() -> Any:
    msg = "this configuration cannot start"
    raise RuntimeError(msg)
