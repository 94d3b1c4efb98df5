"""Module stays as the monitoring counts them: transfers, referred providers (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from lotse.projections.module_spans import ModuleSpans
from lotse.projections.records import EventRecord

PID = uuid4()


def event(
    version: int, kind: str, day: str, organisation: str = "caritas-ahlen", **data: Any
) -> EventRecord:
    return EventRecord(
        position=version,
        participant_id=PID,
        version=version,
        type=kind,
        recorded_at=datetime(2021, 6, 1, tzinfo=UTC),
        effective_date=date.fromisoformat(day),
        recorded_by="user",
        recorded_role="caseworker",
        organisation=organisation,
        data=data,
    )


REGISTERED = event(
    1,
    "Registered",
    "2021-01-10",
    programme="durchstarten",
    provider="caritas-ahlen",
    municipality="warendorf",
    gender="female",
    age_at_intake=20,
    residence_status="duldung",
    nationality="SY",
)


def stays(*events: EventRecord) -> list[tuple[Any, ...]]:
    state = ModuleSpans().fold(PID, [(e, {}) for e in (REGISTERED, *events)])
    return [
        (
            s["municipality"],
            s["provider"],
            s["module"],
            str(s["entered"]),
            s["exited"] and str(s["exited"]),
            s["exit_reason"],
        )
        for s in state.spans
    ]


def test_a_transfer_to_another_municipality_ends_the_open_stays_there_and_continues_them() -> None:
    result = stays(
        event(2, "ModuleEntered", "2021-01-11", module="F1"),
        event(3, "ModuleEntered", "2021-01-12", module="F4"),
        event(4, "ModuleExited", "2021-02-01", module="F4", reason="completed"),
        event(
            5,
            "CaseTransferred",
            "2021-03-01",
            from_provider="caritas-ahlen",
            to_provider="caritas-koeln",
            from_municipality="warendorf",
            to_municipality="koeln",
        ),
    )

    assert result == [
        ("warendorf", "caritas-ahlen", "F1", "2021-01-11", "2021-03-01", "transferred"),
        ("warendorf", "caritas-ahlen", "F4", "2021-01-12", "2021-02-01", "completed"),
        ("koeln", "caritas-koeln", "F1", "2021-03-01", None, None),
    ]


def test_a_transfer_within_the_municipality_leaves_the_stays_as_they_are() -> None:
    result = stays(
        event(2, "ModuleEntered", "2021-01-11", module="F1"),
        event(
            3,
            "CaseTransferred",
            "2021-03-01",
            from_provider="caritas-ahlen",
            to_provider="vhs-warendorf",
            from_municipality="warendorf",
            to_municipality="warendorf",
        ),
    )

    assert result == [("warendorf", "caritas-ahlen", "F1", "2021-01-11", None, None)]


def test_a_stay_entered_by_the_referred_provider_counts_for_it() -> None:
    result = stays(
        event(
            2,
            "ReferralMade",
            "2021-01-11",
            referral_id="r1",
            provider="vhs-warendorf",
            module="F4",
            consent_version="2020-01",
        ),
        event(3, "ReferralAccepted", "2021-01-12", "vhs-warendorf", referral_id="r1"),
        event(4, "ModuleEntered", "2021-01-13", "vhs-warendorf", module="F4"),
        event(5, "ModuleEntered", "2021-01-13", module="F1"),
    )

    assert result == [
        ("warendorf", "vhs-warendorf", "F4", "2021-01-13", None, None),
        ("warendorf", "caritas-ahlen", "F1", "2021-01-13", None, None),
    ]
