"""The composition root: the write side, the read side and the commands, wired once.

``build_runtime`` wires the write side (application, courses, request and access
logs, checkpoints), ``open_read_models`` the API's read side on the same database,
``build_read_side`` what the commands without the write side use. Everything is
built from the typed settings object (``api.settings``), nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from lotse.api.authentication import Authenticator
from lotse.api.issuers import load_issuers
from lotse.api.oidc import IssuerTokens
from lotse.api.readmodels import ReadModels
from lotse.api.settings import Settings
from lotse.api.sign_in import SignIn
from lotse.domain.application import EVENT_CACHE_SIZE, Journeys
from lotse.domain.configuration import DEFAULT_CONFIG_DIR, Configuration, load_configuration
from lotse.domain.courses import Courses
from lotse.domain.directory import Directory
from lotse.reports.integrity import ChainVerifier
from lotse.storage.access_log import ACCESS_LOG_TABLE, AccessLog
from lotse.storage.calendar_feeds import CalendarFeeds
from lotse.storage.chain import CHAIN_TABLE, append_only_statements
from lotse.storage.chain import backfill as backfill_chain
from lotse.storage.checkpoints import (
    CHECKPOINTS_TABLE,
    Checkpointer,
    Checkpoints,
    SigningKeyError,
    signing_key_from_text,
)
from lotse.storage.database import Database, connect
from lotse.storage.duplicates import DuplicateTokens
from lotse.storage.factory import MASTER_KEY
from lotse.storage.imports import Imports
from lotse.storage.keys import MasterKey
from lotse.storage.recorder import LotseRecorder
from lotse.storage.request_log import PostgresRequestLog
from lotse.storage.sessions import SessionStore
from lotse.storage.token_registry import TokenRegistry

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    configuration: Configuration
    database: Database
    journeys: Journeys
    access_log: AccessLog | None = None
    checkpoints: Checkpoints | None = None
    checkpointer: Checkpointer | None = None
    tokens: TokenRegistry | None = None
    authenticator: Authenticator | None = None
    sessions: SessionStore | None = None
    sign_in: SignIn | None = None
    calendar_feeds: CalendarFeeds | None = None
    duplicates: DuplicateTokens | None = None
    imports: Imports | None = None

    @property
    def authentication(self) -> Authenticator:
        assert self.authenticator is not None
        return self.authenticator

    courses: Courses = field(init=False)
    """The courses' application service, on the participants' application and store."""

    def __post_init__(self) -> None:
        self.courses = Courses(self.journeys)

    def chain_verifier(self) -> ChainVerifier:
        """Verifies the hash chain for a report with the checkpoints' key (if it can sign)."""
        public_key = None
        if self.checkpoints is not None:
            with contextlib.suppress(SigningKeyError):
                public_key = self.checkpoints.public_key
        return ChainVerifier(self.database.url, public_key)

    def close(self) -> None:
        if self.access_log is not None:
            self.access_log.close()  # writes what is queued: no read goes unlogged
        if self.checkpointer is not None:
            self.checkpointer.stop()  # after the log's last entries: they are signed too
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

    def start_checkpointing(self, seconds: float) -> None:
        """Sign a checkpoint at most ``seconds`` after a write (one process at a time)."""
        assert self.checkpoints is not None
        self.checkpointer = Checkpointer(self.checkpoints, seconds)
        self.checkpointer.start()


@dataclass
class ReadSide:
    """What the commands without the write side use (reports, projections, tokens).

    No application, no triggers, no background signer: a report or a projection
    run must not wait for the write side's set-up, nor change the schema. Each
    part is opened when first asked for: creating a token starts no database.
    """

    settings: Settings

    @functools.cached_property
    def configuration(self) -> Configuration:
        return load_configuration(self.settings.config_dir)

    @functools.cached_property
    def database(self) -> Database:
        return connect(self.settings.database_url, self.settings.data_dir)

    @functools.cached_property
    def master_key(self) -> MasterKey:
        return MasterKey.from_text(self.settings.master_key)

    def chain_verifier(self) -> ChainVerifier:
        return chain_verifier(self.settings, self.database)


def build_read_side(settings: Settings) -> ReadSide:
    return ReadSide(settings)


def chain_verifier(settings: Settings, database: Database) -> ChainVerifier:
    """Verifies the hash chain for a report; without a signing key, checkpoints cannot count."""
    key = signing_key_from_text(settings.audit_signing_key) if settings.audit_signing_key else None
    return ChainVerifier(database.url, key.public_key() if key is not None else None)


async def open_read_models(runtime: Runtime) -> ReadModels:
    """The API's read side on the runtime's database; its projection runner if it runs here."""
    reads = await ReadModels.open(
        runtime.database.url,
        MasterKey.from_text(runtime.settings.master_key),
        timeout=runtime.settings.db_timeout_seconds,
        command_timeout=runtime.settings.db_command_timeout_seconds,
    )
    if runtime.settings.projector_in_process:
        reads.start_runner()
    return reads


def build_runtime(
    settings: Settings,
    *,
    checkpointing: bool = True,
    serving: bool = False,
    **journeys_options: Any,
) -> Runtime:
    """Wire everything.

    ``checkpointing=False`` for short commands (no background signer). ``serving``
    (the API) also bounds each statement's time: command-line work (a rebuild, a
    retention run, verifying a long log) may rightly run statements longer than a
    client would wait for an answer.
    """
    configuration = load_configuration(settings.config_dir)
    database = connect(settings.database_url, settings.data_dir)
    env = database.eventsourcing_env(
        timeout_seconds=settings.db_timeout_seconds,
        statement_timeout_seconds=settings.db_command_timeout_seconds if serving else None,
    )
    env[MASTER_KEY] = settings.master_key
    # Given explicitly: the library would otherwise take it from the process environment.
    env[EVENT_CACHE_SIZE] = str(settings.event_cache_size)
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
    journeys.access_log = access_log
    _guard_append_only(recorder, schema)
    tokens = TokenRegistry(recorder.datastore, schema)
    tokens.create_tables()
    calendar_feeds = CalendarFeeds(recorder.datastore, schema)
    calendar_feeds.create_tables()
    duplicates = DuplicateTokens(recorder.datastore, schema)
    duplicates.create_tables()
    journeys.duplicates = duplicates
    journeys.duplicate_key = settings.duplicate_hmac_key
    imports = Imports(recorder.datastore, schema)
    imports.create_tables()
    issuers = load_issuers(settings.config_dir or DEFAULT_CONFIG_DIR, configuration)
    issuer_tokens = IssuerTokens(issuers)
    directory = Directory(journeys)
    journeys.assignee_check = directory.check_assignee
    authenticator = Authenticator(settings.secret_key, tokens, issuer_tokens, directory.standing)
    sessions = SessionStore(recorder.datastore, schema)
    sessions.create_tables()
    sign_in = SignIn(
        issuer_tokens,
        settings.oidc_client_secrets,
        sessions,
        authenticator.resolve,
        lambda person: directory.note_first_sign_in(
            person.issuer, person.subject, person.display_name, person.email
        ),
    )
    # A log from before the chain is chained once; never once checkpoints exist,
    # because then a missing chain is evidence for verification to report.
    chained = 0
    if not checkpoints.exist():
        chained = backfill_chain(recorder.datastore, recorder.events_table_name, schema)
    if chained:
        log.warning("chained %d events recorded before the hash chain existed", chained)
    log.info("lotse ready (%s PostgreSQL)", "embedded" if database.embedded else "server")
    runtime = Runtime(
        settings,
        configuration,
        database,
        journeys,
        access_log,
        checkpoints,
        tokens=tokens,
        authenticator=authenticator,
        sessions=sessions,
        sign_in=sign_in,
        calendar_feeds=calendar_feeds,
        duplicates=duplicates,
        imports=imports,
    )
    if checkpointing and settings.checkpoint_seconds and signing_key is not None:
        runtime.start_checkpointing(settings.checkpoint_seconds)
    return runtime


def _guard_append_only(recorder: LotseRecorder, schema: str) -> None:
    """Install the append-only triggers (storage.chain.append_only_statements)."""
    statements = append_only_statements(
        schema,
        (recorder.events_table_name, CHAIN_TABLE, CHECKPOINTS_TABLE),
        truncate_only=(ACCESS_LOG_TABLE,),
    )
    with recorder.datastore.transaction(commit=True) as curs:
        # Processes starting together would race on CREATE OR REPLACE: one at a time.
        curs.execute("SELECT pg_advisory_xact_lock(hashtext('lotse-append-only-guard'))")
        for statement in statements:
            curs.execute(statement)  # type: ignore[arg-type]
