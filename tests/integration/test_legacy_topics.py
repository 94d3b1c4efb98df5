"""A log written before the packages moved into the ``lotse`` namespace still works.

Until then the domain was the top-level package ``domain`` and every stored topic
said so (``domain.participant:Participant.Registered``, and the aggregate topic
inside each ``Created`` event). Here such a log is written by the real write path
with the topic naming of that time, then opened by a fresh process of today's code:
it must load, project (and equal a fold over the aggregates), report, verify,
export and erase exactly like a log written today.
"""

from __future__ import annotations

import asyncio
import dataclasses
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import eventsourcing.domain
import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.demo import seed
from lotse.api.demo_courses import seed_courses
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role
from lotse.domain.vocabulary import ErasureMode
from lotse.storage import mapper
from lotse.storage.checkpoints import new_signing_key_text
from lotse.storage.export import Criteria, Exporter
from lotse.storage.keys import MasterKey
from lotse.storage.upcasting import stored_topics
from tests.builders.api import Auth
from tests.builders.audit import checkpoints, verify
from tests.builders.projections import catch_up, read_models_match_aggregates, snapshot

ADMIN = Principal("admin", Role.ADMIN, ALL_ORGANISATIONS)


def topic_of_before_the_move(obj: Any) -> str:
    """``get_topic`` as it answered while the domain was the top-level ``domain``."""
    return f"{obj.__module__.removeprefix('lotse.')}:{obj.__qualname__}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, audit_signing_key=new_signing_key_text())


@pytest.fixture
def legacy_log(runtime: Runtime) -> list[UUID]:
    """Participants and courses stored through the write path with the old topics."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mapper, "get_topic", topic_of_before_the_move)
        patch.setattr(eventsourcing.domain, "get_topic", topic_of_before_the_move)
        seed(runtime.journeys, 12, batch=5)
        seed_courses(runtime.journeys)
    return sorted({UUID(str(n.originator_id)) for n in all_notifications(runtime)})


def all_notifications(runtime: Runtime) -> list[Any]:
    return list(runtime.journeys.recorder.select_notifications(1, 1_000_000))


@pytest.fixture
def reader(settings: Settings, legacy_log: list[UUID]) -> Iterator[Runtime]:
    """A process of today's code: nothing decoded before is cached."""
    rt = build_runtime(settings)
    yield rt
    rt.close()


def stored_topic_prefixes(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT split_part(topic, '.', 1) FROM lotse_events"
            " UNION SELECT DISTINCT split_part(convert_from(state, 'UTF8')::jsonb"
            " ->> 'originator_topic', '.', 1) FROM lotse_events"
            " WHERE convert_from(state, 'UTF8')::jsonb ? 'originator_topic'"
        ).fetchall()
    return {r[0] for r in rows}


def participants_of(runtime: Runtime, ids: list[UUID]) -> list[UUID]:
    return [i for i in ids if type(runtime.journeys.repository.get(i)).__name__ == "Participant"]


def test_the_log_really_holds_the_topics_of_before_the_move(
    reader: Runtime, legacy_log: list[UUID]
) -> None:
    assert stored_topic_prefixes(reader.database.url) == {"domain"}


def test_aggregates_of_old_topics_load_as_todays_classes(
    reader: Runtime, legacy_log: list[UUID]
) -> None:
    loaded = [reader.journeys.repository.get(i) for i in legacy_log]

    kinds = {type(a).__module__ + "." + type(a).__name__ for a in loaded}
    assert kinds == {"lotse.domain.participant.Participant", "lotse.domain.course.Course"}
    assert all(a.version > 1 for a in loaded)


def test_read_models_project_old_topics_like_a_fold_over_the_aggregates(
    reader: Runtime, legacy_log: list[UUID]
) -> None:
    master = MasterKey.from_text(reader.settings.master_key)

    asyncio.run(catch_up(reader, master))

    rows = asyncio.run(snapshot(reader))
    assert len(rows["rm_participants"]) == len(participants_of(reader, legacy_log))
    assert rows["rm_courses"], "courses stored under old topics are projected"
    asyncio.run(read_models_match_aggregates(reader, participants_of(reader, legacy_log)))


def test_a_report_counts_participants_of_old_topics(
    reader: Runtime, legacy_log: list[UUID], auth: Auth
) -> None:
    with TestClient(create_app(runtime=reader)) as client:
        head = int(reader.journeys.recorder.max_notification_id() or 0)
        response = client.get(
            "/reports/monitoring",
            params={"period": "2021", "min_position": head, "unsuppressed": True},
            headers=auth("admin", "*"),
        )

    assert response.status_code == 200, response.text
    merkmale = response.json()["tables"]["merkmale"]["rows"]
    assert sum(r[-1] for r in merkmale if r[3] == "insgesamt") > 0


def test_the_chain_verifies_and_an_export_names_old_topics_by_their_types(
    reader: Runtime, legacy_log: list[UUID], tmp_path: Path
) -> None:
    checkpoints(reader).create()
    participant = participants_of(reader, legacy_log)[0]
    exporter = Exporter(
        reader.journeys.recorder.datastore, reader.journeys.mapper, checkpoints(reader)
    )
    target = tmp_path / "bundle.zip"

    exporter.export(Criteria(), [participant], target)

    assert verify(reader).ok
    with zipfile.ZipFile(target) as bundle:
        text = "\n".join(
            bundle.read(n).decode() for n in bundle.namelist() if n.endswith((".json", ".jsonl"))
        )
    assert '"Registered"' in text


def test_erasing_a_participant_of_old_topics_is_recognised_by_verification(
    reader: Runtime, legacy_log: list[UUID]
) -> None:
    checkpoints(reader).create()
    participant = participants_of(reader, legacy_log)[0]

    reader.journeys.erase(ADMIN, "req", participant, mode=ErasureMode.SHRED, reason_code="other")

    report = verify(reader)
    assert report.ok, report
    erased = reader.journeys.repository.get(participant)
    assert erased.given_name is None


def test_stored_topics_name_a_class_under_both_packages() -> None:
    from lotse.domain.participant import Participant

    assert stored_topics(Participant.Registered) == [
        "lotse.domain.participant:Participant.Registered",
        "domain.participant:Participant.Registered",
    ]
