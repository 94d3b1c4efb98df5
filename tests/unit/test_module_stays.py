"""Module stays as the monitoring counts them: transfers, referred providers (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from lotse.projections.module_stays import ModuleStays
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
    intake_date=date(2021, 1, 10),
)


def stays(*events: EventRecord) -> list[tuple[Any, ...]]:
    state = ModuleStays().fold(PID, [(e, {}) for e in (REGISTERED, *events)])
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


def rows_at_entry(*events: EventRecord) -> list[tuple[Any, ...]]:
    projection = ModuleStays()
    state = projection.fold(PID, [(e, {}) for e in (REGISTERED, *events)])
    names = [c for c, _ in projection.tables[0].columns]
    return [
        tuple(
            dict(zip(names, row, strict=True))[c]
            for c in ("module", "entered", "age_band", "residence_status", "language_level")
        )
        for row in projection.rows(state, None)[projection.tables[0].name]  # type: ignore[arg-type]
    ]


def test_each_stay_carries_the_persons_state_on_its_first_day_by_effective_date() -> None:
    rows = rows_at_entry(
        event(2, "ModuleEntered", "2021-02-01", module="F1"),
        event(3, "LanguageLevelAssessed", "2021-03-01", level="A2"),
        # Recorded after the F4 entry below but effective before it: the F4 stay
        # begins with the Ausbildungsduldung, the F1 stay (begun earlier) does not.
        event(4, "ModuleEntered", "2022-02-01", module="F4"),
        event(5, "ResidenceStatusChanged", "2022-01-15", status="ausbildungsduldung_60c"),
        # After both entries: no stay's state at entry changes.
        event(6, "ResidenceStatusChanged", "2022-06-01", status="ae_25a"),
    )
    assert rows == [
        # 20 at intake on 2021-01-10; 21 from the anniversary in 2022 on.
        ("F1", date(2021, 2, 1), "18-20", "duldung", None),
        ("F4", date(2022, 2, 1), "21-24", "ausbildungsduldung_60c", "A2"),
    ]
