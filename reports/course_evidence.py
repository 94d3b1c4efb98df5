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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lotse.domain.configuration import FlatRate, Programme
from lotse.reports.cells import TOTAL, Cell, Column, Figures, TableDef
from lotse.reports.definition import Labels, ReportRequest
from lotse.reports.labels import ALL_PROVIDERS

CENT = Decimal("0.01")
ALL_QUARTERS = "Gesamtzeitraum"
LIST_PREFIX = "Teilnehmendenliste_"

_SCOPE = "AND ($4::text IS NULL OR municipality = $4) AND ($5::text IS NULL OR provider = $5)"
COURSES_SQL = (
    "SELECT course_id, programme, module, provider, municipality, title, course_type "
    f"FROM rm_courses WHERE programme = $1 AND $2::date <= end_date AND start_date <= $3 {_SCOPE}"
)
SESSIONS_SQL = (
    "SELECT course_id, session_id, session_date, lesson_hours, present, absent, excused, "
    "municipality, provider FROM rm_course_sessions "
    f"WHERE programme = $1 AND session_date BETWEEN $2 AND $3 {_SCOPE}"
)
FEES_SQL = (
    "SELECT course_id, effective_date, amount_eur, municipality, provider FROM rm_course_fees "
    f"WHERE programme = $1 AND effective_date BETWEEN $2 AND $3 {_SCOPE}"
)
ATTENDANCE_SQL = (
    "SELECT course_id, session_id, session_date, participant_id, status, municipality, provider "
    "FROM rm_course_attendance "
    f"WHERE programme = $1 AND session_date BETWEEN $2 AND $3 {_SCOPE} "
    "ORDER BY course_id, session_date, session_id, participant_id"
)


@dataclass
class CourseRows:
    """The rows of the ``courses`` read model a report needs, in scope and period."""

    courses: list[Mapping[str, Any]] = field(default_factory=list)
    sessions: list[Mapping[str, Any]] = field(default_factory=list)
    fees: list[Mapping[str, Any]] = field(default_factory=list)
    attendance: list[Mapping[str, Any]] | None = None
    """Only with evidence (roles that may see participant ids)."""


async def fetch(conn: Any, request: ReportRequest, *, evidence: bool) -> CourseRows:
    args = request.period_arguments()
    rows = CourseRows(
        courses=[dict(r) for r in await conn.fetch(COURSES_SQL, *args)],
        sessions=[dict(r) for r in await conn.fetch(SESSIONS_SQL, *args)],
        fees=[dict(r) for r in await conn.fetch(FEES_SQL, *args)],
    )
    if evidence:
        rows.attendance = [dict(r) for r in await conn.fetch(ATTENDANCE_SQL, *args)]
    return rows


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
    """Add the course cells and tables to a financial report's figures."""
    courses = {r["course_id"]: r for r in rows.courses}
    quarters = [b.label for b in request.period.buckets]
    # Per course, and per (municipality, provider, quarter) with totals.
    per_course: dict[Any, dict[str, Any]] = {
        cid: {"sessions": 0, "hours": Decimal(0), "present": 0, "absent": 0, "excused": 0}
        for cid in courses
    }
    amounts: dict[tuple[Any, str], Decimal] = {}
    hours_by: dict[tuple[Any, str], Decimal] = {}
    for s in rows.sessions:
        cid = s["course_id"]
        if cid not in courses:
            continue
        c = per_course[cid]
        hours = Decimal(s["lesson_hours"])
        c["sessions"] += 1
        c["hours"] += hours
        for status in ("present", "absent", "excused"):
            c[status] += int(s[status])
        rate = rate_of(programme, courses[cid]["module"])
        units = hours if rate is None or rate.unit == "lesson_hour" else hours * int(s["present"])
        q = _quarter(s["session_date"])
        hours_by[cid, q] = hours_by.get((cid, q), Decimal(0)) + hours
        amounts[cid, q] = amounts.get((cid, q), Decimal(0)) + (
            units * rate.amount_eur if rate is not None else Decimal(0)
        )
    fees_by: dict[tuple[Any, str], Decimal] = {}
    for fee in rows.fees:
        if fee["course_id"] in courses:
            at = (fee["course_id"], _quarter(fee["effective_date"]))
            fees_by[at] = fees_by.get(at, Decimal(0)) + Decimal(fee["amount_eur"])

    providers = sorted({c["provider"] for c in courses.values()})
    municipalities = sorted({c["municipality"] for c in courses.values()})
    for m in [*municipalities, TOTAL]:
        for p in [*providers, TOTAL]:
            for q in [*quarters, TOTAL]:
                for family in ("course_hours", "course_amount", "course_fees"):
                    f.add((family, m, p, q), Decimal(0), sensitive=False)
    for cid, course in courses.items():
        c = per_course[cid]
        total_amount = Decimal(0)
        total_fees = Decimal(0)
        for q in quarters:
            amount = amounts.get((cid, q), Decimal(0)).quantize(CENT, ROUND_HALF_UP)
            fees = fees_by.get((cid, q), Decimal(0)).quantize(CENT)
            hours = hours_by.get((cid, q), Decimal(0))
            total_amount += amount
            total_fees += fees
            for m in (course["municipality"], TOTAL):
                for p in (course["provider"], TOTAL):
                    for qq in (q, TOTAL):
                        f.add(("course_hours", m, p, qq), hours, sensitive=False)
                        f.add(("course_amount", m, p, qq), amount, sensitive=False)
                        f.add(("course_fees", m, p, qq), fees, sensitive=False)
        key = str(cid)
        f.add(("course_sessions", key), c["sessions"], sensitive=False)
        f.add(("course_held", key), c["hours"].quantize(CENT), sensitive=False)
        for status in ("present", "absent", "excused"):
            f.add((f"course_{status}", key), c[status], sensitive=False)
        f.add(("course_p", key), total_amount, sensitive=False)
        f.add(("course_exam_fees", key), total_fees, sensitive=False)
    for k in list(f.cells):
        if k[0] in ("course_hours", "course_amount", "course_fees"):
            f.cells[k] = Decimal(f.cells[k]).quantize(CENT)
    f.tables.extend(_tables(courses, providers, municipalities, quarters, rows, labels, programme))


def _tables(
    courses: Mapping[Any, Mapping[str, Any]],
    providers: list[str],
    municipalities: list[str],
    quarters: list[str],
    rows: CourseRows,
    labels: Labels,
    programme: Programme,
) -> list[TableDef]:
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
    for cid, course in ordered:
        rate = rate_of(programme, course["module"])
        key = str(cid)
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
    for m in [*municipalities, TOTAL]:
        in_m = [
            p
            for p in providers
            if any(
                c["provider"] == p and (m == TOTAL or c["municipality"] == m)
                for c in courses.values()
            )
        ]
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
        hours = {(s["course_id"], s["session_id"]): s["lesson_hours"] for s in rows.sessions}
        lists: dict[Any, TableDef] = {}
        for mark in rows.attendance:
            cid = mark["course_id"]
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
                    Decimal(hours.get((cid, mark["session_id"]), 0)).quantize(CENT),
                    str(mark["participant_id"]),
                    _STATUS.get(mark["status"], mark["status"]),
                ]
            )
        tables.extend(lists[cid] for cid, _ in ordered if cid in lists)
    return tables


_STATUS = {"present": "anwesend", "absent": "abwesend", "excused": "entschuldigt"}
