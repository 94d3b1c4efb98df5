"""Finds earlier requests by their Idempotency-Key, for safe retries."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.postgres import PostgresDatastore

from lotse.domain.application import Recorded
from lotse.storage.recorder import LotseRecorder


class PostgresRequestLog:
    """Claims are looked up by (scope, key); the scope is ``domain.access.idempotency_scope``.

    That scope is the caller's user id, role and organisation: the same user id at
    another provider (or in another role) never finds someone else's claim.
    """

    def __init__(self, datastore: PostgresDatastore, recorder: LotseRecorder):
        self.datastore = datastore
        self.statement = (
            "SELECT r.fingerprint, r.operation, r.participant_id, r.version, e.notification_id "
            f"FROM {recorder.requests_table} r "
            f"LEFT JOIN {recorder.events_table} e "
            "ON e.originator_id = r.participant_id AND e.originator_version = r.version "
            "WHERE r.scope = %s AND r.key = %s"
        )

    def find(self, scope: str, key: str) -> tuple[str, str, Recorded] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.statement, (scope, key))
            row = curs.fetchone()
        if row is None:
            return None
        participant_id = row["participant_id"]
        if not isinstance(participant_id, UUID):
            participant_id = UUID(str(participant_id))
        result = Recorded(participant_id, row["version"], row["notification_id"] or 0)
        return row["fingerprint"], row["operation"], result
