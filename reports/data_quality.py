"""Data quality per provider and quarter: one read-side function for the route, the
CLI and the page (``GET /reports/data-quality``, ``lotse report data-quality``,
``/berichte/datenqualitaet``).

Per provider of the caller's scope (``domain.access.data_quality_scope``):

- ``participants``: enrolled on at least one day of the quarter (intake on or
  before its end, no exit before its start), where the case is now;
  ``with_missing_core_fields`` of them lack at least one core field
  (``projections.data_quality.CORE_FIELDS``), ``missing_share`` is that share
  (0 to 1, four places), ``missing_by_field`` the count per field;
- ``entries``: journey entries recorded in the quarter (by the day of recording in
  Germany), ``median_delay_days`` the median of recording day minus effective date
  over them (``null`` without entries; the mean of the middle two for an even count);
- ``corrections``: corrections and voids recorded in the quarter,
  ``corrections_per_100_events`` = 100 x corrections / entries (two places; ``null``
  without entries);
- ``overdue_items``: due list items due before the reference day (the quarter's
  last day, today for the current quarter) and neither done nor dismissed before it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lotse.domain.access import Principal, data_quality_scope
from lotse.domain.configuration import Configuration
from lotse.domain.errors import InvalidInputError
from lotse.projections.data_quality import CORE_FIELDS, entries_by_provider, missing_by_provider
from lotse.projections.due_list import rules_of
from lotse.projections.worklist import count_overdue
from lotse.reports.periods import parse_period

_QUARTER = re.compile(r"^\d{4}-Q[1-4]$")
#: The read models the report reads (what ``min_position`` waits for).
TABLES = ("data_quality", "worklist")


def parse_quarter(text: str, field: str = "quarter") -> tuple[date, date]:
    """A quarter ``YYYY-Qn`` only: the figures are per quarter; anything else names ``field``."""
    if not _QUARTER.fullmatch(text):
        msg = f"{field} must be a quarter such as 2021-Q3 (YYYY-Qn, n from 1 to 4)"
        raise InvalidInputError(msg, field=field, rule="quarter")
    period = parse_period(text, field)
    return period.start, period.end


def median(histogram: dict[int, int]) -> Decimal | None:
    """The median of values given as value -> count (the mean of the middle two)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    lower, upper = (total - 1) // 2, total // 2  # indices of the middle value(s)
    seen, low = 0, None
    for value in sorted(histogram):
        count = histogram[value]
        if low is None and seen + count > lower:
            low = value
        if seen + count > upper:
            return (Decimal(low if low is not None else value) + value) / 2
        seen += count
    raise AssertionError("unreachable: the counts sum to total")


def _places(value: Decimal, places: str) -> str:
    return str(value.quantize(Decimal(places), rounding=ROUND_HALF_UP))


async def data_quality(
    conn: Any,
    configuration: Configuration,
    principal: Principal,
    *,
    quarter: str,
    municipality: str | None,
    today: date,
) -> dict[str, Any]:
    """The report document: one row per provider with anything in the quarter."""
    start, end = parse_quarter(quarter)
    scope = data_quality_scope(principal, configuration, municipality)
    on = min(end, today)
    providers: dict[tuple[str, str], dict[str, Any]] = {}

    def row(provider: str, place: str) -> dict[str, Any]:
        return providers.setdefault(
            (provider, place),
            {
                "provider": provider,
                "municipality": place,
                "participants": 0,
                "with_missing_core_fields": 0,
                "missing_by_field": dict.fromkeys(CORE_FIELDS, 0),
                "entries": 0,
                "corrections": 0,
                "overdue_items": 0,
            },
        )

    # One snapshot for all three read models: figures of a row must not mix two
    # positions of the log (an entry counted, its correction not yet).
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for r in await missing_by_provider(conn, start, end, scope):
            target = row(r["provider"], r["municipality"])
            target["participants"] = r["participants"]
            target["with_missing_core_fields"] = r["with_missing"]
            target["missing_by_field"] = {f: r[f] for f in CORE_FIELDS}
        delays: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
        for r in await entries_by_provider(conn, quarter, scope):
            key = (r["provider"], r["municipality"])
            target = row(*key)
            target["entries"] += r["entries"]
            target["corrections"] += r["corrections"]
            if r["entries"]:
                delays[key][r["delay_days"]] = r["entries"]
        for programme in sorted(configuration.programmes.values(), key=lambda p: p.id):
            counts = await count_overdue(conn, rules_of(programme, on), scope, on)
            for key, n in counts.items():
                row(*key)["overdue_items"] += n
    result = []
    for key in sorted(providers):
        r = providers[key]
        share = (
            _places(Decimal(r["with_missing_core_fields"]) / r["participants"], "0.0001")
            if r["participants"]
            else None
        )
        middle = median(delays.get(key, {}))
        per_100 = (
            _places(Decimal(100 * r["corrections"]) / r["entries"], "0.01")
            if r["entries"]
            else None
        )
        result.append(
            {
                **r,
                "missing_share": share,
                "median_delay_days": None if middle is None else _places(middle, "0.1"),
                "corrections_per_100_events": per_100,
            }
        )
    return {
        "quarter": quarter,
        "start": start,
        "end": end,
        "reference_date": on,
        "municipality": scope,
        "core_fields": list(CORE_FIELDS),
        "providers": result,
    }
