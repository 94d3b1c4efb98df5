"""The data quality read model's fold and the report's median (no database): what
only events written outside the API can show (a registration without a birth
date), late-evening recordings, corrections and re-entry."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import uuid4

import pytest

from lotse.projections.data_quality import ENTRIES, PARTICIPANTS, DataQuality
from lotse.projections.model import Crypto
from lotse.projections.records import EventRecord
from lotse.reports.data_quality import median

PID = uuid4()


def event(
    version: int,
    kind: str,
    day: str,
    recorded: datetime,
    *,
    role: str = "caseworker",
    organisation: str = "caritas-ahlen",
    sealed: tuple[str, ...] = (),
    sealed_changes: tuple[str, ...] = (),
    **data: Any,
) -> EventRecord:
    return EventRecord(
        position=version,
        participant_id=PID,
        version=version,
        type=kind,
        recorded_at=recorded,
        effective_date=date.fromisoformat(day),
        recorded_by="user",
        recorded_role=role,
        organisation=organisation,
        data=data,
        sealed_fields=sealed,
        sealed_changes=sealed_changes,
    )


def registered(recorded: datetime, *, sealed: tuple[str, ...] = ("birth_date",)) -> EventRecord:
    return event(
        1,
        "Registered",
        "2021-07-01",
        recorded,
        sealed=sealed,
        programme="durchstarten",
        provider="caritas-ahlen",
        municipality="warendorf",
        intake_date=date(2021, 7, 1),
        residence_status="duldung",
        residence_valid_until=None,
    )


NOON = datetime(2021, 7, 5, 10, tzinfo=UTC)


def rows(events: list[EventRecord]) -> tuple[list[str], list[tuple[Any, ...]]]:
    model = DataQuality()
    state = model.fold_history(PID, [(e, {}) for e in events])
    found = model.rows(state, cast(Crypto, None))  # the model seals nothing
    participant = found[PARTICIPANTS.name]
    missing = list(participant[0][-1]) if participant else []
    return missing, sorted(r[1:] for r in found[ENTRIES.name])


def test_a_registration_without_birth_date_or_expiry_of_a_duldung_misses_both() -> None:
    missing, _ = rows([registered(NOON, sealed=())])

    assert missing == ["birth_date", "residence_valid_until", "eligibility", "consent"]


def test_a_correction_giving_the_birth_date_and_a_permit_with_expiry_complete_them() -> None:
    missing, _ = rows(
        [
            registered(NOON, sealed=()),
            event(
                2,
                "EntryCorrected",
                "2021-07-05",
                NOON,
                sealed_changes=("birth_date",),
                corrects_version=1,
                corrected_type="Registered",
                reason="nachgetragen",
                changes={},
            ),
            event(3, "ResidenceStatusChanged", "2021-07-05", NOON, status="ae_25a"),
            event(4, "EligibilityAssessed", "2021-07-05", NOON, eligible=True),
            event(5, "ConsentGiven", "2021-07-05", NOON, consent_version="2021-07"),
        ]
    )

    assert missing == []


def test_re_entry_asks_for_eligibility_and_consent_again() -> None:
    missing, _ = rows(
        [
            registered(NOON),
            event(2, "EligibilityAssessed", "2021-07-05", NOON, eligible=True),
            event(3, "ConsentGiven", "2021-07-05", NOON, consent_version="2021-07"),
            event(4, "Exited", "2021-07-05", NOON, reason="completed"),
            event(5, "Reentered", "2021-07-05", NOON, intake_date=date(2021, 7, 5)),
        ]
    )

    assert missing == ["residence_valid_until", "eligibility", "consent"]


def test_a_late_evening_entry_counts_on_the_german_day_and_in_its_quarter() -> None:
    # 30.09.2021, 23:30 in Germany is 21:30 UTC: recorded on 30.09., in Q3, 1 day late.
    late = datetime(2021, 9, 30, 21, 30, tzinfo=UTC)
    after_midnight = datetime(2021, 9, 30, 22, 30, tzinfo=UTC)  # 01.10., 00:30

    _, entries = rows(
        [
            registered(NOON),
            event(2, "EligibilityAssessed", "2021-09-29", late, eligible=True),
            event(3, "ConsentGiven", "2021-09-29", after_midnight, consent_version="2021-07"),
        ]
    )

    assert entries == [
        ("2021-Q3", "caritas-ahlen", "warendorf", 1, 1, 0),
        ("2021-Q3", "caritas-ahlen", "warendorf", 4, 1, 0),
        ("2021-Q4", "caritas-ahlen", "warendorf", 2, 1, 0),
    ]


def test_a_coordinators_void_counts_for_the_provider_and_the_voided_entry_nowhere() -> None:
    _, entries = rows(
        [
            registered(NOON),
            event(2, "CoachingContactLogged", "2021-07-01", NOON, minutes=30),
            event(
                3,
                "EntryVoided",
                "2021-07-05",
                NOON,
                role="coordinator",
                organisation="warendorf",
                voids_version=2,
                reason="doppelt",
            ),
        ]
    )

    assert entries == [
        ("2021-Q3", "caritas-ahlen", "warendorf", 0, 0, 1),
        ("2021-Q3", "caritas-ahlen", "warendorf", 4, 1, 0),
    ]


def test_a_voided_registration_counts_nowhere() -> None:
    void = event(2, "EntryVoided", "2021-07-05", NOON, voids_version=1, reason="doppelt")

    missing, entries = rows([registered(NOON), void])

    assert (missing, entries) == ([], [])


@pytest.mark.parametrize(
    ("histogram", "expected"),
    [
        ({}, None),
        ({7: 1}, "7"),
        ({0: 1, 2: 1, 3: 2, 4: 1, 20: 1, 39: 1}, "3"),
        ({0: 2, 3: 1, 4: 1, 5: 1, 9: 1, 10: 2}, "4.5"),
        ({1: 2, 9: 2}, "5"),
        ({-1: 1, 1: 1}, "0"),
    ],
)
def test_the_median_of_a_histogram(histogram: dict[int, int], expected: str | None) -> None:
    found = median(histogram)

    assert (None if found is None else str(found.normalize())) == expected
