"""The duplicate index: keyed pseudonyms of participants, never names (``domain.duplicates``).

One row per participant and token: ``HMAC-SHA256(server key, ...)`` bytes, the
token's kind (``d``: with the birth date; ``y``: with the birth year), whether the
participant has a birth date, and the placement needed to route a candidate pair to
the right coordinator (programme, provider, municipality). Nothing in it can be
turned back into a name without the server key, and the rows of a participant are
deleted in the same transaction that destroys the participant's data key
(``storage.recorder``), and the key scrub rewrites this table with the key table
(``storage.key_scrub``): after erasure no copy links the person to a name guess.

Matching rule: two participants are a candidate pair when they share a ``d`` token,
or a ``y`` token when one of them has no birth date and at most two participants
hold that token (a year alone is ambiguous for common names: "Mohammad Ahmadi,
2003" matches many people, and telling a case worker about all of them helps nobody).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from lotse.domain.duplicates import Candidate, TokenKind

TOKENS_TABLE = "lotse_duplicate_tokens"
#: A year token matches only when this few participants hold it (see module doc).
YEAR_HOLDERS = 2


def create_statements(schema: str) -> list[str]:
    table = f'"{schema}"."{TOKENS_TABLE}"'
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ("
        " participant_id uuid NOT NULL,"
        " token bytea NOT NULL,"
        " kind char(1) NOT NULL,"
        " dated boolean NOT NULL,"
        " programme text NOT NULL,"
        " provider text NOT NULL,"
        " municipality text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " PRIMARY KEY (participant_id, token))",
        f"CREATE INDEX IF NOT EXISTS {TOKENS_TABLE}_token ON {table} (programme, token)",
        # No sample of a token in the planner's statistics (pg_statistic outlives rows).
        f"ALTER TABLE {table} ALTER COLUMN token SET STATISTICS 0",
    ]


def delete_statement(schema: str) -> str:
    """Deletes the tokens of the participants given as ``uuid[]`` (on erasure)."""
    return f'DELETE FROM "{schema}"."{TOKENS_TABLE}" WHERE participant_id = ANY(%s::uuid[])'


# The pairs sharing a token under the matching rule, each pair once (a < b).
_PAIRS = """
SELECT a.participant_id AS a, b.participant_id AS b,
       a.provider AS provider_a, b.provider AS provider_b,
       a.municipality AS municipality_a, b.municipality AS municipality_b,
       greatest(min(a.created_at), min(b.created_at)) AS since
FROM {t} a
JOIN {t} b ON b.programme = a.programme AND b.token = a.token
          AND b.participant_id <> a.participant_id
WHERE {where}
  AND (a.kind = 'd' OR ((NOT a.dated OR NOT b.dated)
       AND (SELECT count(*) FROM {t} h WHERE h.programme = a.programme AND h.token = a.token)
           <= {holders}))
GROUP BY 1, 2, 3, 4, 5, 6
"""


@dataclass(frozen=True)
class Pair:
    """A candidate pair: two participant ids and their placement, no personal data."""

    a: UUID
    b: UUID
    provider_a: str
    provider_b: str
    municipality_a: str
    municipality_b: str
    since: datetime


class DuplicateTokens:
    """Stores tokens (``domain.duplicates.DuplicateIndex``) and lists candidate pairs."""

    def __init__(self, datastore: PostgresDatastore, schema: str) -> None:
        self.datastore = datastore
        self.schema = schema
        self.table = f'"{schema}"."{TOKENS_TABLE}"'

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('lotse_duplicate_tokens_schema'))")
            for statement in create_statements(self.schema):
                curs.execute(statement)  # type: ignore[arg-type]

    def record(
        self,
        participant_id: UUID,
        programme: str,
        provider: str,
        municipality: str,
        found: set[tuple[TokenKind, bytes]],
    ) -> list[Candidate]:
        dated = any(kind == "d" for kind, _ in found)
        rows = [
            (participant_id, token, kind, dated, programme, provider, municipality)
            for kind, token in sorted(found)
        ]
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"DELETE FROM {self.table} WHERE participant_id = %s",  # type: ignore[arg-type]
                (participant_id,),
            )
            if rows:
                curs.executemany(
                    f"INSERT INTO {self.table}"  # type: ignore[arg-type]
                    " (participant_id, token, kind, dated, programme, provider, municipality)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
            curs.execute(
                _PAIRS.format(  # type: ignore[arg-type]
                    t=self.table, where="a.participant_id = %s", holders=YEAR_HOLDERS
                ),
                (participant_id,),
            )
            found_rows = curs.fetchall()
        return [
            Candidate(r["b"], r["provider_b"], r["municipality_b"])
            for r in found_rows  # type: ignore[call-overload]
        ]

    def pairs(self, programme: str | None = None) -> list[Pair]:
        """Every candidate pair (of a programme), oldest first."""
        where = "a.participant_id < b.participant_id"
        args: tuple[str, ...] = ()
        if programme is not None:
            where += " AND a.programme = %s"
            args = (programme,)
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                _PAIRS.format(t=self.table, where=where, holders=YEAR_HOLDERS)  # type: ignore[arg-type]
                + " ORDER BY since, a, b",
                args,
            )
            found = curs.fetchall()
        return [
            Pair(
                r["a"],  # type: ignore[call-overload]
                r["b"],  # type: ignore[call-overload]
                r["provider_a"],  # type: ignore[call-overload]
                r["provider_b"],  # type: ignore[call-overload]
                r["municipality_a"],  # type: ignore[call-overload]
                r["municipality_b"],  # type: ignore[call-overload]
                r["since"],  # type: ignore[call-overload]
            )
            for r in found
        ]

    def paired(self, a: UUID, b: UUID) -> bool:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                _PAIRS.format(  # type: ignore[arg-type]
                    t=self.table,
                    where="a.participant_id = %s AND b.participant_id = %s",
                    holders=YEAR_HOLDERS,
                ),
                (a, b),
            )
            return curs.fetchone() is not None

    def holds(self, participant_id: UUID) -> int:
        """How many tokens a participant has (0 after erasure)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT count(*) AS n FROM {self.table} WHERE participant_id = %s",  # type: ignore[arg-type]
                (participant_id,),
            )
            row = curs.fetchone()
        return int(row["n"]) if row else 0  # type: ignore[call-overload]
