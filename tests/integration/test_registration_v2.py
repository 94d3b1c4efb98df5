"""Registrations stored before ``residence_valid_until`` (class version 1) still load.

Version 2 of ``Registered`` records the expiry of the residence status at intake.
Here a registration is stored in the shape of version 1 (no such field, no version
marker) by the real write path; a process of today's code must load it, project
it and count it like a registration without an expiry.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import asyncpg
import psycopg
import pytest

from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.domain.participant import Participant
from lotse.storage.keys import MasterKey
from tests.builders.projections import catch_up
from tests.builders.reports import Script


@pytest.fixture
def stored_v1(runtime: Runtime) -> UUID:
    mapper = runtime.journeys.mapper
    to_stored = mapper.to_stored_event

    def as_version_1(event: Any) -> Any:
        if isinstance(event, Participant.Registered):
            event = copy.copy(event)
            object.__delattr__(event, "residence_valid_until")
        return to_stored(event)

    s = Script(runtime)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Participant.Registered, "class_version", 1)
        patch.setattr(mapper, "to_stored_event", as_version_1)
        p = s.person("caritas-ahlen", "2021-01-10", "female", 19, "SY", "duldung")
        runtime.journeys.save(p)
    return p.id


@pytest.fixture
def reader(settings: Settings, stored_v1: UUID) -> Iterator[Runtime]:
    rt = build_runtime(settings)
    yield rt
    rt.close()


def stored_registration(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT convert_from(state, 'UTF8') FROM lotse_events WHERE topic LIKE '%Registered'"
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_a_version_1_registration_loads_without_an_expiry(reader: Runtime, stored_v1: UUID) -> None:
    stored = stored_registration(reader.database.url)

    p = reader.journeys._load(stored_v1)

    assert "residence_valid_until" not in stored
    assert "class_version" not in stored
    assert p.residence_status == "duldung"
    assert p.residence_valid_until is None


def test_a_version_1_registration_is_projected_without_a_due_expiry(
    reader: Runtime, stored_v1: UUID
) -> None:
    asyncio.run(catch_up(reader, MasterKey.from_text(reader.settings.master_key)))

    async def rows() -> tuple[Any, list[str]]:
        conn = await asyncpg.connect(reader.database.url)
        try:
            expiry = await conn.fetchval("SELECT residence_valid_until FROM rm_participants")
            kinds = await conn.fetch("SELECT kind FROM rm_worklist ORDER BY kind")
            return expiry, [r["kind"] for r in kinds]
        finally:
            await conn.close()

    expiry, kinds = asyncio.run(rows())
    assert expiry is None
    assert "residence_expiry" not in kinds
    assert kinds == ["age_limit", "consent_superseded"]


def test_a_new_registration_is_stored_as_version_2_with_its_expiry(runtime: Runtime) -> None:
    s = Script(runtime)
    p = s.person("caritas-ahlen", "2021-01-10", "female", 19, "SY", "duldung")
    runtime.journeys.save(p)

    stored = stored_registration(runtime.database.url)

    assert '"class_version": 2' in stored.replace('":2', '": 2')
    assert "residence_valid_until" in stored
