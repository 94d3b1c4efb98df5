"""A lean HTTP/1.1 keep-alive client for load generation.

The benchmark's client shares two cores with the server under test, its projector
and PostgreSQL. httpx spent about 2.5 ms of CPU per request here, as much as the
server itself, so the load generator took the CPU it was meant to measure. This
client sends pre-encoded requests over persistent connections and reads only the
status line and ``Content-Length``: a fraction of that CPU, in the manner of
wrk-style load generators. It speaks just what the benchmark needs (JSON POST and
GET, fixed-length responses, no chunked encoding, no TLS); anything else is an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlparse


class ResponseError(Exception):
    """The server answered something this client does not speak."""


#: uvicorn closes a keep-alive connection after 5 s idle; one idle for longer than
#: this is closed here first, so no request is sent into a connection being closed.
IDLE_SECONDS = 2.0


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = 0.0

    async def request(self, raw: bytes) -> int:
        """Send one pre-encoded request; the response's status code."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, headers = head.partition(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding":
                msg = "chunked responses are not supported"
                raise ResponseError(msg)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class KeepAliveClient:
    """A pool of up to ``max_connections`` keep-alive connections to one server."""

    def __init__(self, base_url: str, token: str, max_connections: int) -> None:
        parts = urlparse(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.headers = (
            f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
        ).encode()
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(max_connections)

    def post_bytes(self, path: str, body: bytes) -> bytes:
        """The raw bytes of a JSON POST, built once and sent many times."""
        return (
            f"POST {path} HTTP/1.1\r\n".encode()
            + self.headers
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def get_bytes(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\n".encode() + self.headers + b"\r\n"

    async def send(self, raw: bytes) -> int:
        """Send on an idle connection (or a new one); -1 when the connection failed."""
        async with self.slots:
            loop = asyncio.get_running_loop()
            connection = self.idle.pop() if self.idle else None
            if connection is not None and loop.time() - connection.last_used > IDLE_SECONDS:
                connection.close()
                connection = None
            if connection is None:
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except OSError:
                    return -1
                connection = Connection(reader, writer)
            try:
                status = await connection.request(raw)
            except (OSError, asyncio.IncompleteReadError, ValueError, ResponseError):
                connection.close()
                return -1
            connection.last_used = loop.time()
            self.idle.append(connection)
            return status

    async def close(self) -> None:
        for connection in self.idle:
            connection.close()
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()
        self.idle.clear()
