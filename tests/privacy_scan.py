"""A raw scan of every column of every table for a value stored in clear.

It reads the catalogue, not a list of known tables, so read models and any other
table added later (in any non-system schema) are covered without touching this
file. Every column is cast to text and searched case-insensitively; ``bytea``
columns (the event ``state``, wrapped keys) are also searched byte for byte and in
their escaped text form, because their ``::text`` is hex and would hide a match.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from lotse.storage.log_head import log_head_sync

#: Tables, partitioned tables and materialized views: everything that stores rows.
_STORING_KINDS = ("r", "p", "m")


@dataclass(frozen=True)
class Column:
    schema: str
    table: str
    column: str
    is_bytea: bool

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


@dataclass(frozen=True)
class ScanResult:
    scanned: list[Column]
    found_in: list[Column]

    def covers(self, table: str, column: str) -> bool:
        return any(c.table == table and c.column == column for c in self.scanned)


def storing_columns(conn: psycopg.Connection[object]) -> list[Column]:
    """Every column of every row-storing relation outside the system schemas."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname, a.attname, a.atttypid = 'bytea'::regtype"
        " FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'"
        " ORDER BY 1, 2, a.attnum",
        (list(_STORING_KINDS),),
    ).fetchall()
    return [Column(str(s), str(t), str(c), bool(b)) for s, t, c, b in rows]  # type: ignore[misc]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def scan(database_url: str, needle: str | bytes) -> ScanResult:
    """Where ``needle`` occurs in clear: text case-insensitively, bytes exactly."""
    raw = needle.encode() if isinstance(needle, str) else needle
    with psycopg.connect(database_url, autocommit=True) as conn:
        columns = storing_columns(conn)  # type: ignore[arg-type]
        found = []
        for col in columns:
            target = sql.SQL("{}.{}").format(sql.Identifier(col.schema), sql.Identifier(col.table))
            name = sql.Identifier(col.column)
            if col.is_bytea:
                condition = sql.SQL("position(%(raw)s::bytea IN {c}) > 0").format(c=name)
                if isinstance(needle, str):
                    condition = sql.SQL("{raw} OR encode({c}, 'escape') ILIKE %(pattern)s").format(
                        raw=condition, c=name
                    )
            elif isinstance(needle, str):
                condition = sql.SQL("{c}::text ILIKE %(pattern)s").format(c=name)
            else:
                # Bytes in a text column would appear as their hex form.
                condition = sql.SQL("{c}::text ILIKE %(hex)s").format(c=name)
            query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {t} WHERE {cond})").format(
                t=target, cond=condition
            )
            params = {
                "raw": raw,
                "pattern": _like_pattern(needle) if isinstance(needle, str) else "",
                "hex": _like_pattern(raw.hex()),
            }
            row = conn.execute(query, params).fetchone()
            if row and row[0]:
                found.append(col)
    return ScanResult(columns, found)


def read_models_caught_up(database_url: str, timeout: float = 20.0) -> bool | None:
    """Wait until every active read model has projected the whole event log.

    None when the database has no read models (no tracking table); False when one
    stopped on an error or did not catch up in time. A scan only proves that read
    models hold no trace once they have seen the events.
    """
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('lotse_projections') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        while True:
            head = log_head_sync(conn.cursor())
            rows = conn.execute(
                "SELECT position, error FROM lotse_projections WHERE status = 'active'"
            ).fetchall()
            if any(error for _, error in rows):
                return False
            if rows and all(position >= head for position, _ in rows):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
