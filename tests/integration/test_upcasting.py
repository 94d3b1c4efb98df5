"""A reshaped event reaches every reader in its new shape: one decoding path upcasts.

The scenario is the procedure the README gives for changing an event: events of
version 1 are stored; the class then moves to version 2 with an upcaster. Here
version 2 counts coaching in a unit twice as fine (an upcaster that doubles
``minutes``), so a reader that skipped the upcaster would show the old number.
The aggregate, every read model that carries the field (rebuilt, and followed
live), a report, a report's replay and an export must all show the new one; an
event stored as version 2 must not be upcast again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import orjson
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.domain.participant import Participant
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.rebuild import rebuild
from lotse.projections.records import decode
from lotse.reports.sources import replay
from lotse.storage.checkpoints import new_signing_key_text
from lotse.storage.export import Criteria, Exporter
from lotse.storage.keys import MasterKey
from lotse.storage.sealing import seal_event
from tests.builders.api import Auth
from tests.builders.audit import checkpoints
from tests.builders.projections import catch_up
from tests.builders.reports import Script

V1_MINUTES = 30
V2_MINUTES = 15


def double_minutes(state: dict[str, Any]) -> None:
    state["minutes"] = state["minutes"] * 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, audit_signing_key=new_signing_key_text())


@pytest.fixture
def stored_v1(runtime: Runtime) -> UUID:
    s = Script(runtime)
    p = s.person("caritas-ahlen", "2021-01-10", "female", 19, "SY", "duldung")
    s.enter(p, "F1", "2021-01-11")
    s.coaching(p, "2021-03-01", V1_MINUTES, True)
    runtime.journeys.save(p)
    return p.id


@pytest.fixture
def version_2(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = Participant.CoachingContactLogged
    monkeypatch.setattr(cls, "class_version", 2, raising=False)
    monkeypatch.setattr(cls, "upcast_v1_v2", staticmethod(double_minutes), raising=False)


@pytest.fixture
def reader(settings: Settings, stored_v1: UUID, version_2: None) -> Iterator[Runtime]:
    """A process started after the change: nothing decoded before it is cached."""
    rt = build_runtime(settings)
    yield rt
    rt.close()


def read_model_minutes(url: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        conn = await asyncpg.connect(url)
        try:
            return {
                "participants": await conn.fetchval("SELECT coaching_minutes FROM rm_participants"),
                "units": await conn.fetchval(
                    "SELECT minutes FROM rm_units WHERE minutes IS NOT NULL"
                ),
                "timeline": await conn.fetchval(
                    "SELECT string_agg(summary, ' | ') FROM rm_timeline"
                ),
            }
        finally:
            await conn.close()

    return asyncio.run(read())


def test_the_aggregate_sees_the_upcast_shape(reader: Runtime, stored_v1: UUID) -> None:
    p = reader.journeys._load(stored_v1)

    assert p.coaching_minutes == 2 * V1_MINUTES


def test_a_rebuild_projects_the_upcast_shape_into_every_read_model(
    reader: Runtime, stored_v1: UUID
) -> None:
    master = MasterKey.from_text(reader.settings.master_key)

    async def rebuild_all() -> None:
        pool = await asyncpg.create_pool(reader.database.url, min_size=1, max_size=4)
        try:
            await rebuild(pool, master, list(PROJECTIONS.values()), batch_size=50)
        finally:
            await pool.close()

    asyncio.run(rebuild_all())

    minutes = read_model_minutes(reader.database.url)
    assert minutes["participants"] == 2 * V1_MINUTES
    assert minutes["units"] == 2 * V1_MINUTES
    assert f"Coaching {2 * V1_MINUTES} Minuten" in minutes["timeline"]


def test_the_live_runner_projects_v1_upcast_and_v2_as_stored(
    reader: Runtime, stored_v1: UUID
) -> None:
    s = Script(reader)
    p = reader.journeys._load(stored_v1)
    s.coaching(p, "2021-03-08", V2_MINUTES, True)
    reader.journeys.save(p)  # stored as version 2: no upcast when read back
    master = MasterKey.from_text(reader.settings.master_key)
    asyncio.run(catch_up(reader, master, batch_size=1))

    assert read_model_minutes(reader.database.url)["participants"] == 2 * V1_MINUTES + V2_MINUTES
    assert reader.journeys._load(stored_v1).coaching_minutes == 2 * V1_MINUTES + V2_MINUTES


def test_a_report_and_a_replay_of_the_log_see_the_upcast_shape(
    reader: Runtime, stored_v1: UUID, auth: Auth
) -> None:
    with TestClient(create_app(runtime=reader)) as client:
        head = int(reader.journeys.recorder.max_notification_id() or 0)
        params = {"period": "2021", "min_position": head, "unsuppressed": True}
        response = client.get("/reports/financial", params=params, headers=auth("admin", "*"))

        async def replayed() -> Any:
            conn = await asyncpg.connect(reader.database.url)
            try:
                return await replay(conn, head, ["units", "participants"])
            finally:
                await conn.close()

        rows = asyncio.run(replayed())

    assert response.status_code == 200, response.text
    table = response.json()["tables"]["coaching"]
    keys = [c["key"] for c in table["columns"]]
    reported = [dict(zip(keys, row, strict=True)) for row in table["rows"]]
    assert {r["minutes"] for r in reported if r["contacts"]} == {2 * V1_MINUTES}
    assert [r["minutes"] for r in rows["units"] if r["minutes"] is not None] == [2 * V1_MINUTES]
    assert [r["coaching_minutes"] for r in rows["participants"]] == [2 * V1_MINUTES]


def test_an_export_carries_the_upcast_shape(
    reader: Runtime, stored_v1: UUID, tmp_path: Path
) -> None:
    exporter = Exporter(
        reader.journeys.recorder.datastore, reader.journeys.mapper, checkpoints(reader)
    )
    target = tmp_path / "bundle.zip"

    exporter.export(Criteria(), [stored_v1], target)

    with zipfile.ZipFile(target) as bundle:
        text = "\n".join(
            bundle.read(n).decode() for n in bundle.namelist() if n.endswith((".json", ".jsonl"))
        )
    lines = [json.loads(line) for line in text.splitlines() if '"CoachingContactLogged"' in line]
    assert lines, "the export holds the coaching contact"
    assert all(f'"minutes": {2 * V1_MINUTES}' in json.dumps(line) for line in lines)


class RenamedGivenName:
    """A stand-in event class whose version 2 renamed an identifying field."""

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["first_name"] = state.pop("given_name")


def test_the_read_side_upcasts_renamed_identifying_fields_without_opening_them() -> None:
    participant, version, key = uuid4(), 1, MasterKey.generate().secret
    plain = orjson.dumps({"fields": {"given_name": "Amina"}, "changes": {}})
    sealed = seal_event(key, participant, version, plain)
    state = orjson.dumps(
        {
            "timestamp": {"_type_": "datetime_iso", "_data_": "2021-01-10T10:00:00+00:00"},
            "effective_date": {"_type_": "date_iso", "_data_": "2021-01-10"},
            "recorded_by": "u",
            "recorded_role": "caseworker",
            "organisation": "caritas-ahlen",
            "_sealed": sealed,
            "_sealed_fields": ["given_name"],
            "_sealed_changes": [],
        }
    )

    record = decode(1, participant, version, f"{__name__}:RenamedGivenName", state)

    assert record.sealed_fields == ("first_name",)
    assert "given_name" not in record.data
    assert "first_name" not in record.data
    assert record.opened(key) == {"first_name": "Amina"}
    assert record.opened(None) == {"first_name": None}
