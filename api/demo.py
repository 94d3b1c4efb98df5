"""Demo and benchmark data: realistic journeys, generated through the domain's own rules.

Every generated journey is built by calling the aggregate's commands, so demo data
obeys the same rules as real data. Participants are saved many at a time, each
save one transaction, which is how bulk loads reach library batch speed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from lotse.domain.application import Journeys
from lotse.domain.configuration import Configuration, Programme
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant

GIVEN = ["Amina", "Yusuf", "Mariam", "Ahmad", "Fatima", "Samir", "Hawa", "Tesfaye", "Layla", "Omid"]
FAMILY = [
    "Haidari",
    "Abebe",
    "Al-Sayed",
    "Karimi",
    "Diallo",
    "Rahimi",
    "Tesfay",
    "Hussein",
    "Jalloh",
]
NATIONALITIES = ["SY", "AF", "IQ", "ER", "GN", "SO", "NG", "IR", "RS", "XK"]
OCCUPATIONS = [
    "Fachkraft für Lagerlogistik",
    "Koch",
    "Pflegefachkraft",
    "Elektroniker",
    "Friseurin",
]
START = date(2020, 3, 1)
END = date(2023, 6, 30)


def _days(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(days=rng.randint(low, high))


def generate_journey(
    rng: random.Random,
    config: Configuration,
    programme: Programme,
    today: date,
    participant_id: UUID | None = None,
) -> Participant:
    """A plausible journey: intake, eligibility, consent, modules, steps, maybe an exit."""
    provider = rng.choice(sorted(config.providers))
    municipality = config.providers[provider].municipality
    env = Envelope(f"coach-{provider}-{rng.randint(1, 3)}", "caseworker", provider, "demo")
    intake = START + _days(rng, 0, (END - START).days - 200)
    age = rng.choice([18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 27, 29])
    birth = intake - timedelta(days=age * 365 + rng.randint(10, 300))
    p = Participant.register(
        envelope=env,
        today=today,
        programme=programme,
        provider=provider,
        municipality=municipality,
        intake_date=intake,
        given_name=rng.choice(GIVEN),
        family_name=rng.choice(FAMILY),
        birth_date=birth,
        gender=rng.choices(["female", "male", "diverse"], weights=[40, 58, 2])[0],
        nationality=rng.choice(NATIONALITIES),
        residence_status=rng.choices(
            ["duldung", "gestattung", "duldung_60b", "other"], [50, 35, 10, 5]
        )[0],
        age_exception_reason="Einzelfall: Schulbesuch unterbrochen" if age > 27 else None,
        participant_id=participant_id,
    )
    day = intake + _days(rng, 0, 10)

    def step(low: int, high: int) -> date:
        nonlocal day
        day = min(day + _days(rng, low, high), today)
        return day

    common: dict[str, Any] = {"envelope": env, "today": today}
    p.assess_eligibility(
        **common,
        effective_date=step(0, 5),
        programme=programme,
        eligible=True,
        target_group=p.residence_status
        if p.residence_status in ("duldung", "gestattung")
        else "other",
        regular_school_access=rng.random() < 0.7,
    )
    p.give_consent(**common, effective_date=day, programme=programme, consent_version="2020-01")
    p.assess_language_level(
        **common, effective_date=step(1, 14), level=rng.choice(["A0", "A1", "A2", "B1"])
    )
    p.enter_module(**common, effective_date=step(0, 7), programme=programme, module="F1")
    p.enter_module(**common, effective_date=step(0, 14), programme=programme, module="F4")
    if not p.regular_school_access and rng.random() < 0.3:
        p.enter_module(**common, effective_date=step(0, 14), programme=programme, module="F3")
    for _ in range(rng.randint(3, 30)):
        when = step(3, 14)
        if rng.random() < 0.5:
            p.log_coaching_contact(
                **common,
                effective_date=when,
                minutes=rng.choice([30, 45, 60, 90]),
                mode=rng.choice(["in_person", "phone", "video", "outreach"]),
                confirmed_by_participant=rng.random() < 0.8,
            )
        else:
            held = Decimal(rng.choice([4, 6, 8]))
            p.record_course_attendance(
                **common,
                effective_date=when,
                programme=programme,
                module="F4",
                lesson_hours=held,
                lesson_hours_attended=held - Decimal(rng.choice([0, 0, 0, 2])),
            )
    if rng.random() < 0.4:
        p.start_internship(**common, effective_date=step(5, 30), occupation=rng.choice(OCCUPATIONS))
        p.end_internship(**common, effective_date=step(14, 60), reason="completed")
    roll = rng.random()
    if roll < 0.35:
        p.exit_module(
            **common,
            effective_date=step(5, 30),
            programme=programme,
            module="F4",
            reason="completed",
        )
        p.start_apprenticeship(
            **common, effective_date=step(5, 60), occupation=rng.choice(OCCUPATIONS)
        )
        if p.residence_status == "duldung":
            p.change_residence_status(
                **common, effective_date=step(0, 30), status="ausbildungsduldung_60c"
            )
        if rng.random() < 0.2:
            p.abort_apprenticeship(
                **common, effective_date=step(30, 200), reason="aborted_participant"
            )
            p.exit(
                **common,
                effective_date=step(1, 20),
                reason="aborted_participant",
                destination="job_seeking",
            )
        else:
            p.exit(
                **common,
                effective_date=step(30, 120),
                reason="completed",
                destination="apprenticeship",
            )
    elif roll < 0.6:
        kind = rng.choice(["svp", "svp", "geringfuegig"])
        p.start_employment(
            **common,
            effective_date=step(10, 90),
            employment_type=kind,
            hours_per_week=Decimal(rng.choice([10, 20, 30, 39]) if kind == "svp" else 8),
        )
        destination = "employment_svp" if kind == "svp" else "employment_marginal"
        p.exit(**common, effective_date=step(30, 120), reason="completed", destination=destination)
    elif roll < 0.7:
        p.exit(
            **common,
            effective_date=step(10, 90),
            reason=rng.choice(["moved_away", "left_germany", "other"]),
            destination="unknown",
        )
    if (
        p.exit_date is not None
        and rng.random() < 0.5
        and p.exit_date + timedelta(days=183) <= today
    ):
        p.record_follow_up(
            **common,
            effective_date=p.exit_date + timedelta(days=183),
            destination=p.exit_destination or "unknown",
            months_after_exit=6,
        )
    return p


def seed(
    journeys: Journeys,
    participants: int,
    *,
    seed_value: int = 20200301,
    batch: int = 50,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Generate and save ``participants`` journeys; returns the number of events written."""
    rng = random.Random(seed_value)  # noqa: S311 - demo data, not secrets
    config = journeys.configuration
    programme = config.programmes["durchstarten"]
    today = journeys.clock()
    written = 0
    pending: list[Participant] = []
    for i in range(participants):
        pending.append(generate_journey(rng, config, programme, today))
        if len(pending) >= batch or i == participants - 1:
            written += sum(len(p.pending_events) for p in pending)
            journeys.save(*pending)
            if on_progress:
                on_progress(len(pending))
            pending = []
    return written
