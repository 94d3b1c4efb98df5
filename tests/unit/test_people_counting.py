"""The pure rules behind persons in the monitoring and outcome attribution by date."""

from __future__ import annotations

from datetime import date

from lotse.projections.attribution import Stays
from lotse.projections.person_facts import full_years
from lotse.reports.monitoring import _person_cells, stay_bits


def person(*stays: tuple[int, int | None], n: int = 2) -> tuple[int, int]:
    """A person's bits from their stays' (entry bucket, exit bucket)."""
    sm = em = 0
    for eb, xb in stays:
        s, e = stay_bits(eb, xb, n)
        sm, em = sm | s, em | e
    return sm, em


def test_a_person_leaving_and_coming_back_within_a_quarter_is_one_entry_and_no_exit() -> None:
    # Enters in Q1, leaves in Q2, enters again in Q2 (still in at its end).
    assert sorted(_person_cells(*person((1, 2), (2, None)), 2)) == [
        ("persons_entries", 1),
        ("persons_stock", 1),
        ("persons_stock", 2),
    ]


def test_a_person_entering_and_leaving_within_a_quarter_is_an_entry_and_an_exit() -> None:
    assert sorted(_person_cells(*person((1, 1)), 2)) == [
        ("persons_entries", 1),
        ("persons_exits", 1),
    ]


def test_a_person_moving_between_modules_is_no_entry_or_exit_of_the_total() -> None:
    # In the opening stock with one stay that ends in Q1, the next begins in Q1.
    cells = _person_cells(*person((0, 1), (1, None)), 2)
    assert sorted(cells) == [("persons_stock", 0), ("persons_stock", 1), ("persons_stock", 2)]


def test_full_years_count_the_anniversary_day_as_a_full_year() -> None:
    assert full_years(date(2020, 6, 15), date(2021, 6, 14)) == 0
    assert full_years(date(2020, 6, 15), date(2021, 6, 15)) == 1
    assert full_years(date(2020, 2, 29), date(2021, 2, 28)) == 0
    assert full_years(date(2021, 6, 15), date(2021, 1, 1)) == -1


def stays(*spans: tuple[str, str, str | None], starts: tuple[str, ...] = ("2021-01-01",)) -> Stays:
    s = Stays(period_starts=[date.fromisoformat(x) for x in starts])
    for module, entered, exited in spans:
        s.stays.append(
            (module, date.fromisoformat(entered), date.fromisoformat(exited) if exited else None)
        )
    return s


def test_an_outcome_counts_for_the_stays_open_on_its_date_including_one_ending_that_day() -> None:
    s = stays(
        ("F1", "2021-01-11", None), ("F4", "2021-03-01", "2021-06-01"), ("F6", "2021-06-15", None)
    )
    assert s.modules_at(date(2021, 6, 1)) == ["F1", "F4"]
    assert s.modules_at(date(2021, 6, 2)) == ["F1"]
    assert s.modules_at(date(2021, 6, 15)) == ["F1", "F6"]


def test_without_an_open_stay_an_outcome_counts_for_the_stays_ended_last() -> None:
    s = stays(("F1", "2021-01-11", "2021-02-28"), ("F4", "2021-01-12", "2021-04-30"))
    assert s.modules_at(date(2021, 10, 1)) == ["F4"]
    assert stays().modules_at(date(2021, 10, 1)) == []


def test_an_outcome_of_a_new_enrolment_period_ignores_the_stays_of_the_earlier_one() -> None:
    s = stays(
        ("F1", "2021-01-11", "2021-03-31"),
        ("F4", "2021-07-02", "2021-08-31"),
        starts=("2021-01-10", "2021-07-01"),
    )
    assert s.modules_at(date(2021, 7, 1)) == []
    assert s.modules_at(date(2021, 9, 30)) == ["F4"]
    assert s.modules_at(date(2021, 5, 1)) == ["F1"]
