"""Demo courses: per provider one F4 course with six participants and its attendance lists.

Kept apart from ``api.demo`` so that the participants' random journeys (which
tests and benchmarks depend on) stay as they are. The course's participants are
registered here, each with an F4 stay open over the course's dates, and every
command goes through the same rules as real data.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from lotse.domain.application import Journeys
from lotse.domain.configuration import Configuration
from lotse.domain.course import Course
from lotse.domain.courses import session_id_for
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant

COURSE_START = date(2021, 4, 1)
COURSE_END = date(2021, 6, 30)
#: Seven sessions of 6 lesson hours: 42 held hours, P4 = 42 x 37.50 = 1,575 EUR.
SESSION_DAYS = [COURSE_START + timedelta(days=n) for n in (5, 6, 7, 12, 13, 14, 19)]
GIVEN = ["Amina", "Yonas", "Samira", "Bashir", "Lina", "Omid"]


def _participant(
    rng: random.Random, config: Configuration, provider: str, today: date, n: int
) -> Participant:
    programme = config.programmes["durchstarten"]
    env = Envelope(f"coach-{provider}-1", "caseworker", provider, "demo-courses")
    common: dict[str, Any] = {"envelope": env, "today": today}
    intake = date(2021, 3, 1) + timedelta(days=rng.randint(0, 20))
    p = Participant.register(
        **common,
        programme=programme,
        provider=provider,
        municipality=config.providers[provider].municipality,
        intake_date=intake,
        given_name=GIVEN[n % len(GIVEN)],
        family_name="Demo",
        birth_date=intake - timedelta(days=rng.randint(19, 26) * 365),
        gender=rng.choice(["female", "male"]),
        nationality=rng.choice(["SY", "AF", "IQ", "ER"]),
        residence_status="duldung",
    )
    p.assess_eligibility(
        **common, effective_date=intake, programme=programme, eligible=True, target_group="duldung"
    )
    p.give_consent(**common, effective_date=intake, programme=programme, consent_version="2020-01")
    p.enter_module(**common, effective_date=date(2021, 3, 25), programme=programme, module="F4")
    return p


def seed_courses(journeys: Journeys, *, seed_value: int = 20210401) -> int:
    """One course per provider; returns the number of events written."""
    rng = random.Random(seed_value)  # noqa: S311 - demo data, not secrets
    config = journeys.configuration
    programme = config.programmes["durchstarten"]
    today = journeys.clock()
    written = 0
    for provider in sorted(config.providers):
        people = [_participant(rng, config, provider, today, n) for n in range(6)]
        env = Envelope(f"teacher-{provider}", "caseworker", provider, "demo-courses")
        course = Course.schedule(
            envelope=env,
            today=today,
            programme=programme,
            module="F4",
            provider=provider,
            municipality=config.providers[provider].municipality,
            title=f"Berufsvorbereitender Kurs {config.providers[provider].name}",
            course_type="berufsvorbereitender_kurs",
            planned_lesson_hours=Decimal(42),
            start_date=COURSE_START,
            end_date=COURSE_END,
        )
        for p in people:
            course.enrol(
                envelope=env,
                effective_date=COURSE_START,
                today=today,
                participant_id=p.id,
                participant_programme=programme.id,
            )
        for day in SESSION_DAYS:
            sid = course.hold_session(
                envelope=env,
                today=today,
                programme=programme,
                session_date=day,
                lesson_hours=Decimal(6),
                session_id=session_id_for(course.id, course.version + 1),
            )
            marks = [
                (p.id, rng.choices(["present", "absent", "excused"], [85, 10, 5])[0])
                for p in people
            ]
            course.record_attendance(
                envelope=env,
                today=today,
                session_id=sid,
                entries=marks,
                stay_open={p.id for p in people if p.module_open_on("F4", day)},
            )
        course.incur_exam_fee(
            envelope=env,
            effective_date=COURSE_END,
            today=today,
            amount_eur=Decimal("120.00"),
            receipt_reference=f"R-2021-{provider[:8]}",
        )
        course.complete(envelope=env, effective_date=COURSE_END, today=today)
        written += sum(len(p.pending_events) for p in people) + len(course.pending_events)
        journeys.save(*people)
        journeys.save(course)
    return written
