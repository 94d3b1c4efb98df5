"""Server-side sessions of people signed in through their organisation's OpenID provider.

The browser holds only a random session id in an HttpOnly cookie; the row holds
whom it stands for, the CSRF token its form posts must carry, and its clocks: a
session ends after ``idle`` without a request or ``absolute`` after sign-in,
whichever is first, and at sign-out. Only the SHA-256 of an id is stored, so a
copy of the table opens no session. A sign-in under way (state, nonce and PKCE
verifier of the Authorization Code flow) is a row too, taken exactly once: a
replayed callback finds nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventsourcing.postgres import PostgresDatastore

SESSIONS_TABLE = "lotse_sessions"
SIGN_INS_TABLE = "lotse_sign_ins"
#: How long a started sign-in may take at the provider.
SIGN_IN_SECONDS = 600
#: A session's last-seen time is written at most this often (not on every request).
TOUCH_SECONDS = 60


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True)
class PendingSignIn:
    issuer: str
    nonce: str
    verifier: str
    next_path: str


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    organisation: str
    issuer: str
    csrf_token: str
    started_at: datetime
    last_seen_at: datetime


class SessionStore:
    def __init__(self, datastore: PostgresDatastore, schema: str = "") -> None:
        self.datastore = datastore
        prefix = f"{schema}." if schema else ""
        self.sessions = prefix + SESSIONS_TABLE
        self.sign_ins = prefix + SIGN_INS_TABLE

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('lotse_sessions_schema'))")
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {self.sessions} ("  # type: ignore[arg-type]
                " id_hash bytea PRIMARY KEY,"
                " user_id text NOT NULL,"
                " role text NOT NULL,"
                " organisation text NOT NULL,"
                " issuer text NOT NULL,"
                " csrf_token text NOT NULL,"
                " started_at timestamptz NOT NULL DEFAULT now(),"
                " last_seen_at timestamptz NOT NULL DEFAULT now(),"
                " ended_at timestamptz)"
            )
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {self.sign_ins} ("  # type: ignore[arg-type]
                " state_hash bytea PRIMARY KEY,"
                " issuer text NOT NULL,"
                " nonce text NOT NULL,"
                " verifier text NOT NULL,"
                " next_path text NOT NULL,"
                " started_at timestamptz NOT NULL DEFAULT now())"
            )

    # ------------------------------------------------------------- sign-in

    def begin_sign_in(self, state: str, pending: PendingSignIn) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"DELETE FROM {self.sign_ins}"  # type: ignore[arg-type]
                f" WHERE started_at < now() - interval '{SIGN_IN_SECONDS} seconds'"
            )
            curs.execute(
                f"INSERT INTO {self.sign_ins}"  # type: ignore[arg-type]
                " (state_hash, issuer, nonce, verifier, next_path) VALUES (%s, %s, %s, %s, %s)",
                (digest(state), pending.issuer, pending.nonce, pending.verifier, pending.next_path),
            )

    def take_sign_in(self, state: str) -> PendingSignIn | None:
        """The sign-in this state began, once; None if unknown, taken or too old."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"DELETE FROM {self.sign_ins} WHERE state_hash = %s"  # type: ignore[arg-type]
                f" RETURNING issuer, nonce, verifier, next_path,"
                f" started_at > now() - interval '{SIGN_IN_SECONDS} seconds' AS fresh",
                (digest(state),),
            )
            row = curs.fetchone()
        if row is None or not row["fresh"]:
            return None
        return PendingSignIn(row["issuer"], row["nonce"], row["verifier"], row["next_path"])

    # ------------------------------------------------------------- sessions

    def open(self, user: str, role: str, organisation: str, issuer: str) -> tuple[str, str]:
        """A new session: (session id for the cookie, CSRF token for the pages)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {self.sessions}"  # type: ignore[arg-type]
                " (id_hash, user_id, role, organisation, issuer, csrf_token)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (digest(session_id), user, role, organisation, issuer, csrf),
            )
        return session_id, csrf

    def find(self, session_id: str, *, idle: timedelta, absolute: timedelta) -> Session | None:
        """The live session of this id, its last-seen time moved on; None if ended."""
        now = datetime.now(UTC)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "SELECT user_id, role, organisation, issuer, csrf_token, started_at,"  # type: ignore[arg-type]
                f" last_seen_at FROM {self.sessions} WHERE id_hash = %s AND ended_at IS NULL",
                (digest(session_id),),
            )
            row = curs.fetchone()
            if row is None:
                return None
            if now - row["last_seen_at"] > idle or now - row["started_at"] > absolute:
                curs.execute(
                    f"UPDATE {self.sessions} SET ended_at = now() WHERE id_hash = %s",  # type: ignore[arg-type]
                    (digest(session_id),),
                )
                return None
            if (now - row["last_seen_at"]).total_seconds() > TOUCH_SECONDS:
                curs.execute(
                    f"UPDATE {self.sessions} SET last_seen_at = now() WHERE id_hash = %s",  # type: ignore[arg-type]
                    (digest(session_id),),
                )
        return Session(
            row["user_id"],
            row["role"],
            row["organisation"],
            row["issuer"],
            row["csrf_token"],
            row["started_at"],
            row["last_seen_at"],
        )

    def end(self, session_id: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"UPDATE {self.sessions} SET ended_at = now()"  # type: ignore[arg-type]
                " WHERE id_hash = %s AND ended_at IS NULL",
                (digest(session_id),),
            )

    def end_all_of(self, user: str) -> int:
        """End every session of a user (deactivation, revocation by an administrator)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"UPDATE {self.sessions} SET ended_at = now()"  # type: ignore[arg-type]
                " WHERE user_id = %s AND ended_at IS NULL",
                (user,),
            )
            return int(curs.rowcount)
