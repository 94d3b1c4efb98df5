"""The composition root: configuration, database, application, wired once at start."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from api.settings import Settings
from domain.application import Journeys
from domain.configuration import Configuration, load_configuration
from storage.access_log import AccessLog
from storage.chain import backfill as backfill_chain
from storage.checkpoints import Checkpoints, signing_key_from_text
from storage.database import Database, connect
from storage.factory import MASTER_KEY
from storage.recorder import LotseRecorder
from storage.request_log import PostgresRequestLog

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    configuration: Configuration
    database: Database
    journeys: Journeys
    access_log: AccessLog | None = None
    checkpoints: Checkpoints | None = None
    _stop_checkpoints: threading.Event | None = None

    def close(self) -> None:
        if self._stop_checkpoints is not None:
            self._stop_checkpoints.set()
        if self.access_log is not None:
            self.access_log.close()  # writes what is queued: no read goes unlogged
        recorder = self.journeys.recorder
        if isinstance(recorder, LotseRecorder) and recorder.group_commit.batches:
            # How much group commit shared: operators size workers and pools by it.
            committed = recorder.group_commit
            log.info(
                "group commit: %d single-event saves in %d transactions (%.2f per commit)",
                committed.items,
                committed.batches,
                committed.items / committed.batches,
            )
        self.journeys.close()

    def start_checkpointing(self, minutes: int) -> None:
        """Sign a checkpoint every ``minutes`` in the background (API only)."""
        checkpoints = self.checkpoints
        assert checkpoints is not None
        stop = self._stop_checkpoints = threading.Event()

        def run() -> None:
            while not stop.wait(minutes * 60):
                try:
                    checkpoint = checkpoints.create()
                    log.info(
                        "checkpoint %d signed at position %d", checkpoint.id, checkpoint.position
                    )
                except Exception as e:
                    log.error("checkpoint failed: %s", type(e).__name__)

        threading.Thread(target=run, name="lotse-checkpoints", daemon=True).start()


def build_runtime(settings: Settings, *, serving: bool = False, **journeys_options: Any) -> Runtime:
    """Wire the runtime; ``serving`` (the API) also bounds each statement's time.

    Command-line work (a rebuild, a retention run, verifying a long log) may
    rightly run statements longer than a client would wait for an answer.
    """
    configuration = load_configuration(settings.config_dir)
    database = connect(settings.database_url, settings.data_dir)
    env = database.eventsourcing_env(
        timeout_seconds=settings.db_timeout_seconds,
        statement_timeout_seconds=settings.db_command_timeout_seconds if serving else None,
    )
    env[MASTER_KEY] = settings.master_key
    journeys = Journeys(configuration, env=env, **journeys_options)
    recorder = journeys.recorder
    assert isinstance(recorder, LotseRecorder)
    journeys.request_log = PostgresRequestLog(recorder.datastore, recorder)
    schema = recorder.datastore.schema
    signing_key = (
        signing_key_from_text(settings.audit_signing_key) if settings.audit_signing_key else None
    )
    checkpoints = Checkpoints(recorder.datastore, signing_key, schema)
    checkpoints.create_tables()
    access_log = AccessLog(recorder.datastore, schema)
    access_log.create_tables()
    # A log from before the chain is chained once; never once checkpoints exist,
    # because then a missing chain is evidence for verification to report.
    chained = 0
    if not checkpoints.exist():
        chained = backfill_chain(recorder.datastore, recorder.events_table_name, schema)
    if chained:
        log.warning("chained %d events recorded before the hash chain existed", chained)
    log.info("lotse ready (%s PostgreSQL)", "embedded" if database.embedded else "server")
    runtime = Runtime(settings, configuration, database, journeys, access_log, checkpoints)
    if settings.checkpoint_minutes:
        runtime.start_checkpointing(settings.checkpoint_minutes)
    return runtime
