"""Reporting periods: a quarter, a half-year, a year or a date range, cut into quarters.

The monitoring reports figures per quarter with the quarter's last day as the
reporting date (Stichtag). A period that does not start or end on a quarter
boundary is cut at its own ends, so every bucket lies inside the period.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta

from lotse.domain.errors import InvalidInputError

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_HALF = re.compile(r"^(\d{4})-H([12])$")
_YEAR = re.compile(r"^(\d{4})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
PERIOD_FORMS = "YYYY-Qn, YYYY-Hn, YYYY or YYYY-MM-DD..YYYY-MM-DD"


@dataclass(frozen=True)
class Bucket:
    """One quarter of the period (or the part of it inside the period)."""

    label: str
    start: date
    end: date


@dataclass(frozen=True)
class Period:
    text: str
    start: date
    end: date

    @property
    def buckets(self) -> tuple[Bucket, ...]:
        result = []
        day = self.start
        while day <= self.end:
            quarter = (day.month - 1) // 3 + 1
            quarter_end = _quarter_end(day.year, quarter)
            end = min(quarter_end, self.end)
            result.append(Bucket(f"{day.year}-Q{quarter}", day, end))
            day = end + timedelta(days=1)
        return tuple(result)

    @property
    def thresholds(self) -> list[date]:
        """Bucket starts and the day after the period: see ``bucket_of``."""
        return [b.start for b in self.buckets] + [self.end + timedelta(days=1)]

    def bucket_of(self, day: date | None) -> int | None:
        """0 before the period, 1..n inside, n+1 after; PostgreSQL's ``width_bucket``."""
        if day is None:
            return None
        return bisect_right(self.thresholds, day)


def _quarter_end(year: int, quarter: int) -> date:
    month = quarter * 3
    return date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)


def parse_period(text: str, field: str = "period") -> Period:
    """Parse a period; invalid input raises ``InvalidInputError`` naming ``field``."""
    text = text.strip()
    try:
        if m := _QUARTER.match(text):
            year, quarter = int(m[1]), int(m[2])
            start, end = date(year, quarter * 3 - 2, 1), _quarter_end(year, quarter)
        elif m := _HALF.match(text):
            year, half = int(m[1]), int(m[2])
            start = date(year, 1 if half == 1 else 7, 1)
            end = date(year, 6, 30) if half == 1 else date(year, 12, 31)
        elif m := _YEAR.match(text):
            start, end = date(int(m[1]), 1, 1), date(int(m[1]), 12, 31)
        elif m := _RANGE.match(text):
            start, end = date.fromisoformat(m[1]), date.fromisoformat(m[2])
        else:
            msg = f"{field} must be one of {PERIOD_FORMS}"
            raise InvalidInputError(msg, field=field)
    except ValueError:
        msg = f"{field} is not a valid date or period ({PERIOD_FORMS})"
        raise InvalidInputError(msg, field=field) from None
    if not (start.year >= 2000 and end.year <= 2100):
        msg = f"{field} must lie between the years 2000 and 2100"
        raise InvalidInputError(msg, field=field)
    if end < start:
        msg = f"{field} ends before it starts"
        raise InvalidInputError(msg, field=field)
    if (end - start).days > 366 * 5:
        msg = f"{field} is longer than five years"
        raise InvalidInputError(msg, field=field)
    return Period(text, start, end)
