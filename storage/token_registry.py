"""Lotse's own bearer tokens (service accounts): which were issued, which are revoked.

A token carries a ``jti``; issuing one records it here (who it names, role,
organisation, lifetime; never the token itself), and ``lotse token revoke`` marks it
revoked. Every API process keeps the set of revoked, not yet expired ids and
refreshes it at most ``refresh_seconds`` after a request, so a revocation holds on
every worker within that time (the contract says 5 s) without a database query per
request. Revocation is one-way: there is no un-revoke.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.postgres import PostgresDatastore

TOKENS_TABLE = "lotse_tokens"
#: How stale the revoked set of a process may be; the contract allows 5 s.
REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    user: str
    role: str
    organisation: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None


class TokenRegistry:
    def __init__(self, datastore: PostgresDatastore, schema: str = "") -> None:
        self.datastore = datastore
        self.table = f"{schema}.{TOKENS_TABLE}" if schema else TOKENS_TABLE
        self._revoked: frozenset[str] = frozenset()
        self._refreshed = float("-inf")
        self._lock = threading.Lock()

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('lotse_tokens_schema'))")
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("  # type: ignore[arg-type]
                " token_id text PRIMARY KEY,"
                " user_id text NOT NULL,"
                " role text NOT NULL,"
                " organisation text NOT NULL,"
                " issued_at timestamptz NOT NULL,"
                " expires_at timestamptz NOT NULL,"
                " revoked_at timestamptz,"
                " revoked_by text)"
            )
            curs.execute(
                f"CREATE INDEX IF NOT EXISTS {TOKENS_TABLE}_revoked"  # type: ignore[arg-type]
                f" ON {self.table} (expires_at) WHERE revoked_at IS NOT NULL"
            )

    def record_issued(self, token: IssuedToken) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {self.table}"  # type: ignore[arg-type]
                " (token_id, user_id, role, organisation, issued_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    token.token_id,
                    token.user,
                    token.role,
                    token.organisation,
                    token.issued_at,
                    token.expires_at,
                ),
            )

    def record_external(self, token: IssuedToken) -> None:
        """Note a provider's token (to revoke it); nothing if it is noted already."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {self.table}"  # type: ignore[arg-type]
                " (token_id, user_id, role, organisation, issued_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (token_id) DO NOTHING",
                (
                    token.token_id,
                    token.user,
                    token.role,
                    token.organisation,
                    token.issued_at,
                    token.expires_at,
                ),
            )

    def revoke(self, token_id: str, by: str) -> bool:
        """Mark the token revoked; False if no such token was issued (or already revoked)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"UPDATE {self.table} SET revoked_at = now(), revoked_by = %s"  # type: ignore[arg-type]
                " WHERE token_id = %s AND revoked_at IS NULL",
                (by, token_id),
            )
            changed = curs.rowcount == 1
        if changed:
            with self._lock:
                self._revoked = self._revoked | {token_id}
        return changed

    def issued(self, *, include_expired: bool = False) -> list[IssuedToken]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT token_id, user_id, role, organisation, issued_at, expires_at,"  # type: ignore[arg-type]
                f" revoked_at, revoked_by FROM {self.table}"
                + ("" if include_expired else " WHERE expires_at > now()")
                + " ORDER BY issued_at, token_id"
            )
            return [
                IssuedToken(
                    r["token_id"],
                    r["user_id"],
                    r["role"],
                    r["organisation"],
                    r["issued_at"],
                    r["expires_at"],
                    r["revoked_at"],
                    r["revoked_by"],
                )
                for r in curs.fetchall()
            ]

    def is_revoked(self, token_id: str, *, refresh_seconds: float = REFRESH_SECONDS) -> bool:
        """Whether the token was revoked, as of at most ``refresh_seconds`` ago."""
        now = time.monotonic()
        if now - self._refreshed > refresh_seconds:
            with self._lock:
                if now - self._refreshed > refresh_seconds:
                    self._revoked = self._load_revoked()
                    self._refreshed = time.monotonic()
        return token_id in self._revoked

    def _load_revoked(self) -> frozenset[str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT token_id FROM {self.table}"  # type: ignore[arg-type]
                " WHERE revoked_at IS NOT NULL AND expires_at > now()"
            )
            return frozenset(r["token_id"] for r in curs.fetchall())
