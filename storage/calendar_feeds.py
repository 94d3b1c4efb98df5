"""Personal calendar feeds of the due list: revocable URL tokens, stored as hashes.

A feed token is random (no name, no user id in it) and goes into the URL a
calendar program subscribes to (``/worklist.ics?token=...``), because calendar
programs send no ``Authorization`` header. Only its SHA-256 is stored, with the
user, role and organisation it was created for, so a copy of the database
subscribes to nothing. Creating a new feed revokes the user's earlier ones for that
role and organisation; revoking is one-way.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from eventsourcing.postgres import PostgresDatastore

FEEDS_TABLE = "lotse_calendar_feeds"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Feed:
    user: str
    role: str
    organisation: str


class CalendarFeeds:
    def __init__(self, datastore: PostgresDatastore, schema: str = "") -> None:
        self.datastore = datastore
        self.table = f"{schema}.{FEEDS_TABLE}" if schema else FEEDS_TABLE

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('lotse_calendar_feeds_schema'))")
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("  # type: ignore[arg-type]
                " token_hash text PRIMARY KEY,"
                " user_id text NOT NULL,"
                " role text NOT NULL,"
                " organisation text NOT NULL,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " revoked_at timestamptz)"
            )

    def create(self, user: str, role: str, organisation: str) -> str:
        """A new feed token for the caller; earlier ones of the same role end."""
        token = secrets.token_urlsafe(32)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"UPDATE {self.table} SET revoked_at = now()"  # type: ignore[arg-type]
                " WHERE user_id = %s AND role = %s AND organisation = %s AND revoked_at IS NULL",
                (user, role, organisation),
            )
            curs.execute(
                f"INSERT INTO {self.table}"  # type: ignore[arg-type]
                " (token_hash, user_id, role, organisation) VALUES (%s, %s, %s, %s)",
                (token_hash(token), user, role, organisation),
            )
        return token

    def revoke(self, user: str, role: str, organisation: str) -> int:
        """End the caller's feeds for this role; how many were active."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"UPDATE {self.table} SET revoked_at = now()"  # type: ignore[arg-type]
                " WHERE user_id = %s AND role = %s AND organisation = %s AND revoked_at IS NULL",
                (user, role, organisation),
            )
            return int(curs.rowcount)

    async def find(self, conn: object, token: str) -> Feed | None:
        """The active feed of a token (through an asyncpg connection), or None."""
        row = await conn.fetchrow(  # type: ignore[attr-defined]
            f"SELECT user_id, role, organisation FROM {self.table}"
            " WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash(token),
        )
        return Feed(row["user_id"], row["role"], row["organisation"]) if row else None
