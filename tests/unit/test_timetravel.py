"""Bitemporal replay, without a database: states written out by hand for a scripted history."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from lotse.domain.configuration import Programme
from lotse.domain.envelope import Envelope
from lotse.domain.errors import ParticipantNotFoundError
from lotse.domain.participant import Participant
from lotse.domain.timetravel import replay
from tests.builders.journeys import AMINA

ENV = Envelope("coach-1", "caseworker", "caritas-ahlen", "req-1")
TODAY = date(2021, 12, 31)


def at(day: str, time: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{time}:00").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def history(programme: Programme) -> list[Participant.Event]:
    """The script: (what, effective date, recorded at). v5 is a late entry, v7 and v8
    are corrections (v8 moves the module entry from 10 to 20 March)."""
    common = {"envelope": ENV, "today": TODAY}
    p = Participant.register(
        **common,
        programme=programme,
        provider="caritas-ahlen",
        municipality="warendorf",
        intake_date=date(2021, 3, 1),
        **AMINA,
    )  # v1, recorded 1 March
    p.assess_eligibility(
        **common,
        effective_date=date(2021, 3, 2),
        programme=programme,
        eligible=True,
        target_group="duldung",
    )  # v2
    p.give_consent(
        **common, effective_date=date(2021, 3, 2), programme=programme, consent_version="2020-01"
    )  # v3
    p.enter_module(
        **common, effective_date=date(2021, 3, 10), programme=programme, module="F4"
    )  # v4
    p.log_coaching_contact(
        **common, effective_date=date(2021, 3, 15), minutes=60, mode="in_person"
    )  # v5: happened 15 March, entered only on 20 April
    p.assess_language_level(**common, effective_date=date(2021, 4, 1), level="A2")  # v6
    p.correct_entry(
        **common,
        effective_date=date(2021, 5, 5),
        programme=programme,
        corrects_version=6,
        reason="typo",
        changes={"level": "B1"},
    )  # v7
    p.correct_entry(
        **common,
        effective_date=date(2021, 5, 10),
        programme=programme,
        corrects_version=4,
        reason="wrong date",
        changes={"effective_date": date(2021, 3, 20)},
    )  # v8
    p.exit_module(
        **common,
        effective_date=date(2021, 6, 30),
        programme=programme,
        module="F4",
        reason="completed",
    )  # v9
    recorded = [
        at("2021-03-01", "09:00"),
        at("2021-03-02", "10:00"),
        at("2021-03-02", "10:05"),
        at("2021-03-10", "08:00"),
        at("2021-04-20"),
        at("2021-04-01"),
        at("2021-05-05"),
        at("2021-05-10"),
        at("2021-07-01"),
    ]
    events = p.collect_events()
    assert len(events) == len(recorded)
    return [
        dataclasses.replace(e, timestamp=t)  # type: ignore[type-var]
        for e, t in zip(events, recorded, strict=True)
    ]


def state(
    history: list[Participant.Event], as_of: str | None, known_at: datetime | None
) -> dict[str, object]:
    p = replay(
        history, as_of=date.fromisoformat(as_of) if as_of else None, known_at=known_at
    ).participant
    return {
        "open_modules": p.open_modules,
        "coaching_contacts": p.coaching_contacts,
        "language_level": p.language_level,
        "corrections": p.corrections,
    }


def test_before_the_late_entry_was_recorded_it_does_not_count(
    history: list[Participant.Event],
) -> None:
    result = state(history, "2021-03-31", at("2021-04-02", "00:00"))

    assert result == {
        "open_modules": {"F4": date(2021, 3, 10)},
        "coaching_contacts": 0,
        "language_level": None,
        "corrections": 0,
    }


def test_once_recorded_the_late_entry_counts_on_its_effective_date(
    history: list[Participant.Event],
) -> None:
    result = state(history, "2021-03-31", at("2021-04-30"))

    assert result == {
        "open_modules": {"F4": date(2021, 3, 10)},
        "coaching_contacts": 1,
        "language_level": None,
        "corrections": 0,
    }


def test_a_correction_known_at_known_at_applies_to_the_entry_it_corrects(
    history: list[Participant.Event],
) -> None:
    result = state(history, "2021-04-30", at("2021-05-06"))

    assert result == {
        "open_modules": {"F4": date(2021, 3, 10)},
        "coaching_contacts": 1,
        "language_level": "B1",
        "corrections": 1,
    }


def test_a_correction_recorded_after_known_at_is_ignored(
    history: list[Participant.Event],
) -> None:
    result = state(history, "2021-04-30", at("2021-04-15"))

    assert result == {
        "open_modules": {"F4": date(2021, 3, 10)},
        "coaching_contacts": 0,
        "language_level": "A2",
        "corrections": 0,
    }


def test_a_corrected_effective_date_moves_the_entry_out_of_as_of(
    history: list[Participant.Event],
) -> None:
    result = state(history, "2021-03-15", at("2021-05-31"))

    assert result == {
        "open_modules": {},
        "coaching_contacts": 1,
        "language_level": None,
        "corrections": 2,
    }


def test_an_exit_not_yet_recorded_leaves_the_module_open(
    history: list[Participant.Event],
) -> None:
    result = state(history, "2021-07-31", at("2021-06-30"))

    assert result == {
        "open_modules": {"F4": date(2021, 3, 20)},
        "coaching_contacts": 1,
        "language_level": "B1",
        "corrections": 2,
    }


def test_without_limits_the_replay_equals_the_aggregate_itself(
    history: list[Participant.Event],
) -> None:
    loaded = history[0].mutate(None)
    for event in history[1:]:
        event.mutate(loaded)

    replayed = replay(history).participant

    assert loaded is not None
    assert replayed.version == loaded.version == 9
    for name in ("open_modules", "coaching_minutes", "language_level", "corrections"):
        assert getattr(replayed, name) == getattr(loaded, name), name
    assert replayed.lesson_hours == loaded.lesson_hours == {}
    assert replayed.given_name == "Amina"


@pytest.mark.parametrize(
    ("as_of", "known_at"),
    [("2021-02-28", None), (None, at("2021-02-01"))],
)
def test_before_registration_there_is_nobody_to_show(
    history: list[Participant.Event], as_of: str | None, known_at: datetime | None
) -> None:
    with pytest.raises(ParticipantNotFoundError) as e:
        replay(history, as_of=date.fromisoformat(as_of) if as_of else None, known_at=known_at)

    assert e.value.rule == "not-yet-registered"
