"""Bulk imports: each run's progress and report, and the rows each imported participant had.

``lotse_imports`` holds one row per run (provider, who started it, state, rows
done of total, counts, the XLSX report once finished), so ``GET /imports/{id}``
can answer from any worker while the run goes on. ``lotse_import_rows`` keeps, per
provider and reference (the provider's own case number, stored as a SHA-256, not in
clear), the participant written and the fingerprints of its rows: a re-run tells
an unchanged row (skipped) from a changed one (reported, not applied). That a
participant is written only once is not decided here but by the request key
claimed in the same transaction as its events (``Journeys.import_participant``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.postgres import PostgresDatastore

IMPORTS_TABLE = "lotse_imports"
IMPORT_ROWS_TABLE = "lotse_import_rows"


def reference_hash(provider: str, reference: str) -> str:
    return hashlib.sha256(f"{provider}\x1f{reference}".encode()).hexdigest()


@dataclass(frozen=True)
class ImportRun:
    id: UUID
    provider: str
    user_id: str
    role: str
    organisation: str
    dry_run: bool
    state: str
    rows_total: int
    rows_done: int
    written: int
    skipped: int
    refused: int
    participants_written: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class Imports:
    def __init__(self, datastore: PostgresDatastore, schema: str = "") -> None:
        self.datastore = datastore
        prefix = f"{schema}." if schema else ""
        self.table = prefix + IMPORTS_TABLE
        self.rows_table = prefix + IMPORT_ROWS_TABLE

    def create_tables(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtext('lotse_imports_schema'))")
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("  # type: ignore[arg-type]
                " id uuid PRIMARY KEY,"
                " provider text NOT NULL,"
                " user_id text NOT NULL,"
                " role text NOT NULL,"
                " organisation text NOT NULL,"
                " dry_run boolean NOT NULL,"
                " state text NOT NULL,"
                " rows_total integer NOT NULL DEFAULT 0,"
                " rows_done integer NOT NULL DEFAULT 0,"
                " written integer NOT NULL DEFAULT 0,"
                " skipped integer NOT NULL DEFAULT 0,"
                " refused integer NOT NULL DEFAULT 0,"
                " participants_written integer NOT NULL DEFAULT 0,"
                " error text,"
                " report bytea,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " finished_at timestamptz)"
            )
            curs.execute(
                f"CREATE TABLE IF NOT EXISTS {self.rows_table} ("  # type: ignore[arg-type]
                " provider text NOT NULL,"
                " reference_hash text NOT NULL,"
                " participant_id uuid NOT NULL,"
                " fingerprints text[] NOT NULL,"
                " PRIMARY KEY (provider, reference_hash))"
            )

    def start(
        self, provider: str, user_id: str, role: str, organisation: str, *, dry_run: bool
    ) -> UUID:
        run_id = uuid4()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {self.table}"  # type: ignore[arg-type]
                " (id, provider, user_id, role, organisation, dry_run, state)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'queued')",
                (run_id, provider, user_id, role, organisation, dry_run),
            )
        return run_id

    def progress(self, run_id: UUID, **counts: Any) -> None:
        """Set the state and counts given (``state``, ``rows_total``, ``rows_done``, ...)."""
        names = sorted(counts)
        assignments = ", ".join(f"{n} = %s" for n in names)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"UPDATE {self.table} SET {assignments}"  # type: ignore[arg-type]
                + (", finished_at = now()" if counts.get("state") in ("done", "failed") else "")
                + " WHERE id = %s",
                (*[counts[n] for n in names], run_id),
            )

    def find(self, run_id: UUID) -> ImportRun | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT id, provider, user_id, role, organisation, dry_run, state, rows_total,"
                " rows_done, written, skipped, refused, participants_written, error,"
                f" created_at, finished_at FROM {self.table} WHERE id = %s",  # type: ignore[arg-type]
                (run_id,),
            )
            row = curs.fetchone()
        return ImportRun(**row) if row else None

    def report(self, run_id: UUID) -> bytes | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT report FROM {self.table} WHERE id = %s",  # type: ignore[arg-type]
                (run_id,),
            )
            row = curs.fetchone()
        return bytes(row["report"]) if row and row["report"] is not None else None

    def imported(self, provider: str, reference: str) -> tuple[UUID, list[str]] | None:
        """The participant written for this reference and its rows' fingerprints, if any."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT participant_id, fingerprints FROM {self.rows_table}"  # type: ignore[arg-type]
                " WHERE provider = %s AND reference_hash = %s",
                (provider, reference_hash(provider, reference)),
            )
            row = curs.fetchone()
        return (row["participant_id"], list(row["fingerprints"])) if row else None

    def remember(
        self, provider: str, reference: str, participant_id: UUID, fingerprints: list[str]
    ) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                f"INSERT INTO {self.rows_table}"  # type: ignore[arg-type]
                " (provider, reference_hash, participant_id, fingerprints)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (provider, reference_hash(provider, reference), participant_id, fingerprints),
            )
