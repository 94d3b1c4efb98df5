"""Decoded events kept in memory: never stale, and never kept for an erased person."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.domain.access import Principal, Role
from lotse.domain.vocabulary import ErasureMode

COACH = Principal("coach", Role.CASEWORKER, "caritas-ahlen")
COORDINATOR = Principal("ki", Role.COORDINATOR, "warendorf")
DAY = date(2021, 3, 2)


@pytest.fixture
def other_process(settings: Settings, runtime: Runtime) -> Iterator[Runtime]:
    """A second runtime on the same database, as another API worker would be."""
    other = build_runtime(settings)
    yield other
    other.close()


def registered(runtime: Runtime) -> object:
    journeys = runtime.journeys
    result = journeys.register(
        COACH,
        "test",
        programme="durchstarten",
        provider="caritas-ahlen",
        intake_date=date(2021, 3, 1),
        given_name="Cache",
        family_name="Probe",
        birth_date=date(2001, 5, 17),
        gender="female",
        nationality="AF",
        residence_status="duldung",
    )
    pid = result.participant_id
    journeys.record_milestone(
        COACH, "test", pid, "EligibilityAssessed", DAY, eligible=True, target_group="duldung"
    )
    journeys.record_milestone(COACH, "test", pid, "ConsentGiven", DAY, consent_version="2020-01")
    return pid


def test_a_milestone_another_process_recorded_is_seen_by_the_next_command(
    runtime: Runtime, other_process: Runtime
) -> None:
    pid = registered(runtime)
    other_process.journeys.participant_for_reading(COACH, pid)  # its memory now holds v3

    runtime.journeys.record_milestone(COACH, "test", pid, "ModuleEntered", DAY, module="F4")
    exited = other_process.journeys.record_milestone(
        COACH, "test", pid, "ModuleExited", DAY, module="F4", reason="completed"
    )

    assert exited.version == 5
    assert other_process.journeys.participant_for_reading(COACH, pid).open_modules == {}


def test_an_erased_participant_is_not_kept_in_memory_by_any_process(
    runtime: Runtime, other_process: Runtime
) -> None:
    pid = registered(runtime)
    assert other_process.journeys.participant_for_reading(COACH, pid).given_name == "Cache"

    runtime.journeys.erase(
        COORDINATOR, "test", pid, mode=ErasureMode.SHRED, reason_code="participant_request"
    )
    seen = other_process.journeys.participant_for_reading(COORDINATOR, pid)

    assert seen.personal_data_erased
    assert seen.given_name is None
    assert pid not in other_process.journeys._decoded
    assert pid not in runtime.journeys._decoded
