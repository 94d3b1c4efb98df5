"""Financial evidence: counted units per provider, priced with the programme's flat rates.

Per provider and module: lesson hours held and attended (read model ``units``), and
the amount = hours held x the flat rate configured for that module and unit (P4:
37.50 EUR per lesson hour in F4); per provider the coaching contacts, how many the
participant confirmed, and their minutes. Amounts are ``Decimal``, never float,
rounded half-up to the cent per provider and module; totals add those amounts.

Traceability: the ``nachweise`` table lists every event behind the totals (its
notification position, participant id and version, and the version of a
correction that changed it), so an auditor can add them up again and look each
one up in the event log. It is included only for roles that may see participant
ids; funders get the totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lotse.domain.configuration import Programme
from lotse.projections.units import COACHING, LESSONS
from lotse.reports.cells import TOTAL, Cell, Column, Figures, TableDef
from lotse.reports.definition import Labels, ReportRequest
from lotse.reports.labels import ALL_MODULES, ALL_PROVIDERS

#: ``courses``: the evidence per course (``reports.course_evidence``), added to these figures.
#: ``course_quarters``: the same courses' sessions added up per quarter.
TABLES = ("units", "courses", "course_quarters")
CENT = Decimal("0.01")
HOURS = Decimal("0.01")

_WHERE = (
    "WHERE programme = $1 AND effective_date BETWEEN $2 AND $3 "
    "AND ($4::text IS NULL OR municipality = $4) AND ($5::text IS NULL OR provider = $5)"
)
GROUPS_SQL = (
    "SELECT municipality, provider, module, kind, count(*), "
    "count(*) FILTER (WHERE confirmed), coalesce(sum(lesson_hours), 0), "
    "coalesce(sum(lesson_hours_attended), 0), coalesce(sum(minutes), 0) "
    f"FROM rm_units {_WHERE} GROUP BY 1, 2, 3, 4"
)
EVIDENCE_COLUMNS = (
    "position",
    "participant_id",
    "version",
    "kind",
    "effective_date",
    "municipality",
    "provider",
    "module",
    "lesson_hours",
    "lesson_hours_attended",
    "minutes",
    "mode",
    "confirmed",
    "corrected_by_version",
)
EVIDENCE_SQL = f"SELECT {', '.join(EVIDENCE_COLUMNS)} FROM rm_units {_WHERE} ORDER BY position"

Groups = dict[tuple[str, str, str, str], list[Any]]


def groups_from_records(records: Iterable[tuple[Any, ...]]) -> Groups:
    return {
        (r[0], r[1], r[2], r[3]): [int(r[4]), int(r[5]), Decimal(r[6]), Decimal(r[7]), int(r[8])]
        for r in records
    }


def groups_from_rows(
    rows: Mapping[str, Iterable[Mapping[str, Any]]], request: ReportRequest
) -> tuple[Groups, list[Mapping[str, Any]]]:
    groups: Groups = {}
    evidence = []
    for row in rows["units"]:
        if not request.in_period_and_scope(row):
            continue
        evidence.append(row)
        key = (row["municipality"], row["provider"], row["module"], row["kind"])
        g = groups.setdefault(key, [0, 0, Decimal(0), Decimal(0), 0])
        g[0] += 1
        g[1] += bool(row["confirmed"])
        g[2] += row["lesson_hours"] or 0
        g[3] += row["lesson_hours_attended"] or 0
        g[4] += row["minutes"] or 0
    evidence.sort(key=lambda r: r["position"])
    return groups, evidence


def rate_for(programme: Programme, module: str, unit: str) -> Decimal | None:
    for rate in programme.flat_rates:
        if rate.module == module and rate.unit == unit:
            return rate.amount_eur
    return None


def figures(
    groups: Groups,
    evidence: list[Mapping[str, Any]] | None,
    request: ReportRequest,
    labels: Labels,
    programme: Programme,
) -> Figures:
    providers = sorted({g[1] for g in groups})
    if request.provider is not None:
        providers = [request.provider]
    else:
        municipalities = set(labels.municipalities_in(request, {g[0] for g in groups}))
        configured = [p for p, m in labels.provider_municipality.items() if m in municipalities]
        providers = sorted(set(providers) | set(configured))
    rated = [r.module for r in programme.flat_rates if r.unit == "lesson_hour"]
    modules = sorted({g[2] for g in groups if g[3] == LESSONS} | set(rated))
    f = Figures()
    for p in [*providers, TOTAL]:
        for mod in [*modules, TOTAL]:
            for family in ("lesson_entries", "held", "attended", "amount"):
                f.add(
                    (family, p, mod),
                    0 if family == "lesson_entries" else Decimal(0),
                    sensitive=False,
                )
        for family in ("contacts", "confirmed", "minutes"):
            f.add((family, p), 0, sensitive=False)
    for (_m, p, mod, kind), (count, confirmed, held, attended, minutes) in sorted(groups.items()):
        if p not in providers:
            continue
        for pp in (p, TOTAL):
            if kind == LESSONS:
                for mm in (mod, TOTAL):
                    f.add(("lesson_entries", pp, mm), count, sensitive=False)
                    f.add(("held", pp, mm), held, sensitive=False)
                    f.add(("attended", pp, mm), attended, sensitive=False)
            elif kind == COACHING:
                f.add(("contacts", pp), count, sensitive=False)
                f.add(("confirmed", pp), confirmed, sensitive=False)
                f.add(("minutes", pp), minutes, sensitive=False)
    for key in list(f.cells):
        if key[0] in ("held", "attended"):
            f.cells[key] = Decimal(f.cells[key]).quantize(HOURS)
    # Money per provider and module, then added up: the sum of the amounts shown.
    for p in providers:
        for mod in modules:
            rate = rate_for(programme, mod, "lesson_hour")
            if rate is not None:
                amount = (Decimal(f.value(("held", p, mod))) * rate).quantize(CENT, ROUND_HALF_UP)
                for key in (
                    ("amount", p, mod),
                    ("amount", p, TOTAL),
                    ("amount", TOTAL, mod),
                    ("amount", TOTAL, TOTAL),
                ):
                    f.cells[key] = Decimal(f.value(key)) + amount
    for key in list(f.cells):
        if key[0] == "amount":
            f.cells[key] = Decimal(f.cells[key]).quantize(CENT)
    f.tables = _tables(providers, modules, labels, programme, evidence)
    return f


def _tables(
    providers: list[str],
    modules: list[str],
    labels: Labels,
    programme: Programme,
    evidence: list[Mapping[str, Any]] | None,
) -> list[TableDef]:
    lessons = TableDef(
        "unterrichtsstunden",
        # Recorded per participant before courses existed: legacy evidence, billed
        # apart from the courses' held hours (reports.course_evidence), never twice.
        "Altnachweise: Unterrichtsstunden (UE) je Teilnehmende und Pauschalen je Träger "
        "und Förderbaustein",
        [
            Column("municipality", "Kommune"),
            Column("provider", "Träger"),
            Column("module", "Förderbaustein"),
            Column("entries", "Nachweise"),
            Column("lesson_hours", "UE gehalten"),
            Column("lesson_hours_attended", "UE besucht"),
            Column("rate", "Pauschale (EUR je UE)"),
            Column("amount", "Betrag (EUR)"),
        ],
    )
    coaching = TableDef(
        "coaching",
        "Coaching-Kontakte je Träger",
        [
            Column("municipality", "Kommune"),
            Column("provider", "Träger"),
            Column("contacts", "Kontakte"),
            Column("confirmed", "davon von Teilnehmenden bestätigt"),
            Column("minutes", "Minuten"),
        ],
    )
    for p in [*providers, TOTAL]:
        municipality = (
            "" if p == TOTAL else labels.municipality(labels.provider_municipality.get(p, p))
        )
        name = ALL_PROVIDERS if p == TOTAL else labels.providers.get(p, p)
        for mod in [*modules, TOTAL]:
            rate = rate_for(programme, mod, "lesson_hour") if mod != TOTAL else None
            lessons.rows.append(
                [
                    municipality,
                    name,
                    ALL_MODULES if mod == TOTAL else mod,
                    Cell(("lesson_entries", p, mod)),
                    Cell(("held", p, mod)),
                    Cell(("attended", p, mod)),
                    rate,
                    Cell(("amount", p, mod)),
                ]
            )
        coaching.rows.append(
            [
                municipality,
                name,
                Cell(("contacts", p)),
                Cell(("confirmed", p)),
                Cell(("minutes", p)),
            ]
        )
    tables = [lessons, coaching]
    if evidence is not None:
        trail = TableDef(
            "nachweise",
            "Einzelnachweise: jedes Ereignis hinter den Summen",
            [
                Column("position", "Position im Ereignisprotokoll"),
                Column("participant_id", "Teilnehmenden-ID"),
                Column("version", "Version"),
                Column("kind", "Art"),
                Column("effective_date", "Datum"),
                Column("provider", "Träger"),
                Column("module", "Förderbaustein"),
                Column("lesson_hours", "UE gehalten"),
                Column("lesson_hours_attended", "UE besucht"),
                Column("minutes", "Minuten"),
                Column("mode", "Kontaktart"),
                Column("confirmed", "bestätigt"),
                Column("corrected_by_version", "korrigiert durch Version"),
            ],
        )
        for r in evidence:
            trail.rows.append(
                [
                    int(r["position"]),
                    str(r["participant_id"]),
                    int(r["version"]),
                    "Unterricht" if r["kind"] == LESSONS else "Coaching",
                    r["effective_date"].isoformat(),
                    r["provider"],
                    r["module"],
                    None
                    if r["lesson_hours"] is None
                    else Decimal(r["lesson_hours"]).quantize(HOURS),
                    None
                    if r["lesson_hours_attended"] is None
                    else Decimal(r["lesson_hours_attended"]).quantize(HOURS),
                    r["minutes"],
                    r["mode"],
                    None if r["confirmed"] is None else ("ja" if r["confirmed"] else "nein"),
                    r["corrected_by_version"],
                ]
            )
        tables.append(trail)
    return tables
