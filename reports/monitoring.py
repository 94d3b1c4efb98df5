"""The monitoring report: entries, exits, stock per municipality x module x quarter.

It reproduces the programme monitoring (G.I.B.): per municipality, funding module
and quarter the entries (Eintritte), exits by reason (Austritte), the stock at the
quarter's last day (Bestand), cumulative entries since the programme began and each
module's share of the stock; and the characteristics of entries and stock.

Counting unit: a *stay* in a module (read model ``module_spans``). A re-entry into
a module is a new entry, and so is every stay of a new enrolment period after
``Reentered`` (a new entry of the same person); a stay counts for the municipality
and provider that ran it when it began. A transfer to another municipality ends the
open stays there on the transfer date (exit reason ``transferred``) and continues
them in the new municipality from that day (an entry there): past figures stay where
they were. A voided stay (``EntryVoided``) is not in the read model at all, so it
counts nowhere.
Participant characteristics are those at module entry.

Both sources feed the same pure function ``figures``: the read models through
``GROUPS_SQL`` (grouped in PostgreSQL, the fast path) and a replay through
``groups_from_rows`` (grouped here). The two groupings are one definition written
twice (bucket numbers are PostgreSQL's ``width_bucket``), and a test holds them equal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from lotse.domain.vocabulary import ResidenceStatus
from lotse.reports.cells import TOTAL, Cell, Column, Figures, Key, Share, TableDef
from lotse.reports.definition import Labels, ReportRequest
from lotse.reports.labels import AGE_BANDS, ALL_MODULES, DIMENSIONS, EXIT_REASONS, GENDERS
from lotse.reports.periods import Period

TABLES = ("module_spans",)
DIMS = ("gender", "age_band", "residence_status", "nationality")
OPENING = "opening"
"""The key part of the stock and cumulative entries on the day before the period."""
OTHER_NATIONALITY = "other"
"""The row of every nationality the programme's ``report_nationalities`` does not list."""

# municipality, provider, module, entry bucket, exit bucket, exit reason, gender,
# age band, residence status, nationality: the characteristics only where they
# count (entered in the period, or in the stock at its end), so groups stay few.
# The figures never split by provider (a provider filter is a WHERE), so the SQL
# leaves it out of the grouping (NULL), which halves the groups again.
Group = tuple[
    str, str, str, int, int | None, str | None, str | None, str | None, str | None, str | None
]

GROUPS_SQL = """
WITH s AS (
    SELECT municipality, provider, module, exit_reason, gender, age_band,
           residence_status, nationality,
           width_bucket(entered, $1::date[]) AS eb, width_bucket(exited, $1::date[]) AS xb
    FROM rm_module_spans
    WHERE programme = $2 AND entered <= $3
      AND ($4::text IS NULL OR municipality = $4) AND ($5::text IS NULL OR provider = $5)
), g AS (
    SELECT *, (eb >= 1 OR xb IS NULL OR xb > $6) AS counts FROM s
)
SELECT municipality, NULL::text AS provider, module, eb, xb,
       CASE WHEN xb BETWEEN 1 AND $6 THEN exit_reason END,
       CASE WHEN counts THEN gender END, CASE WHEN counts THEN age_band END,
       CASE WHEN counts THEN residence_status END, CASE WHEN counts THEN nationality END,
       count(*)
FROM g GROUP BY 1, 3, 4, 5, 6, 7, 8, 9, 10
"""


def sql_arguments(request: ReportRequest) -> tuple[Any, ...]:
    p = request.period
    return (
        p.thresholds,
        request.programme,
        p.end,
        request.municipality,
        request.provider,
        len(p.buckets),
    )


def group_of(row: Mapping[str, Any], period: Period) -> Group | None:
    """The group of one ``module_spans`` row, exactly as ``GROUPS_SQL`` forms it."""
    if row["entered"] > period.end:
        return None
    n = len(period.buckets)
    eb = period.bucket_of(row["entered"])
    xb = period.bucket_of(row["exited"])
    assert eb is not None
    counts = eb >= 1 or xb is None or xb > n
    return (
        row["municipality"],
        row["provider"],
        row["module"],
        eb,
        xb,
        row["exit_reason"] if xb is not None and 1 <= xb <= n else None,
        *(row[d] if counts else None for d in DIMS),
    )  # type: ignore[return-value]


def groups_from_rows(
    rows: Mapping[str, Iterable[Mapping[str, Any]]], request: ReportRequest
) -> Counter[Any]:
    groups: Counter[Any] = Counter()
    for row in rows["module_spans"]:
        if request.in_scope(row):
            group = group_of(row, request.period)
            if group is not None:
                groups[group] += 1
    return groups


def _pool_nationalities(groups: Counter[Any], listed: tuple[str, ...]) -> Counter[Any]:
    """Nationalities the programme does not list count as one group (``other``)."""
    pooled: Counter[Any] = Counter()
    for group, count in groups.items():
        nationality = group[9]
        if nationality is not None and nationality not in listed:
            group = (*group[:9], OTHER_NATIONALITY)
        pooled[group] += count
    return pooled


def figures(groups: Counter[Any], request: ReportRequest, labels: Labels) -> Figures:
    period = request.period
    quarters = [b.label for b in period.buckets]
    n = len(quarters)
    observed_m = {g[0] for g in groups}
    municipalities = labels.municipalities_in(request, observed_m)
    modules = labels.modules + sorted({g[2] for g in groups} - set(labels.modules))
    reasons = list(EXIT_REASONS)
    if labels.nationalities:
        groups = _pool_nationalities(groups, labels.nationalities)
    # Rows for every value of the vocabulary, not only the observed ones: a row that
    # appears between two reports would say that someone with that value arrived.
    statuses = [s.value for s in ResidenceStatus]
    nationalities = (
        [*labels.nationalities, OTHER_NATIONALITY]
        if labels.nationalities
        else sorted({g[9] for g in groups if g[9] is not None})
    )
    values: dict[str, list[str]] = {
        "gender": list(GENDERS),
        "age_band": list(AGE_BANDS),
        "residence_status": statuses
        + sorted({g[8] for g in groups if g[8] is not None} - set(statuses)),
        "nationality": nationalities,
    }
    multi = len(municipalities) > 1
    ms = [*municipalities, TOTAL] if multi else list(municipalities)
    mods = [*modules, TOTAL]
    f = Figures()

    # Every cell of the grid exists (zeros too): tables are complete, and a zero
    # is published, which keeps secondary suppression from hiding structure.
    def series(m: str, mod: str) -> list[Key]:
        keys: list[Key] = []
        for q in quarters:
            keys += [("entries", m, mod, q), ("exits", m, mod, q), ("stock", m, mod, q)]
            keys += [("cumulative", m, mod, q)]
            keys += [("exits_reason", m, mod, q, r) for r in reasons]
        keys.append(("entries", m, mod, "period"))
        keys += [("stock", m, mod, OPENING), ("cumulative", m, mod, OPENING)]
        for basis in ("entries", "stock"):
            for dim in DIMS:
                keys += [("char", m, mod, basis, dim, v) for v in values[dim]]
        return keys

    for m in ms:
        for mod in mods:
            for key in series(m, mod):
                f.add(key, 0, sensitive=key[-1] != OPENING)
                if key[-1] == OPENING:
                    # The stock and cumulative entries before the period: an earlier
                    # release published them (or the programme had just begun), so
                    # a reader knows them and they can hide nothing.
                    f.known.add(key)

    # Count per (municipality, module, cell) first, then add each count to its
    # cell and the totals it belongs to: tens of thousands of groups become a few
    # thousand counts before the totals multiply them (the statewide report's
    # time was almost all in this loop).
    counted: Counter[tuple[Any, ...]] = Counter()
    for group, count in groups.items():
        m, _provider, mod, eb, xb, reason, *dims = group
        if m not in municipalities or mod not in modules:
            continue
        for k, q in enumerate(quarters, start=1):
            if eb == k:
                counted[(m, mod, "entries", q)] += count
            if xb == k:
                counted[(m, mod, "exits", q)] += count
                counted[(m, mod, "exits_reason", q, reason or "other")] += count
            if eb <= k and (xb is None or xb > k):
                counted[(m, mod, "stock", q)] += count
            if eb <= k:
                counted[(m, mod, "cumulative", q)] += count
        if eb == 0:
            counted[(m, mod, "cumulative", OPENING)] += count
            if xb is None or xb >= 1:
                counted[(m, mod, "stock", OPENING)] += count
        if 1 <= eb <= n:
            counted[(m, mod, "entries", "period")] += count
            for dim, value in zip(DIMS, dims, strict=True):
                counted[(m, mod, "char", "entries", dim, value or "unknown")] += count
        if xb is None or xb > n:
            for dim, value in zip(DIMS, dims, strict=True):
                counted[(m, mod, "char", "stock", dim, value or "unknown")] += count

    # Sorted, so that cells outside the grid (an unexpected value) come in a fixed order.
    for (m, mod, *rest), count in sorted(counted.items(), key=lambda item: str(item[0])):
        for mm in (m, TOTAL) if multi else (m,):
            for mmod in (mod, TOTAL):
                f.add((rest[0], mm, mmod, *rest[1:]), count, sensitive=rest[-1] != OPENING)

    _relations(f, ms, mods, quarters, reasons, values, multi)
    f.tables = _tables(ms, mods, quarters, reasons, values, period, labels)
    return f


def _relations(
    f: Figures,
    ms: list[str],
    mods: list[str],
    quarters: list[str],
    reasons: list[str],
    values: dict[str, list[str]],
    multi: bool,
) -> None:
    # Totals over modules and over municipalities, for every family of cells.
    by_rest: dict[tuple[str, tuple[str, ...]], dict[tuple[str, str], Key]] = {}
    for key in f.cells:
        by_rest.setdefault((key[0], key[3:]), {})[(key[1], key[2])] = key
    for (family, rest), grid in by_rest.items():
        for m in ms:
            f.relate((family, m, TOTAL, *rest), [grid[(m, mod)] for mod in mods if mod != TOTAL])
        if multi:
            for mod in mods:
                f.relate((family, TOTAL, mod, *rest), [grid[(m, mod)] for m in ms if m != TOTAL])
    for m in ms:
        for mod in mods:
            for i, q in enumerate(quarters):
                f.relate(("exits", m, mod, q), [("exits_reason", m, mod, q, r) for r in reasons])
                prev = quarters[i - 1] if i else OPENING
                # stock(q) = stock(q-1) + entries(q) - exits(q); before the first
                # quarter, the opening stock (known to a reader: see above)
                f.relate(
                    ("stock", m, mod, q),
                    [("stock", m, mod, prev), ("entries", m, mod, q), ("exits", m, mod, q)],
                )
                # cumulative(q) = cumulative(q-1) + entries(q)
                f.relate(
                    ("cumulative", m, mod, q),
                    [("cumulative", m, mod, prev), ("entries", m, mod, q)],
                )
            f.relate(("entries", m, mod, "period"), [("entries", m, mod, q) for q in quarters])
            for dim in DIMS:
                f.relate(
                    ("entries", m, mod, "period"),
                    [("char", m, mod, "entries", dim, v) for v in values[dim]],
                )
                f.relate(
                    ("stock", m, mod, quarters[-1]),
                    [("char", m, mod, "stock", dim, v) for v in values[dim]],
                )


def _module(mod: str) -> str:
    return ALL_MODULES if mod == TOTAL else mod


def _tables(
    ms: list[str],
    mods: list[str],
    quarters: list[str],
    reasons: list[str],
    values: dict[str, list[str]],
    period: Period,
    labels: Labels,
) -> list[TableDef]:
    ends = {b.label: b.end.isoformat() for b in period.buckets}
    flow = TableDef(
        "quartale",
        "Eintritte, Austritte und Bestand je Kommune, Förderbaustein und Quartal",
        [
            Column("municipality", "Kommune"),
            Column("module", "Förderbaustein"),
            Column("quarter", "Quartal"),
            Column("reporting_date", "Stichtag"),
            Column("entries", "Eintritte"),
            Column("exits", "Austritte"),
            *(Column(f"exits_{r}", f"Austritte: {EXIT_REASONS[r]}") for r in reasons),
            Column("stock", "Bestand"),
            Column("stock_share", "Anteil am Bestand (%)"),
            Column("cumulative_entries", "Eintritte kumuliert"),
        ],
    )
    chars = TableDef(
        "merkmale",
        "Merkmale der Eintritte im Zeitraum und des Bestands am Ende des Zeitraums",
        [
            Column("municipality", "Kommune"),
            Column("module", "Förderbaustein"),
            Column("basis", "Grundlage"),
            Column("dimension", "Merkmal"),
            Column("value", "Ausprägung"),
            Column("count", "Anzahl"),
        ],
    )
    last = quarters[-1]
    value_labels = {"gender": GENDERS, "age_band": AGE_BANDS}
    for m in ms:
        name = labels.municipality(m)
        for mod in mods:
            for q in quarters:
                flow.rows.append(
                    [
                        name,
                        _module(mod),
                        q,
                        ends[q],
                        Cell(("entries", m, mod, q)),
                        Cell(("exits", m, mod, q)),
                        *(Cell(("exits_reason", m, mod, q, r)) for r in reasons),
                        Cell(("stock", m, mod, q)),
                        Share(("stock", m, mod, q), ("stock", m, TOTAL, q)),
                        Cell(("cumulative", m, mod, q)),
                    ]
                )
            for basis, basis_label, total in (
                ("entries", "Eintritte im Zeitraum", ("entries", m, mod, "period")),
                ("stock", f"Bestand am {period.end.isoformat()}", ("stock", m, mod, last)),
            ):
                chars.rows.append([name, _module(mod), basis_label, "insgesamt", "", Cell(total)])
                for dim in DIMS:
                    for v in values[dim]:
                        shown = value_labels.get(dim, {}).get(v, v)
                        chars.rows.append(
                            [
                                name,
                                _module(mod),
                                basis_label,
                                DIMENSIONS[dim],
                                shown,
                                Cell(("char", m, mod, basis, dim, v)),
                            ]
                        )
    return [flow, chars]
