"""Pure report logic: periods cut into quarters, and small-cell suppression."""

from __future__ import annotations

from datetime import date

import pytest

from lotse.domain.errors import InvalidInputError
from lotse.reports.cells import Figures
from lotse.reports.periods import parse_period
from lotse.reports.rounding import Anchor, protect, round_count
from lotse.reports.suppression import recoverable, suppress


def test_a_half_year_is_cut_into_its_two_quarters_with_their_last_days() -> None:
    period = parse_period("2021-H1")

    assert [(b.label, b.start, b.end) for b in period.buckets] == [
        ("2021-Q1", date(2021, 1, 1), date(2021, 3, 31)),
        ("2021-Q2", date(2021, 4, 1), date(2021, 6, 30)),
    ]


def test_a_date_range_is_cut_at_its_own_ends_and_numbers_days_like_width_bucket() -> None:
    period = parse_period("2021-02-15..2021-05-31")

    assert [(b.label, b.start, b.end) for b in period.buckets] == [
        ("2021-Q1", date(2021, 2, 15), date(2021, 3, 31)),
        ("2021-Q2", date(2021, 4, 1), date(2021, 5, 31)),
    ]
    assert [
        period.bucket_of(d)
        for d in (
            date(2021, 2, 14),
            date(2021, 2, 15),
            date(2021, 4, 1),
            date(2021, 5, 31),
            date(2021, 6, 1),
        )
    ] == [0, 1, 2, 2, 3]
    assert period.bucket_of(None) is None


@pytest.mark.parametrize(
    "text",
    ["2021-Q5", "2021-H3", "21", "2021-06-01..2021-01-01", "x", "9999", "2021-02-30..2021-03-01"],
)
def test_an_invalid_period_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        parse_period(text)

    assert error.value.field == "period"


def table(values: dict[str, int], total: str) -> Figures:
    f = Figures()
    for name, value in values.items():
        f.add((name,), value)
    f.relate((total,), [(name,) for name in values if name != total])
    return f


def test_a_small_count_is_hidden_with_the_smallest_other_nonzero_cell_of_its_row() -> None:
    f = table({"a": 2, "b": 7, "c": 4, "zero": 0, "total": 13}, "total")

    hidden = suppress(f, 3)

    assert hidden == {("a",), ("c",)}
    assert recoverable(f, hidden) == []


def test_suppression_propagates_through_linked_relations_until_nothing_is_recoverable() -> None:
    # Two rows and their column totals: hiding a cell in a row forces one in its
    # column, which forces another in the other row, and so on.
    f = Figures()
    grid = {("r1", "c1"): 1, ("r1", "c2"): 5, ("r2", "c1"): 6, ("r2", "c2"): 8}
    for (r, c), v in grid.items():
        f.add((r, c), v)
        f.add((r, "all"), v)
        f.add(("all", c), v)
    for r in ("r1", "r2"):
        f.relate((r, "all"), [(r, "c1"), (r, "c2")])
    for c in ("c1", "c2"):
        f.relate(("all", c), [("r1", c), ("r2", c)])

    hidden = suppress(f, 3)

    assert {("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r2", "c2")} <= hidden
    assert recoverable(f, hidden) == []
    assert all(f.cells[k] == 0 or f.cells[k] >= 3 for k in f.cells if k not in hidden)


def test_zeros_and_counts_at_the_threshold_are_published() -> None:
    f = table({"a": 0, "b": 3, "total": 3}, "total")

    assert suppress(f, 3) == set()


# ------------------------------------------------------------ release rounding

SECRET = b"s" * 32


def test_rounding_publishes_multiples_of_five_within_four_of_the_truth_the_same_way_each_time() -> (
    None
):
    values = range(0, 60)

    rounded = [round_count(SECRET, "entries|koeln|F4|2021-Q1", v) for v in values]
    again = [round_count(SECRET, "entries|koeln|F4|2021-Q1", v) for v in values]

    assert rounded == again
    assert all(r % 5 == 0 and abs(r - v) < 5 for r, v in zip(rounded, values, strict=True))
    assert [rounded[v] for v in (0, 5, 10, 55)] == [0, 5, 10, 55]


def test_rounding_is_unbiased_over_cells() -> None:
    keys = [f"char|koeln|F4|entries|nationality|{i}" for i in range(4000)]

    up = sum(round_count(SECRET, k, 2) == 5 for k in keys) / len(keys)

    assert 0.35 < up < 0.45  # 2 rounds up with probability 2/5


def test_an_anchored_cell_keeps_its_published_value_until_it_drifts_by_five() -> None:
    figures = Figures()
    figures.add(("entries", "koeln", "F4", "2021-Q1"), 11)
    figures.add(("held", "koeln"), 7, sensitive=False)
    anchors = {"entries|koeln|F4|2021-Q1": Anchor(true=7, published=5)}

    kept = protect(figures, SECRET, anchors)
    figures.add(("entries", "koeln", "F4", "2021-Q1"), 1)  # now 12: drifted by 5
    fresh = protect(figures, SECRET, anchors)

    assert kept == {("entries", "koeln", "F4", "2021-Q1"): 5}
    assert fresh[("entries", "koeln", "F4", "2021-Q1")] in (10, 15)


def test_a_known_opening_stock_never_protects_a_hidden_exit() -> None:
    # stock = opening + entries - exits with entries 5, exits 1, stock 4, opening 0
    f = Figures()
    f.add(("entries", "q1"), 5)
    f.add(("exits", "q1"), 1)
    f.add(("stock", "q1"), 4)
    f.add(("stock", "opening"), 0, sensitive=False)
    f.known.add(("stock", "opening"))
    f.relate(("stock", "q1"), [("stock", "opening"), ("entries", "q1"), ("exits", "q1")])

    hidden = suppress(f)

    assert ("exits", "q1") in hidden
    assert ("stock", "opening") not in hidden
    assert hidden & {("entries", "q1"), ("stock", "q1")}
    assert recoverable(f, hidden) == []
