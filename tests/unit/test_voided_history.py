"""Read models see the journey without its voided entries (pure folds, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from lotse.projections.corrections import substitute_corrections
from lotse.projections.module_stays import ModuleStays
from lotse.projections.participants import Participants
from lotse.projections.records import EventRecord
from lotse.projections.units import UnitsProjection
from lotse.reports.sources import NoCrypto

PID = uuid4()
REGISTERED = {
    "programme": "durchstarten",
    "provider": "caritas-ahlen",
    "municipality": "warendorf",
    "intake_date": date(2021, 3, 1),
    "gender": "female",
    "birth_year": 2001,
    "age_at_intake": 19,
    "nationality": "AF",
    "residence_status": "duldung",
}


def event(version: int, type_: str, day: int, **data: Any) -> tuple[EventRecord, dict[str, Any]]:
    record = EventRecord(
        position=version,
        participant_id=PID,
        version=version,
        type=type_,
        recorded_at=datetime(2021, 6, 1, tzinfo=UTC),
        effective_date=date(2021, 3, day),
        recorded_by="coach",
        recorded_role="caseworker",
        organisation="caritas-ahlen",
        data=data,
    )
    return record, {}


def history(*voided: int) -> list[tuple[EventRecord, dict[str, Any]]]:
    events = [
        event(1, "Registered", 1, **REGISTERED),
        event(2, "ModuleEntered", 2, module="F4"),
        event(
            3,
            "CourseAttendanceRecorded",
            3,
            module="F4",
            lesson_hours=Decimal(4),
            lesson_hours_attended=Decimal(4),
        ),
    ]
    for n, version in enumerate(voided, start=4):
        events.append(
            event(n, "EntryVoided", 20, voids_version=version, voided_type="x", reason=None)
        )
    return events


def rows(projection: Any, events: list[tuple[EventRecord, dict[str, Any]]]) -> list[Any]:
    state = projection.fold_history(PID, events)
    return [r for table in projection.rows(state, NoCrypto()).values() for r in table]


def test_a_voided_entry_is_left_out_of_the_corrected_history() -> None:
    kept = [e.version for e, _ in substitute_corrections(history(3))]

    assert kept == [1, 2, 4]


def test_voided_lesson_hours_are_not_billed() -> None:
    assert len(rows(UnitsProjection(), history())) == 1

    assert rows(UnitsProjection(), history(3)) == []


def test_a_voided_registration_leaves_no_row_in_any_read_model() -> None:
    for projection in (Participants(), ModuleStays(), UnitsProjection()):
        assert rows(projection, history(1)) == [], projection.name


def test_a_void_makes_the_read_models_refold() -> None:
    record, _ = history(3)[-1]

    assert ModuleStays().refolds_on(record)
