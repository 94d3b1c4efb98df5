"""Benchmark data: a statewide year of courses on top of ``api.demo``'s journeys.

The participants are ``api.demo.generate_journey``'s (same random sequence as
``api.demo.seed``, ids derived from their number so that a run is repeatable).
The courses are built by the ``Course`` aggregate's own commands (schedule, enrol,
hold a session, record the session's whole attendance list, complete), so the log
holds real events and the projections and a replay fold them as any others. The
rules the application service decides from the participants' journeys are kept
here from the same journeys: a course enrols only its provider's participants,
each active (not exited) on the enrolment day with an F4 stay open then, and a
session's list names exactly the enrolled participants whose F4 stay is open on
the session's date (``Participant.module_open_on`` semantics, both days included).

Saved as ``api.demo.seed`` saves: many aggregates per ``Journeys.save``, each save
one transaction through the ordinary recorder (hash chain included).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID, uuid5

from lotse.api.demo import generate_journey
from lotse.domain.application import Journeys
from lotse.domain.course import Course
from lotse.domain.courses import session_id_for
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant

NAMESPACE = UUID("0d9f3c52-7a7e-4b0e-8f57-6f2b8f4d1c11")
MODULE = "F4"
#: A course runs 13 weeks; its sessions fall on weekdays.
COURSE_WEEKS = 13


@dataclass(frozen=True)
class Stay:
    """What the course generator needs of one journey: its F4 stays and exit."""

    participant_id: UUID
    provider: str
    stays: tuple[tuple[date, date | None], ...]
    exit_date: date | None

    def open_on(self, day: date) -> bool:
        return any(start <= day and (end is None or day <= end) for start, end in self.stays)


def _stay_of(p: Participant) -> Stay:
    stays: list[tuple[date, date | None]] = []
    entered: date | None = None
    exit_date: date | None = None
    for e in p.pending_events:
        if isinstance(e, Participant.ModuleEntered) and e.module == MODULE:
            entered = e.effective_date
        elif isinstance(e, Participant.ModuleExited) and e.module == MODULE and entered:
            stays.append((entered, e.effective_date))
            entered = None
        elif isinstance(e, Participant.Exited):
            exit_date = e.effective_date
    if entered is not None:
        stays.append((entered, None))
    return Stay(p.id, p.provider, tuple(stays), exit_date)


def seed_participants(
    journeys: Journeys,
    participants: int,
    *,
    seed_value: int = 20200301,
    batch: int = 100,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[int, list[Stay]]:
    """``api.demo.seed``'s journeys (same sequence), with ids from their number."""
    rng = random.Random(seed_value)
    config = journeys.configuration
    programme = config.programmes["durchstarten"]
    today = journeys.clock()
    written = 0
    stays: list[Stay] = []
    pending: list[Participant] = []
    for i in range(participants):
        pid = uuid5(NAMESPACE, f"participant-{i}")
        p = generate_journey(rng, config, programme, today, participant_id=pid)
        stays.append(_stay_of(p))
        pending.append(p)
        if len(pending) >= batch or i == participants - 1:
            written += sum(len(x.pending_events) for x in pending)
            journeys.save(*pending)
            if on_progress:
                on_progress(i + 1)
            pending = []
    return written, stays


@dataclass
class CourseCounts:
    courses: int = 0
    sessions: int = 0
    lists: int = 0
    marks: int = 0
    enrolments: int = 0
    events: int = 0


def seed_courses(
    journeys: Journeys,
    stays: list[Stay],
    *,
    courses: int,
    sessions: int,
    year: int,
    seed_value: int = 20210104,
    batch: int = 20,
    on_progress: Callable[[CourseCounts], None] | None = None,
) -> CourseCounts:
    """``courses`` F4 courses in ``year`` with about ``sessions`` sessions in all."""
    if courses <= 0:
        return CourseCounts()  # a year without courses: the reports as before issue 11
    rng = random.Random(seed_value)
    config = journeys.configuration
    programme = config.programmes["durchstarten"]
    today = journeys.clock()
    providers = sorted(config.providers)
    # Possible start days: the Mondays from the year's first week on, so that the
    # course (13 weeks) ends within the year.
    first = date(year, 1, 1) + timedelta(days=(7 - date(year, 1, 1).weekday()) % 7)
    mondays = []
    day = first
    while day + timedelta(weeks=COURSE_WEEKS) <= date(year, 12, 31):
        mondays.append(day)
        day += timedelta(weeks=1)
    # Per provider and start day: who can be enrolled then.
    pool: dict[tuple[str, date], list[Stay]] = {}
    for s in stays:
        for monday in mondays:
            if s.open_on(monday) and (s.exit_date is None or s.exit_date > monday):
                pool.setdefault((s.provider, monday), []).append(s)
    per_course = sessions / courses
    counts = CourseCounts()
    pending: list[Course] = []
    for n in range(courses):
        provider = providers[n % len(providers)]
        starts = [m for m in mondays if len(pool.get((provider, m), ())) >= 4]
        start = rng.choice(starts)
        end = start + timedelta(weeks=COURSE_WEEKS) - timedelta(days=3)  # a Friday
        weekdays = [
            start + timedelta(days=d)
            for d in range((end - start).days + 1)
            if (start + timedelta(days=d)).weekday() < 5
        ]
        # Spread the sessions' number around the mean, keeping the total near it.
        low = max(1, int(per_course) - 8)
        count = min(len(weekdays), rng.randint(low, 2 * int(per_course) - low + 1))
        days = sorted(rng.sample(weekdays, count))
        candidates = pool[provider, start]
        people = rng.sample(candidates, min(len(candidates), rng.randint(5, 10)))
        municipality = config.providers[provider].municipality
        env = Envelope(f"teacher-{provider}-{n % 7}", "caseworker", provider, "bench-courses")
        course = Course.schedule(
            envelope=env,
            today=today,
            programme=programme,
            module=MODULE,
            provider=provider,
            municipality=municipality,
            title=f"Kurs {n + 1} {config.providers[provider].name}",
            course_type=rng.choice(
                ["berufsvorbereitender_kurs", "jugendintegrationskurs", "hsa_kurs", "sprachkurs"]
            ),
            planned_lesson_hours=Decimal(4 * count),
            start_date=start,
            end_date=end,
            course_id=uuid5(NAMESPACE, f"course-{n}"),
        )
        for s in people:
            course.enrol(
                envelope=env,
                effective_date=start,
                today=today,
                participant_id=s.participant_id,
                participant_programme=programme.id,
            )
        for day in days:
            sid = course.hold_session(
                envelope=env,
                today=today,
                programme=programme,
                session_date=day,
                lesson_hours=Decimal(rng.choice([3, 4, 4, 6])),
                session_id=session_id_for(course.id, course.version + 1),
            )
            counts.sessions += 1
            present = [s for s in people if s.open_on(day)]
            if not present:
                continue
            marks = [
                (s.participant_id, rng.choices(["present", "absent", "excused"], [85, 10, 5])[0])
                for s in present
            ]
            course.record_attendance(
                envelope=env,
                today=today,
                session_id=sid,
                entries=marks,
                stay_open={s.participant_id for s in present},
            )
            counts.lists += 1
            counts.marks += len(marks)
        if rng.random() < 0.3:
            course.incur_exam_fee(
                envelope=env,
                effective_date=days[-1],
                today=today,
                amount_eur=Decimal(rng.choice(["80.00", "120.00", "145.50"])),
                receipt_reference=f"R-{year}-{n + 1}",
            )
        course.complete(envelope=env, effective_date=end, today=today)
        counts.courses += 1
        counts.enrolments += len(people)
        counts.events += len(course.pending_events)
        pending.append(course)
        if len(pending) >= batch or n == courses - 1:
            journeys.save(*pending)
            pending = []
            if on_progress:
                on_progress(counts)
    return counts
