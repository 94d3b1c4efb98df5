"""The outcome report: where people went, and apprenticeships and employment begun.

Per municipality and module: the destination (Verbleib) at exit and at follow-up
for exits and follow-ups dated in the period (read model ``outcomes``), and the
apprenticeships started, aborted and completed and the employments started by
type (regular, marginal, self-employed) in the period (read model
``transitions``). Counting unit: people, by the modules the outcome is attributed to
(``projections.attribution``: the stays open at the outcome's effective date, or else
ended last before it); a person in two modules counts in both, once in "Gesamt" (so
Gesamt is not the modules' sum).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from lotse.reports.cells import TOTAL, Cell, Column, Figures, TableDef
from lotse.reports.definition import Labels, ReportRequest
from lotse.reports.labels import ALL_MODULES, DESTINATIONS, EMPLOYMENT_TYPES, OUTCOME_KINDS

TABLES = ("outcomes", "transitions")
TRANSITIONS = {
    "apprenticeship_started": "Ausbildung begonnen",
    "apprenticeship_aborted": "Ausbildung abgebrochen",
    "apprenticeship_completed": "Ausbildung abgeschlossen",
    "employment_started": "Beschäftigung begonnen",
    "employment_ended": "Beschäftigung beendet",
}
STARTED = [t for t in TRANSITIONS if t != "employment_ended"]

_WHERE = (
    "WHERE programme = $1 AND effective_date BETWEEN $2 AND $3 "
    "AND ($4::text IS NULL OR municipality = $4) AND ($5::text IS NULL OR provider = $5)"
)
OUTCOMES_SQL = (
    "SELECT 'outcome', municipality, kind, destination, modules, count(*) "
    f"FROM rm_outcomes {_WHERE} GROUP BY 2, 3, 4, 5"
)
TRANSITIONS_SQL = (
    "SELECT 'transition', municipality, kind, employment_type, modules, count(*) "
    f"FROM rm_transitions {_WHERE} GROUP BY 2, 3, 4, 5"
)


def groups_from_rows(
    rows: Mapping[str, Iterable[Mapping[str, Any]]], request: ReportRequest
) -> Counter[Any]:
    groups: Counter[Any] = Counter()
    for row in rows["outcomes"]:
        if request.in_period_and_scope(row):
            key = ("outcome", row["municipality"], row["kind"], row["destination"])
            groups[(*key, tuple(row["modules"]))] += 1
    for row in rows["transitions"]:
        if request.in_period_and_scope(row):
            key = ("transition", row["municipality"], row["kind"], row["employment_type"])
            groups[(*key, tuple(row["modules"]))] += 1
    return groups


def figures(groups: Counter[Any], request: ReportRequest, labels: Labels) -> Figures:
    municipalities = labels.municipalities_in(request, {g[1] for g in groups})
    modules = labels.modules + sorted({mod for g in groups for mod in g[4]} - set(labels.modules))
    multi = len(municipalities) > 1
    ms = [*municipalities, TOTAL] if multi else list(municipalities)
    mods = [*modules, TOTAL]
    destinations = list(DESTINATIONS)
    types = list(EMPLOYMENT_TYPES)
    f = Figures()
    for m in ms:
        for mod in mods:
            for kind in OUTCOME_KINDS:
                for d in [*destinations, TOTAL]:
                    f.add(("outcome", m, mod, kind, d))
            for t in TRANSITIONS:
                f.add(("transition", m, mod, t))
            for t in types:
                f.add(("employment", m, mod, t))
    for (source, m, kind, detail, person_modules), count in sorted(
        groups.items(), key=lambda item: str(item[0])
    ):
        if m not in municipalities:
            continue
        for mm in (m, TOTAL) if multi else (m,):
            for mod in {*(x for x in person_modules if x in modules), TOTAL}:
                if source == "outcome":
                    f.add(("outcome", mm, mod, kind, detail), count)
                    f.add(("outcome", mm, mod, kind, TOTAL), count)
                else:
                    f.add(("transition", mm, mod, kind), count)
                    if kind == "employment_started" and detail in types:
                        f.add(("employment", mm, mod, detail), count)
    for m in ms:
        for mod in mods:
            for kind in OUTCOME_KINDS:
                f.relate(
                    ("outcome", m, mod, kind, TOTAL),
                    [("outcome", m, mod, kind, d) for d in destinations],
                )
            f.relate(
                ("transition", m, mod, "employment_started"),
                [("employment", m, mod, t) for t in types],
            )
    if multi:
        # The state's figures are the municipalities' sum (modules are not: people).
        for key in [k for k in f.cells if k[1] == TOTAL]:
            f.relate(key, [(key[0], m, *key[2:]) for m in municipalities])
    f.tables = _tables(ms, mods, destinations, types, labels)
    return f


def _tables(
    ms: list[str], mods: list[str], destinations: list[str], types: list[str], labels: Labels
) -> list[TableDef]:
    where = TableDef(
        "verbleib",
        "Verbleib bei Austritt und bei Nachbefragung (Personen)",
        [
            Column("municipality", "Kommune"),
            Column("module", "Förderbaustein"),
            Column("moment", "Zeitpunkt"),
            *(Column(d, DESTINATIONS[d]) for d in destinations),
            Column("total", "Gesamt"),
        ],
    )
    steps = TableDef(
        "uebergaenge",
        "Ausbildung und Beschäftigung im Zeitraum (Personen)",
        [
            Column("municipality", "Kommune"),
            Column("module", "Förderbaustein"),
            *(Column(t, TRANSITIONS[t]) for t in STARTED),
            *(Column(f"employment_{t}", f"davon {EMPLOYMENT_TYPES[t]}") for t in types),
            Column("employment_ended", TRANSITIONS["employment_ended"]),
        ],
    )
    for m in ms:
        name = labels.municipality(m)
        for mod in mods:
            shown = ALL_MODULES if mod == TOTAL else mod
            for kind, kind_label in OUTCOME_KINDS.items():
                where.rows.append(
                    [
                        name,
                        shown,
                        kind_label,
                        *(Cell(("outcome", m, mod, kind, d)) for d in destinations),
                        Cell(("outcome", m, mod, kind, TOTAL)),
                    ]
                )
            steps.rows.append(
                [
                    name,
                    shown,
                    *(Cell(("transition", m, mod, t)) for t in STARTED),
                    *(Cell(("employment", m, mod, t)) for t in types),
                    Cell(("transition", m, mod, "employment_ended")),
                ]
            )
    return [where, steps]
