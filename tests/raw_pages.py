"""Read PostgreSQL's files from disk: where does a byte string still lie?

A row that SQL no longer returns may still lie in a table file (a dead row
version, a freed but not zeroed part of a page), in an index, or in the
planner's statistics (``pg_statistic`` keeps sample values). These helpers look
at the bytes themselves: after a ``CHECKPOINT`` every changed page of shared
buffers is on disk, so the files hold what an attacker with a copy of the data
directory would read. They need the data directory on this machine (the
embedded server, or a local server run as root).
"""

from __future__ import annotations

from pathlib import Path

import psycopg


def database_directory(database_url: str) -> Path | None:
    """The current database's directory, after a CHECKPOINT; None if not readable here."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        row = conn.execute(
            "SELECT current_setting('data_directory'), oid FROM pg_database"
            " WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    directory = Path(row[0]) / "base" / str(row[1])
    try:
        next(directory.iterdir())
    except (OSError, StopIteration):
        return None
    return directory


def files_holding(directory: Path, needle: bytes) -> list[str]:
    """Names of the files under ``directory`` whose bytes contain ``needle``."""
    found = []
    for path in sorted(directory.iterdir()):
        if path.is_file() and needle in path.read_bytes():
            found.append(path.name)
    return found


def relations_of(database_url: str, file_names: list[str]) -> list[str]:
    """The relations behind file names such as ``16401``, ``16401_fsm`` or ``16401.1``."""
    named = []
    with psycopg.connect(database_url) as conn:
        for name in file_names:
            node = int(name.split("_")[0].split(".")[0])
            row = conn.execute("SELECT pg_filenode_relation(0, %s)::text", (node,)).fetchone()
            named.append(f"{name} ({row[0] if row and row[0] else 'no relation: dropped'})")
    return named
