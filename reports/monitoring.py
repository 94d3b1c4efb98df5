"""The monitoring report: entries, exits, stock per municipality x module x quarter.

It reproduces the programme monitoring (G.I.B.): per municipality, funding module
and quarter the entries (Eintritte), exits by reason (Austritte), the stock at the
quarter's last day (Bestand), cumulative entries since the programme began and each
module's share of the stock; and the characteristics of entries and stock.

Counting unit: a *stay* in a module (read model ``module_stays``). A re-entry into
a module is a new entry, and so is every stay of a new enrolment period after
``Reentered`` (a new entry of the same person); a stay counts for the municipality
and provider that ran it when it began. A transfer to another municipality ends the
open stays there on the transfer date (exit reason ``transferred``) and continues
them in the new municipality from that day (an entry there): past figures stay where
they were. A voided stay (``EntryVoided``) is not in the read model at all, so it
counts nowhere.

People are counted beside stays (``persons_*`` cells): a person with stays in F1
and F4 is two stays and one person of the total; see ``_person_cells`` for when a
person counts as an entry or exit, so that the stock identity holds for people too.
Participants a coordinator linked as the same person (``DuplicatesLinked``, read
model ``person_links``) are one person: registered at two providers, they are two
providers' stays and one person of the total.

Characteristics of the entries are the state at entry (the stay's first day, kept
with the stay by the read model ``module_stays``), those of the stock the state on
the reporting date (the period's last day, from the read model ``person_facts``):
residence status, language level and age band by effective date; gender and
nationality as recorded at registration.

Both sources feed the same pure function ``figures``: the read models through
``STAYS_SQL``, ``PERSONS_SQL`` and ``CHARS_SQL`` (grouped in PostgreSQL, the fast
path) and a replay through ``groups_from_rows`` (grouped here). The two groupings
are one definition written twice (bucket numbers are PostgreSQL's ``width_bucket``),
and a test holds them equal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import asyncpg

from lotse.domain.vocabulary import LanguageLevel, ResidenceStatus
from lotse.projections.model import age_band
from lotse.projections.person_facts import full_years
from lotse.projections.person_links import person_keys
from lotse.reports.cells import TOTAL, Cell, Column, Figures, Key, Share, TableDef
from lotse.reports.definition import Labels, ReportRequest
from lotse.reports.labels import (
    AGE_BANDS,
    ALL_MODULES,
    CHARACTERISTICS_AS_OF,
    DIMENSIONS,
    EXIT_REASONS,
    GENDERS,
    LANGUAGE_LEVELS,
)
from lotse.reports.periods import Period
from lotse.reports.snapshots import fetch_all

TABLES = ("module_stays", "person_facts", "person_links")
DIMS = ("gender", "age_band", "residence_status", "nationality", "language_level")
OPENING = "opening"
"""The key part of the stock and cumulative entries on the day before the period."""
OTHER_NATIONALITY = "other"
"""The row of every nationality the programme's ``report_nationalities`` does not list."""
UNKNOWN = "unknown"
AGE_OTHER = "other"
PERSONS = ("persons_entries", "persons_exits", "persons_stock")
"""Cell families counting people, not stays: never the sum of their modules' cells."""

# Groups, each a tuple beginning with its kind:
# ("stays", municipality, module, entry bucket, exit bucket, exit reason): stays;
# ("persons", municipality | None, module | None, stock bits, entry bits): people,
#   None meaning all municipalities / all modules (see ``person_bits``);
# ("char", municipality, module, basis, dimension, value): stays entered in the
#   period (the state at entry) or in the stock at its end (the state at the
#   reporting date) with that value of one characteristic (``DIMS``). The report
#   shows each characteristic on its own, so the groups are the five margins, not
#   their cross product (tens of thousands of groups at a statewide year).
# The figures never split by provider (a provider filter is a WHERE).

_SPANS = """
    SELECT participant_id, municipality, module, exit_reason, gender, nationality,
           entered, exited,
           width_bucket(entered, $1::date[]) AS eb, width_bucket(exited, $1::date[]) AS xb
    FROM rm_module_stays
    WHERE programme = $2 AND entered <= $3
      AND ($4::text IS NULL OR municipality = $4) AND ($5::text IS NULL OR provider = $5)
"""

STAYS_SQL = f"""
WITH s AS ({_SPANS})
SELECT municipality, module, eb, xb, CASE WHEN xb BETWEEN 1 AND $6 THEN exit_reason END,
       count(*)
FROM s GROUP BY 1, 2, 3, 4, 5
"""

# A stay's stock bits: bit k (0 = the day before the period, 1..n the quarters' last
# days) set if the stay is open then; its entry bit: the quarter it began in. A
# person's bits at a level are the OR of their stays' there (``person_bits``).
# A person is the group of participants linked as the same person (``person_links``,
# transitively): keyed by the group's smallest participant id (as text: no min(uuid)
# before PostgreSQL 16; the same order as Python's UUID), else the participant's.
PERSONS_SQL = f"""
WITH RECURSIVE l AS (
    SELECT participant_id AS member, linked_to AS other FROM rm_person_links
    UNION
    SELECT l.member, k.linked_to FROM l JOIN rm_person_links k ON k.participant_id = l.other
), k AS (
    SELECT member, least(member::text, min(other::text))::uuid AS person FROM l GROUP BY member
), s AS ({_SPANS}), b AS (
    SELECT coalesce(k.person, s.participant_id) AS participant_id, municipality, module,
           CASE WHEN least(coalesce(xb, $6 + 1), $6 + 1) > eb
                THEN (1::bigint << least(coalesce(xb, $6 + 1), $6 + 1)) - (1::bigint << eb)
                ELSE 0 END AS sm,
           CASE WHEN eb BETWEEN 1 AND $6 THEN 1::bigint << eb ELSE 0 END AS em
    FROM s LEFT JOIN k ON k.member = s.participant_id
), p AS (
    SELECT municipality, module, bit_or(sm) AS sm, bit_or(em) AS em FROM b
    GROUP BY GROUPING SETS ((participant_id, municipality, module),
                            (participant_id, municipality), (participant_id))
)
SELECT municipality, module, sm, em, count(*) FROM p GROUP BY 1, 2, 3, 4
"""

# A date as the number YYYYMMDD: full years between two dates are the floor of the
# difference / 10000 (``person_facts.full_years``), cheaper than formatting dates.
_YMD = "(date_part('year', {d}) * 10000 + date_part('month', {d}) * 100 + date_part('day', {d}))"
# The age bands by ``width_bucket(age, ARRAY[18, 21, 25, 28])``.
_AGE_BANDS = (AGE_OTHER, "18-20", "21-24", "25-27", AGE_OTHER)

# The state on the reporting date for the stock: of each kind the fact valid on $3
# (``projections.person_facts``), filtered before the join so that PostgreSQL hashes
# one row per person and kind; the age from the age at intake, whatever the date.
_FACT_AT_END = """
LEFT JOIN rm_person_facts {a} ON {a}.participant_id = s.participant_id AND {a}.kind = '{kind}'
     AND {a}.valid_from <= $3 AND ({a}.valid_to IS NULL OR $3 < {a}.valid_to)"""
_AGE_BAND_AT_END = (
    "CASE width_bucket(a.value::int + floor(("
    + _YMD.format(d="$3::date")
    + " - "
    + _YMD.format(d="a.valid_from")
    + ") / 10000.0)::int, ARRAY[18, 21, 25, 28])"
    + "".join(f" WHEN {i} THEN '{band}'" for i, band in enumerate(_AGE_BANDS[1:4], start=1))
    + f" WHEN 0 THEN '{AGE_OTHER}' WHEN 4 THEN '{AGE_OTHER}' END"
)

# Entries are described by the state on the stay's first day, which the read model
# keeps with the stay (``projections.module_stays``); the stock by the state on the
# reporting date.
CHARS_SQL = f"""
WITH s AS (
    SELECT participant_id, municipality, module, gender, nationality, entered, exited,
           age_band, residence_status, language_level
    FROM rm_module_stays
    WHERE programme = $2 AND entered <= $3
      AND ($4::text IS NULL OR municipality = $4) AND ($5::text IS NULL OR provider = $5)
), v AS (
    SELECT municipality, module, 'entries' AS basis, gender, age_band, residence_status,
           nationality, language_level
    FROM s WHERE entered >= ($1::date[])[1]
    UNION ALL
    SELECT s.municipality, s.module, 'stock', s.gender, {_AGE_BAND_AT_END}, r.value,
           s.nationality, l.value
    FROM s
    {_FACT_AT_END.format(a="r", kind="residence_status")}
    {_FACT_AT_END.format(a="l", kind="language_level")}
    LEFT JOIN rm_person_facts a ON a.participant_id = s.participant_id AND a.kind = 'age'
    WHERE s.exited IS NULL OR s.exited > $3
), g AS (
    -- The full cross product first (one hash aggregation over the stays), then its
    -- margins: grouping sets over the stays themselves sorted them five times.
    SELECT municipality, module, basis, gender, age_band, residence_status, nationality,
           language_level, count(*) AS n
    FROM v GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
)
SELECT municipality, module, basis,
       GROUPING(gender, age_band, residence_status, nationality, language_level),
       gender, age_band, residence_status, nationality, language_level, sum(n)
FROM g GROUP BY municipality, module, basis, GROUPING SETS (
    (gender), (age_band), (residence_status), (nationality), (language_level))
"""
#: ``GROUPING(...)`` of each margin in ``CHARS_SQL``: the bits of the other four set.
_MARGIN_OF = {0b11111 ^ (1 << (len(DIMS) - 1 - i)): i for i in range(len(DIMS))}


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


async def fetch_groups(
    connections: Sequence[asyncpg.Connection], request: ReportRequest
) -> Counter[Any]:
    """The groups from the read models, the three queries side by side on the
    connections given (all inside the report's snapshot: ``reports.snapshots``)."""
    args = sql_arguments(request)
    # The longest first: with two connections the stays go after the persons.
    chars, persons, stays = await fetch_all(
        connections,
        [(CHARS_SQL, args[:5]), (PERSONS_SQL, args), (STAYS_SQL, args)],  # no buckets: 5
    )
    groups: Counter[Any] = Counter()
    for r in stays:
        groups[("stays", *r[:5])] += int(r[5])
    for r in persons:
        groups[("persons", r[0], r[1], int(r[2]), int(r[3]))] += int(r[4])
    for r in chars:
        i = _MARGIN_OF[r[3]]
        groups[("char", *r[:3], DIMS[i], r[4 + i])] += int(r[9])
    return groups


def stay_bits(eb: int, xb: int | None, n: int) -> tuple[int, int]:
    """A stay's stock and entry bits, exactly as ``PERSONS_SQL`` forms them."""
    hi = min(n + 1 if xb is None else xb, n + 1)
    stock = (1 << hi) - (1 << eb) if hi > eb else 0
    entry = 1 << eb if 1 <= eb <= n else 0
    return stock, entry


def _fact_at(facts: list[Mapping[str, Any]], day: date) -> str | None:
    for fact in facts:
        if fact["valid_from"] <= day and (fact["valid_to"] is None or day < fact["valid_to"]):
            return str(fact["value"])
    return None


def _age_band_at(facts: list[Mapping[str, Any]], day: date) -> str | None:
    if not facts:
        return None
    return age_band(int(facts[0]["value"]) + full_years(facts[0]["valid_from"], day))


def groups_from_rows(
    rows: Mapping[str, Iterable[Mapping[str, Any]]], request: ReportRequest
) -> Counter[Any]:
    """The groups from replayed rows: the three queries above, written in Python."""
    period = request.period
    n = len(period.buckets)
    facts: dict[tuple[Any, str], list[Mapping[str, Any]]] = {}
    for fact in rows["person_facts"]:
        facts.setdefault((fact["participant_id"], fact["kind"]), []).append(fact)
    groups: Counter[Any] = Counter()
    bits: dict[tuple[Any, ...], tuple[int, int]] = {}
    person = person_keys([(r["participant_id"], r["linked_to"]) for r in rows["person_links"]])
    for row in rows["module_stays"]:
        if not request.in_scope(row) or row["entered"] > period.end:
            continue
        m, mod, pid = row["municipality"], row["module"], row["participant_id"]
        eb = period.bucket_of(row["entered"])
        xb = period.bucket_of(row["exited"])
        assert eb is not None
        reason = row["exit_reason"] if xb is not None and 1 <= xb <= n else None
        groups[("stays", m, mod, eb, xb, reason)] += 1
        sm, em = stay_bits(eb, xb, n)
        key = person.get(pid, pid)
        for level in ((key, m, mod), (key, m, None), (key, None, None)):
            old = bits.get(level, (0, 0))
            bits[level] = (old[0] | sm, old[1] | em)
        states = []
        if eb >= 1:  # the state on the stay's first day, kept with the stay
            states.append(("entries", tuple(row[dim] for dim in DIMS)))
        if xb is None or xb > n:  # the state on the reporting date
            end = period.end
            at_end = (
                row["gender"],
                _age_band_at(facts.get((pid, "age"), []), end),
                _fact_at(facts.get((pid, "residence_status"), []), end),
                row["nationality"],
                _fact_at(facts.get((pid, "language_level"), []), end),
            )
            states.append(("stock", at_end))
        for basis, state in states:
            for dim, value in zip(DIMS, state, strict=True):
                groups[("char", m, mod, basis, dim, value)] += 1
    for (_pid, m, mod), (sm, em) in bits.items():
        groups[("persons", m, mod, sm, em)] += 1
    return groups


def _pool_nationalities(groups: Counter[Any], listed: tuple[str, ...]) -> Counter[Any]:
    """Nationalities the programme does not list count as one group (``other``)."""
    pooled: Counter[Any] = Counter()
    for group, count in groups.items():
        if (
            group[0] == "char"
            and group[4] == "nationality"
            and group[5] is not None
            and group[5] not in listed
        ):
            group = (*group[:5], OTHER_NATIONALITY)
        pooled[group] += count
    return pooled


def _person_cells(sm: int, em: int, n: int) -> list[tuple[str, int]]:
    """A person's cells at one level, from their bits (``persons_*`` families).

    A person counts in the stock of a quarter if any of their stays there is open on
    its last day; as an entry if they began a stay in the quarter and were not in
    the stock at its start; as an exit if they were in the stock at its start or
    entered, and are not in it at its end. So the stock identity holds for persons
    as for stays, and a person who changes modules, or leaves and comes back within
    a quarter, is no entry or exit of the totals.
    """
    cells: list[tuple[str, int]] = []
    for k in range(1, n + 1):
        before, after, entered = sm >> (k - 1) & 1, sm >> k & 1, em >> k & 1
        if after:
            cells.append(("persons_stock", k))
        if entered and not before:
            cells.append(("persons_entries", k))
        if (before or entered) and not after:
            cells.append(("persons_exits", k))
    if sm & 1:
        cells.append(("persons_stock", 0))
    return cells


def figures(groups: Counter[Any], request: ReportRequest, labels: Labels) -> Figures:
    period = request.period
    quarters = [b.label for b in period.buckets]
    n = len(quarters)
    stays = [g for g in groups if g[0] == "stays"]
    observed_m = {g[1] for g in stays}
    municipalities = labels.municipalities_in(request, observed_m)
    modules = labels.modules + sorted({g[2] for g in stays} - set(labels.modules))
    reasons = list(EXIT_REASONS)
    if labels.nationalities:
        groups = _pool_nationalities(groups, labels.nationalities)
    # A characteristic not known at the date (no language level assessed yet) is
    # ``unknown``, a row of its own.
    chars: Counter[tuple[Any, ...]] = Counter()
    for g, count in groups.items():
        if g[0] == "char":
            chars[(*g[1:5], g[5] if g[5] is not None else UNKNOWN)] += count
    observed: dict[str, set[Any]] = {dim: set() for dim in DIMS}
    for c in chars:
        observed[c[3]].add(c[4])
    # Rows for every value of the vocabulary, not only the observed ones: a row that
    # appears between two reports would say that someone with that value arrived.
    statuses = [s.value for s in ResidenceStatus]
    levels = [level.value for level in LanguageLevel]
    nationalities = (
        [*labels.nationalities, OTHER_NATIONALITY]
        if labels.nationalities
        else sorted(observed["nationality"])
    )
    values: dict[str, list[str]] = {
        "gender": list(GENDERS),
        "age_band": list(AGE_BANDS),
        "residence_status": statuses + sorted(observed["residence_status"] - set(statuses)),
        "nationality": nationalities,
        "language_level": [
            *levels,
            UNKNOWN,
            *sorted(observed["language_level"] - {*levels, UNKNOWN}),
        ],
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
            keys += [(family, m, mod, q) for family in PERSONS]
        keys.append(("entries", m, mod, "period"))
        keys += [("stock", m, mod, OPENING), ("cumulative", m, mod, OPENING)]
        keys.append(("persons_stock", m, mod, OPENING))
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
        if group[0] != "stays":
            continue
        _kind, m, mod, eb, xb, reason = group
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
    for (m, mod, basis, dim, value), count in chars.items():
        if m not in municipalities or mod not in modules:
            continue
        counted[(m, mod, "char", basis, dim, value)] += count

    # Sorted, so that cells outside the grid (an unexpected value) come in a fixed order.
    for (m, mod, *rest), count in sorted(counted.items(), key=lambda item: str(item[0])):
        for mm in (m, TOTAL) if multi else (m,):
            for mmod in (mod, TOTAL):
                f.add((rest[0], mm, mmod, *rest[1:]), count, sensitive=rest[-1] != OPENING)

    # People are counted at each level on their own (a person in two modules, or
    # two municipalities, is one person of the total): the query gives each
    # person's bits per module, per municipality and overall.
    quarter_of = {0: OPENING, **dict(enumerate(quarters, start=1))}
    people: Counter[Key] = Counter()
    for group, count in groups.items():
        if group[0] != "persons":
            continue
        _kind, m, mod, sm, em = group
        mm = TOTAL if m is None else m
        mmod = TOTAL if mod is None else mod
        if mm not in ms or mmod not in mods or (mm == TOTAL and m is not None):
            continue
        for family, k in _person_cells(sm, em, n):
            people[(family, mm, mmod, quarter_of[k])] += count
    for key, count in sorted(people.items(), key=lambda item: str(item[0])):
        f.add(key, count, sensitive=key[-1] != OPENING)

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
        if family in PERSONS:
            continue  # people: a total counts each person once, no sum of its parts
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
                # the same identity for people (see ``_person_cells``)
                f.relate(
                    ("persons_stock", m, mod, q),
                    [
                        ("persons_stock", m, mod, prev),
                        ("persons_entries", m, mod, q),
                        ("persons_exits", m, mod, q),
                    ],
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
        "Eintritte, Austritte und Bestand je Kommune, Förderbaustein und Quartal"
        " (Aufenthalte in Förderbausteinen und Personen)",
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
            Column("persons_entries", "Eintritte (Personen)"),
            Column("persons_exits", "Austritte (Personen)"),
            Column("persons_stock", "Bestand (Personen)"),
        ],
    )
    chars = TableDef(
        "merkmale",
        "Merkmale der Eintritte im Zeitraum (Stand bei Eintritt) und des Bestands am Ende"
        " des Zeitraums (Stand am Stichtag)",
        [
            Column("municipality", "Kommune"),
            Column("module", "Förderbaustein"),
            Column("basis", "Grundlage"),
            Column("dimension", "Merkmal"),
            Column("value", "Ausprägung"),
            # Before the count, which stays the last column (clients read it there).
            Column("characteristics_as_of", "Stand der Merkmale"),
            Column("count", "Anzahl"),
        ],
    )
    last = quarters[-1]
    value_labels = {"gender": GENDERS, "age_band": AGE_BANDS, "language_level": LANGUAGE_LEVELS}
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
                        *(Cell((family, m, mod, q)) for family in PERSONS),
                    ]
                )
            for basis, basis_label, total in (
                ("entries", "Eintritte im Zeitraum", ("entries", m, mod, "period")),
                ("stock", f"Bestand am {period.end.isoformat()}", ("stock", m, mod, last)),
            ):
                as_of = CHARACTERISTICS_AS_OF[basis].format(date=period.end.isoformat())
                chars.rows.append(
                    [name, _module(mod), basis_label, "insgesamt", "", as_of, Cell(total)]
                )
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
                                as_of,
                                Cell(("char", m, mod, basis, dim, v)),
                            ]
                        )
    return [flow, chars]
