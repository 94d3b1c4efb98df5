"""The infrastructure factory the application finds via ``PERSISTENCE_MODULE``.

It extends the library's PostgreSQL factory with the pieces that protect personal
data (the key ring and the encrypting mapper) and the recorder with our
same-transaction hooks.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, Transcoder
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import Environment, EnvType

from storage.keys import KeyRing, MasterKey, MasterKeyError
from storage.mapper import ProtectingMapper
from storage.recorder import LotseRecorder

MASTER_KEY = "LOTSE_MASTER_KEY"


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
        self.keys = KeyRing(self.datastore, MasterKey.from_text(master_text), self.datastore.schema)
        self._recorder: LotseRecorder | None = None

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
