"""The infrastructure factory the application finds via ``PERSISTENCE_MODULE``.

It extends the library's PostgreSQL factory with the pieces that protect personal
data (the key ring and the encrypting mapper) and the recorder with our
same-transaction hooks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, OperationalError, Transcoder
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout

from lotse.storage.database import DB_STATEMENT_TIMEOUT, DB_TIMEOUT, DatabaseUnavailableError
from lotse.storage.keys import KeyRing, MasterKey, MasterKeyError
from lotse.storage.mapper import ProtectingMapper
from lotse.storage.recorder import LotseRecorder

MASTER_KEY = "LOTSE_MASTER_KEY"


class LotseDatastore(PostgresDatastore):
    """The library's datastore, failing fast when the database is unreachable.

    Two changes to ``get_connection``: a pool that yields no connection within
    its timeout raises ``DatabaseUnavailableError``, which the library's retry
    loop passes on at once; and a connection found broken makes the pool test
    its idle connections, so the retry does not walk through them one by one
    (each failure costs a 0.2 s pause) after the server went away.
    """

    @contextmanager
    def get_connection(self) -> Iterator[Connection[DictRow]]:
        broken = False
        try:
            with super().get_connection() as conn:
                try:
                    yield conn
                except BaseException:
                    broken = conn.broken
                    raise
        except OperationalError as e:
            if isinstance(e.__cause__, PoolTimeout):
                msg = "no database connection within the configured wait"
                raise DatabaseUnavailableError(msg) from e.__cause__
            if broken:
                self.pool.check()
            raise


class LotseFactory(PostgresFactory):
    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        if self.is_snapshotting_enabled():
            # Snapshots hold the aggregate's state, identifiers included, in one
            # blob the encrypting mapper cannot classify: keep them off.
            msg = "snapshots are not supported: they would store identifiers in clear"
            raise ValueError(msg)
        master_text = self.env.get(MASTER_KEY)
        if not master_text:
            msg = f"{MASTER_KEY} is not set: identifiers cannot be encrypted"
            raise MasterKeyError(msg)
        self._bound_waits()
        self.keys = KeyRing(self.datastore, MasterKey.from_text(master_text), self.datastore.schema)
        self._recorder: LotseRecorder | None = None

    def _bound_waits(self) -> None:
        """Bound every wait on the database, so an outage answers fast (503), not late.

        The library passes its connect timeout to the pool as the longest wait for
        a free connection, but gives libpq none for connecting itself, and no
        statement a limit.
        """
        # The library builds its own datastore; only its connection handling
        # differs, and the pool is not open yet.
        self.datastore.__class__ = LotseDatastore
        pool = self.datastore.pool
        kwargs = pool.kwargs
        assert isinstance(kwargs, dict)  # the library always passes a dict
        timeout = self.env.get(DB_TIMEOUT)
        if timeout:
            pool.timeout = float(timeout)
            # libpq takes whole seconds and treats less than 2 as 2.
            kwargs["connect_timeout"] = max(2, math.ceil(float(timeout)))
        statement_timeout = self.env.get(DB_STATEMENT_TIMEOUT)
        if statement_timeout:
            milliseconds = round(float(statement_timeout) * 1000)
            kwargs["options"] = f"-c statement_timeout={milliseconds}"

    def mapper(
        self, transcoder: Transcoder | None = None, mapper_class: type[Mapper[Any]] | None = None
    ) -> Mapper[Any]:
        return ProtectingMapper(
            transcoder=transcoder or self.transcoder(),
            keys=self.keys,
            cipher=self.cipher(),
            compressor=self.compressor(),
        )

    def application_recorder(self) -> ApplicationRecorder:
        if self._recorder is None:
            prefix = self.env.name.lower() or "stored"
            recorder = LotseRecorder(self.datastore, events_table_name=prefix + "_events")
            recorder.attach_keys(self.keys)
            if self.env_create_table():
                recorder.create_table()
            self._recorder = recorder
        return self._recorder
