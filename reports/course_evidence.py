"""Financial evidence from courses: held lesson hours priced once per course, fees at cost.

The programme's flat rate for a module held in courses is paid per *lesson hour
held by the course* (unit ``lesson_hour``; P4: 37.50 EUR pays a teacher's hour,
not a seat): a course of 42 held hours costs 42 x 37.50 = 1,575 EUR however many
attend. A programme may instead declare the unit ``participant_lesson_hour``:
then each hour is paid per participant marked present. Exam fees are paid at
their actual cost.

Sessions are counted in the quarter of their date, so a course running over two
quarters is billed in each for the hours held in it. Amounts are ``Decimal``,
rounded half-up to the cent per course and quarter; the totals per provider,
municipality and period add those amounts.

The proof is the attendance list of every session (Teilnehmendenliste): one
table per course, with participants' pseudonymous ids (never names), included
only for roles that may see participant ids. Lesson hours recorded per
participant before courses existed (``CourseAttendanceRecorded``) stay in the
``unterrichtsstunden`` table as legacy evidence and are not counted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lotse.domain.configuration import FlatRate, Programme
from lotse.reports.cells import TOTAL, Cell, Column, Figures, TableDef
from lotse.reports.definition import Labels, ReportRequest
from lotse.reports.labels import ALL_PROVIDERS
from lotse.reports.periods import Period
from lotse.reports.snapshots import Query, fetch_all

CENT = Decimal("0.01")
ALL_QUARTERS = "Gesamtzeitraum"
LIST_PREFIX = "Teilnehmendenliste_"

_SCOPE = "AND ($4::text IS NULL OR municipality = $4) AND ($5::text IS NULL OR provider = $5)"
COURSES_SQL = (
    "SELECT course_id::text, programme, module, provider, municipality, title, course_type "
    f"FROM rm_courses WHERE programme = $1 AND $2::date <= end_date AND start_date <= $3 {_SCOPE}"
)
SESSIONS_SQL = (
    "SELECT course_id::text, session_id::text, session_date, lesson_hours, present, absent, "
    "excused, "
    "municipality, provider FROM rm_course_sessions "
    f"WHERE programme = $1 AND session_date BETWEEN $2 AND $3 {_SCOPE}"
)
#: Without the lists, the sessions are added up per course and quarter in PostgreSQL:
#: a statewide year has hundreds of thousands of sessions but only thousands of
#: courses, and ``add`` needs no more than these sums (the hours paid per attending
#: participant are summed per session first, as ``add`` does for single sessions).
SESSION_SUMS_SQL = (
    "SELECT course_id::text, min(session_date) AS session_date, count(*) AS sessions, "
    "sum(lesson_hours) AS lesson_hours, sum(present) AS present, sum(absent) AS absent, "
    "sum(excused) AS excused, sum(lesson_hours * present) AS participant_hours "
    "FROM rm_course_sessions "
    f"WHERE programme = $1 AND session_date BETWEEN $2 AND $3 {_SCOPE} "
    "GROUP BY course_id, date_trunc('quarter', session_date::timestamp)"
)
#: The same sums kept per course and quarter by the read model ``course_quarters``:
#: for a period of whole quarters (``whole_quarters``) they are read, not added up.
QUARTER_SUMS_SQL = (
    "SELECT course_id::text, first_session AS session_date, sessions, lesson_hours, present, "
    "absent, excused, participant_hours FROM rm_course_quarters "
    f"WHERE programme = $1 AND quarter_start BETWEEN $2 AND $3 {_SCOPE}"
)
FEES_SQL = (
    "SELECT course_id::text, effective_date, amount_eur, municipality, provider "
    "FROM rm_course_fees "
    f"WHERE programme = $1 AND effective_date BETWEEN $2 AND $3 {_SCOPE}"
)
ATTENDANCE_SQL = (
    "SELECT course_id::text, session_id::text, session_date, participant_id::text, status, "
    "municipality, provider FROM rm_course_attendance "
    f"WHERE programme = $1 AND session_date BETWEEN $2 AND $3 {_SCOPE} "
    "ORDER BY course_id, session_date, session_id, participant_id"
)


@dataclass
class CourseRows:
    """The rows of the ``courses`` read model a report needs, in scope and period."""

    courses: list[Mapping[str, Any]] = field(default_factory=list)
    sessions: list[Mapping[str, Any]] = field(default_factory=list)
    """Single sessions, or sums per course and quarter (``sessions``: how many,
    ``participant_hours``: lesson hours x present, added up per session)."""
    fees: list[Mapping[str, Any]] = field(default_factory=list)
    attendance: list[Mapping[str, Any]] | None = None
    """Only with evidence (roles that may see participant ids)."""


def whole_quarters(period: Period) -> bool:
    """Whether the period begins on a quarter's first day and ends on a quarter's last."""
    last = period.buckets[-1]
    return (
        period.start.day == 1
        and period.start.month % 3 == 1
        and (last.end + timedelta(days=1)).day == 1
        and (last.end + timedelta(days=1)).month % 3 == 1
    )


def queries(request: ReportRequest, *, evidence: bool) -> list[Query]:
    """The read-model queries of a report's course evidence (``rows_of`` takes their rows)."""
    args = request.period_arguments()
    if evidence:
        sessions = SESSIONS_SQL
    elif whole_quarters(request.period):
        sessions = QUARTER_SUMS_SQL
    else:
        sessions = SESSION_SUMS_SQL
    found: list[Query] = [(COURSES_SQL, args), (sessions, args), (FEES_SQL, args)]
    if evidence:
        found.append((ATTENDANCE_SQL, args))
    return found


def rows_of(results: Sequence[Sequence[Mapping[str, Any]]]) -> CourseRows:
    """The rows of ``queries``, in their order."""
    rows = CourseRows(
        courses=[dict(r) for r in results[0]],
        sessions=[dict(r) for r in results[1]],
        fees=[dict(r) for r in results[2]],
    )
    if len(results) > 3:
        rows.attendance = [dict(r) for r in results[3]]
    return rows


async def fetch(conn: Any, request: ReportRequest, *, evidence: bool) -> CourseRows:
    """The course evidence of a report, read on one connection."""
    return rows_of(await fetch_all([conn], queries(request, evidence=evidence)))


def from_replayed(
    rows: Mapping[str, Iterable[Mapping[str, Any]]], request: ReportRequest, *, evidence: bool
) -> CourseRows:
    """The same rows from a replay of the log (``reports.sources.replay``)."""
    p = request.period

    def in_scope(row: Mapping[str, Any]) -> bool:
        return request.in_scope(row)

    def dated(row: Mapping[str, Any], column: str) -> bool:
        return p.start <= row[column] <= p.end and in_scope(row)

    courses = [
        r
        for r in rows.get("rm_courses", [])
        if in_scope(r) and p.start <= r["end_date"] and r["start_date"] <= p.end
    ]
    attendance = [r for r in rows.get("rm_course_attendance", []) if dated(r, "session_date")]
    attendance.sort(
        key=lambda r: (
            str(r["course_id"]),
            r["session_date"],
            str(r["session_id"]),
            str(r["participant_id"]),
        )
    )
    return CourseRows(
        courses=courses,
        sessions=[r for r in rows.get("rm_course_sessions", []) if dated(r, "session_date")],
        fees=[r for r in rows.get("rm_course_fees", []) if dated(r, "effective_date")],
        attendance=attendance if evidence else None,
    )


def rate_of(programme: Programme, module: str) -> FlatRate | None:
    """The flat rate of a module held in courses, per held or per attended hour."""
    return next(
        (
            r
            for r in programme.flat_rates
            if r.module == module and r.unit in ("lesson_hour", "participant_lesson_hour")
        ),
        None,
    )


def _quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def add(
    f: Figures, rows: CourseRows, request: ReportRequest, labels: Labels, programme: Programme
) -> None:
    """Add the course cells and tables to a financial report's figures.

    Courses are keyed by their id as text (the read models' queries return it so;
    a replay's ``UUID`` is converted): a statewide year has thousands of courses,
    and hashing and printing UUID objects was a measurable share of the report.
    """
    courses = {str(r["course_id"]): r for r in rows.courses}
    quarters = [b.label for b in request.period.buckets]
    # Per course, and per (municipality, provider, quarter) with totals.
    per_course: dict[str, list[Any]] = {cid: [0, Decimal(0), 0, 0, 0] for cid in courses}
    amounts: dict[tuple[str, str], Decimal] = {}
    hours_by: dict[tuple[str, str], Decimal] = {}
    by_module: dict[str, FlatRate | None] = {}
    for course in courses.values():
        if course["module"] not in by_module:
            by_module[course["module"]] = rate_of(programme, course["module"])
    rates = {cid: by_module[course["module"]] for cid, course in courses.items()}
    # The quarters in which a course held a session or paid a fee: only those add
    # to the cells (the others would add zeros to cells that start at zero).
    active: dict[str, set[str]] = {}
    quarter_of: dict[date, str] = {}
    for s in rows.sessions:
        cid = str(s["course_id"])
        c = per_course.get(cid)
        if c is None:
            continue
        hours = Decimal(s["lesson_hours"])
        c[0] += int(s.get("sessions", 1))
        c[1] += hours
        c[2] += int(s["present"])
        c[3] += int(s["absent"])
        c[4] += int(s["excused"])
        rate = rates[cid]
        if rate is None or rate.unit == "lesson_hour":
            units = hours
        elif "participant_hours" in s:
            units = Decimal(s["participant_hours"])
        else:
            units = hours * int(s["present"])
        day = s["session_date"]
        q = quarter_of.get(day)
        if q is None:
            q = quarter_of[day] = _quarter(day)
        active.setdefault(cid, set()).add(q)
        at = (cid, q)
        hours_by[at] = hours_by.get(at, Decimal(0)) + hours
        amounts[at] = amounts.get(at, Decimal(0)) + (
            units * rate.amount_eur if rate is not None else Decimal(0)
        )
    fees_by: dict[tuple[str, str], Decimal] = {}
    for fee in rows.fees:
        cid = str(fee["course_id"])
        if cid in courses:
            at = (cid, _quarter(fee["effective_date"]))
            active.setdefault(cid, set()).add(at[1])
            fees_by[at] = fees_by.get(at, Decimal(0)) + Decimal(fee["amount_eur"])

    providers = sorted({c["provider"] for c in courses.values()})
    municipalities = sorted({c["municipality"] for c in courses.values()})
    # The cells of the pairs that ran courses and their totals, which the tables
    # show: every municipality by every provider also made zero cells for pairs
    # without a course and without a row (180 of 56,497 cells statewide in
    # bench/reports.py, where most providers serve one municipality).
    grid = [
        *sorted({(c["municipality"], c["provider"]) for c in courses.values()}),
        *((m, TOTAL) for m in municipalities),
        *((TOTAL, p) for p in providers),
        (TOTAL, TOTAL),
    ]
    periods = [*quarters, TOTAL]
    families = ("course_hours", "course_amount", "course_fees")
    for m, p in grid:
        for q in periods:
            for family in families:
                f.add((family, m, p, q), Decimal(0), sensitive=False)
    # Added up per (municipality, provider, quarter) first, then into the totals:
    # the same exact sums with a few cell additions instead of 24 per course and quarter.
    sums: dict[tuple[str, str, str], list[Decimal]] = {}
    cells = f.cells  # each course's own cells are set once: no cell to add to
    zero = Decimal(0)
    for cid, course in courses.items():
        c = per_course[cid]
        total_amount = Decimal("0.00")
        total_fees = Decimal("0.00")
        held_in = active.get(cid, ())
        for q in quarters:
            if q not in held_in:
                continue
            at = (cid, q)
            amount = amounts.get(at, zero).quantize(CENT, ROUND_HALF_UP)
            fees = fees_by.get(at, zero).quantize(CENT)
            total_amount += amount
            total_fees += fees
            summed = sums.setdefault((course["municipality"], course["provider"], q), [])
            summed.append(hours_by.get(at, zero))
            summed.append(amount)
            summed.append(fees)
        cells["course_sessions", cid] = c[0]
        cells["course_held", cid] = c[1].quantize(CENT)
        cells["course_present", cid] = c[2]
        cells["course_absent", cid] = c[3]
        cells["course_excused", cid] = c[4]
        cells["course_p", cid] = total_amount
        cells["course_exam_fees", cid] = total_fees
    for (municipality, provider, q), values in sums.items():
        hours = sum(values[0::3], Decimal(0))
        amount = sum(values[1::3], Decimal(0))
        fees = sum(values[2::3], Decimal(0))
        for m in (municipality, TOTAL):
            for p in (provider, TOTAL):
                for qq in (q, TOTAL):
                    f.add(("course_hours", m, p, qq), hours, sensitive=False)
                    f.add(("course_amount", m, p, qq), amount, sensitive=False)
                    f.add(("course_fees", m, p, qq), fees, sensitive=False)
    for m, p in grid:
        for q in periods:
            for family in families:
                key = (family, m, p, q)
                cells[key] = Decimal(cells[key]).quantize(CENT)
    f.tables.extend(_tables(courses, by_module, providers, municipalities, quarters, rows, labels))


def _tables(
    courses: Mapping[str, Mapping[str, Any]],
    rates: Mapping[str, FlatRate | None],
    providers: list[str],
    municipalities: list[str],
    quarters: list[str],
    rows: CourseRows,
    labels: Labels,
) -> list[TableDef]:
    """The tables; ``rates`` by module (``rate_of``)."""
    per_course = TableDef(
        "kurse",
        "Kurse: gehaltene Unterrichtsstunden (UE), Anwesenheiten und Pauschale je Kurs",
        [
            Column("municipality", "Kommune"),
            Column("provider", "Träger"),
            Column("course_id", "Kurs-ID"),
            Column("title", "Kurstitel"),
            Column("module", "Förderbaustein"),
            Column("course_type", "Kursart"),
            Column("sessions", "Sitzungen"),
            Column("lesson_hours", "UE gehalten"),
            Column("present", "anwesend"),
            Column("absent", "abwesend"),
            Column("excused", "entschuldigt"),
            Column("rate_code", "Pauschale"),
            Column("rate_unit", "Einheit"),
            Column("rate", "EUR je Einheit"),
            Column("amount", "Betrag (EUR)"),
            Column("exam_fees", "Prüfungsgebühren (EUR, Ist-Kosten)"),
        ],
    )
    ordered = sorted(
        courses.items(), key=lambda kv: (kv[1]["municipality"], kv[1]["provider"], kv[1]["title"])
    )
    for key, course in ordered:
        rate = rates[course["module"]]
        per_course.rows.append(
            [
                labels.municipality(course["municipality"]),
                labels.providers.get(course["provider"], course["provider"]),
                key,
                course["title"],
                course["module"],
                course["course_type"],
                Cell(("course_sessions", key)),
                Cell(("course_held", key)),
                Cell(("course_present", key)),
                Cell(("course_absent", key)),
                Cell(("course_excused", key)),
                rate.code if rate else None,
                ("UE des Kurses" if rate.unit == "lesson_hour" else "UE je Anwesende")
                if rate
                else None,
                rate.amount_eur if rate else None,
                Cell(("course_p", key)),
                Cell(("course_exam_fees", key)),
            ]
        )
    periods = TableDef(
        "kurse_quartale",
        "Kurspauschalen je Kommune, Träger und Quartal (Summe je Kommune und Zeitraum)",
        [
            Column("municipality", "Kommune"),
            Column("provider", "Träger"),
            Column("quarter", "Quartal"),
            Column("lesson_hours", "UE gehalten"),
            Column("amount", "Pauschalen (EUR)"),
            Column("exam_fees", "Prüfungsgebühren (EUR)"),
        ],
    )
    pairs = {(c["municipality"], c["provider"]) for c in courses.values()}
    for m in [*municipalities, TOTAL]:
        in_m = [p for p in providers if m == TOTAL or (m, p) in pairs]
        for p in [*in_m, TOTAL]:
            for q in [*quarters, TOTAL]:
                periods.rows.append(
                    [
                        labels.municipality(m),
                        ALL_PROVIDERS if p == TOTAL else labels.providers.get(p, p),
                        ALL_QUARTERS if q == TOTAL else q,
                        Cell(("course_hours", m, p, q)),
                        Cell(("course_amount", m, p, q)),
                        Cell(("course_fees", m, p, q)),
                    ]
                )
    tables = [per_course, periods]
    if rows.attendance is not None:
        hours = {
            (str(s["course_id"]), str(s["session_id"])): s["lesson_hours"] for s in rows.sessions
        }
        lists: dict[str, TableDef] = {}
        for mark in rows.attendance:
            cid = str(mark["course_id"])
            if cid not in courses:
                continue
            table = lists.get(cid)
            if table is None:
                table = lists[cid] = TableDef(
                    LIST_PREFIX + str(cid)[:8],
                    f"Teilnehmendenliste: {courses[cid]['title']} ({cid})",
                    [
                        Column("session_date", "Datum"),
                        Column("session_id", "Sitzung"),
                        Column("lesson_hours", "UE"),
                        Column("participant_id", "Teilnehmenden-ID (Pseudonym)"),
                        Column("status", "Anwesenheit"),
                    ],
                )
            table.rows.append(
                [
                    mark["session_date"].isoformat(),
                    str(mark["session_id"]),
                    Decimal(hours.get((cid, str(mark["session_id"])), 0)).quantize(CENT),
                    str(mark["participant_id"]),
                    _STATUS.get(mark["status"], mark["status"]),
                ]
            )
        tables.extend(lists[cid] for cid, _ in ordered if cid in lists)
    return tables


_STATUS = {"present": "anwesend", "absent": "abwesend", "excused": "entschuldigt"}
