"""Demo journeys across providers and over time, recorded through the application services.

The random journeys (``api.demo``) and the one-provider courses (``api.demo_courses``)
show neither what several providers do for one person nor how a journey is mended.
This module adds, on fixed dates and with seeded choices:

- two courses shared by participants of two providers: the course's provider teaches
  its own participants and those the lead provider referred to it for F4 (referral
  made, accepted, the receiving provider opens the F4 stay, enrols, marks attendance);
  one referral ends when the course is done, another waits for acceptance;
- a transfer to a provider in another municipality with open stays;
- a correction (a module entry typed with the wrong date);
- a voided entry (a module entered by mistake) and a duplicate registration voided
  as a whole;
- a re-entry after an exit, with eligibility and consent recorded afresh.

Every step goes through ``Journeys`` and ``Courses`` as the HTTP API does, with the
principal of the provider that would record it, so the access policy (who may refer,
accept, record for a referred module, enrol, void) is checked as well as the rules
of the journey. About a hundred commands, each its own transaction: about two seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from lotse.domain.access import Principal, Role
from lotse.domain.application import Journeys
from lotse.domain.courses import Courses

REQUEST = "demo-scenarios"
PROGRAMME = "durchstarten"
GIVEN = ["Nour", "Dawit", "Rahel", "Hamid", "Zainab", "Milad", "Aster", "Idris", "Sara", "Jamal"]
FAMILY = ["Demo-Mehrträger", "Demo-Verlauf"]


@dataclass(frozen=True)
class SharedCourse:
    """A course of ``teacher`` with its own participants and ones referred by ``lead``."""

    lead: str
    teacher: str
    title: str
    course_type: str
    start: date
    end: date
    own: int
    referred: int
    session_days: tuple[date, ...]
    lesson_hours: Decimal

    @property
    def held_hours(self) -> Decimal:
        return self.lesson_hours * len(self.session_days)


def _days(start: date, *offsets: int) -> tuple[date, ...]:
    return tuple(start + timedelta(days=n) for n in offsets)


#: 7 x 6 = 42 held hours (P4 1,575.00 EUR) and 6 x 5 = 30 held hours (1,125.00 EUR),
#: each billed once however many of either provider attend.
SHARED_COURSES = (
    SharedCourse(
        lead="caritas-ahlen",
        teacher="vhs-warendorf",
        title="Berufsvorbereitender Kurs VHS Warendorf (gemeinsam mit Caritas Ahlen)",
        course_type="berufsvorbereitender_kurs",
        start=date(2021, 9, 1),
        end=date(2021, 11, 30),
        own=3,
        referred=3,
        session_days=_days(date(2021, 9, 1), 6, 7, 8, 13, 14, 15, 20),
        lesson_hours=Decimal(6),
    ),
    SharedCourse(
        lead="caritas-koeln",
        teacher="bildungswerk-koeln",
        title="HSA-Kurs Bildungswerk Köln (gemeinsam mit Caritas Köln)",
        course_type="hsa_kurs",
        start=date(2021, 10, 1),
        end=date(2021, 12, 17),
        own=2,
        referred=4,
        session_days=_days(date(2021, 10, 1), 4, 11, 18, 25, 32, 39),
        lesson_hours=Decimal(5),
    ),
)


def caseworker(provider: str) -> Principal:
    return Principal(f"coach-{provider}-1", Role.CASEWORKER, provider)


class Scenarios:
    """Records the scenarios; ``seed_scenarios`` runs them all."""

    def __init__(self, journeys: Journeys, rng: random.Random) -> None:
        self.journeys = journeys
        self.courses = Courses(journeys)
        self.rng = rng
        self.names = 0

    # ------------------------------------------------------------ helpers

    def register(self, provider: str, intake: date, *, family: str = FAMILY[0]) -> UUID:
        self.names += 1
        age = self.rng.randint(18, 26)
        recorded = self.journeys.register(
            caseworker(provider),
            REQUEST,
            programme=PROGRAMME,
            provider=provider,
            intake_date=intake,
            given_name=GIVEN[self.names % len(GIVEN)],
            family_name=family,
            birth_date=intake - timedelta(days=age * 365 + self.rng.randint(10, 300)),
            gender=self.rng.choice(["female", "male"]),
            nationality=self.rng.choice(["SY", "AF", "IQ", "ER", "GN"]),
            residence_status=self.rng.choice(["duldung", "gestattung"]),
            participant_id=UUID(int=self.rng.getrandbits(128), version=4),
        )
        return recorded.participant_id

    def record(self, provider: str, pid: UUID, milestone: str, when: date, **data: Any) -> int:
        """Record a milestone as ``provider``'s case worker; returns the event's version."""
        recorded = self.journeys.record_milestone(
            caseworker(provider), REQUEST, pid, milestone, when, **data
        )
        return recorded.version

    def admitted(
        self, provider: str, pid: UUID, when: date, *modules: str, school: bool = True
    ) -> None:
        """Eligible, consent given, the modules entered: the start of every journey here.

        ``school``: access to a regular school (F3 is only for those without).
        """
        self.record(
            provider,
            pid,
            "EligibilityAssessed",
            when,
            eligible=True,
            target_group=self.journeys._load(pid).residence_status,
            regular_school_access=school,
        )
        self.record(provider, pid, "ConsentGiven", when, consent_version="2020-01")
        for module in modules:
            self.record(provider, pid, "ModuleEntered", when + timedelta(days=3), module=module)

    def refer(self, lead: str, pid: UUID, to: str, module: str, when: date) -> str:
        _, referral_id = self.journeys.make_referral(
            caseworker(lead), REQUEST, pid, provider=to, module=module, effective_date=when
        )
        return referral_id

    # ---------------------------------------------------------- scenarios

    def shared_course(self, spec: SharedCourse) -> UUID:
        """Own and referred participants in one course, billed once per held hour."""
        intake = spec.start - timedelta(days=60)
        own = []
        for _ in range(spec.own):
            pid = self.register(spec.teacher, intake + timedelta(days=self.rng.randint(0, 10)))
            self.admitted(spec.teacher, pid, intake + timedelta(days=12), "F4")
            own.append(pid)
        referred: list[tuple[UUID, str]] = []
        for _ in range(spec.referred):
            pid = self.register(spec.lead, intake + timedelta(days=self.rng.randint(0, 10)))
            self.admitted(spec.lead, pid, intake + timedelta(days=12), "F1")
            made = intake + timedelta(days=20)
            referral_id = self.refer(spec.lead, pid, spec.teacher, "F4", made)
            self.journeys.accept_referral(
                caseworker(spec.teacher),
                REQUEST,
                pid,
                referral_id,
                effective_date=intake + timedelta(days=25),
            )
            # The receiving provider records the stay of the module it was referred for.
            self.record(spec.teacher, pid, "ModuleEntered", spec.start, module="F4")
            referred.append((pid, referral_id))
        teacher = caseworker(spec.teacher)
        course_id = self.courses.schedule(
            teacher,
            REQUEST,
            programme=PROGRAMME,
            provider=spec.teacher,
            module="F4",
            title=spec.title,
            course_type=spec.course_type,
            planned_lesson_hours=spec.held_hours,
            start_date=spec.start,
            end_date=spec.end,
            course_id=UUID(int=self.rng.getrandbits(128), version=4),
        ).participant_id
        everyone = own + [pid for pid, _ in referred]
        for pid in everyone:
            self.courses.enrol(
                teacher, REQUEST, course_id, participant_id=pid, effective_date=spec.start
            )
        for day in spec.session_days:
            held = self.courses.hold_session(
                teacher, REQUEST, course_id, session_date=day, lesson_hours=spec.lesson_hours
            )
            marks = [
                (pid, self.rng.choices(["present", "absent", "excused"], [80, 12, 8])[0])
                for pid in everyone
            ]
            self.courses.record_attendance(
                teacher, REQUEST, course_id, held.session_id, entries=marks
            )
        self.courses.close(
            teacher, REQUEST, course_id, outcome="completed", effective_date=spec.end
        )
        # The first referred participant is done with F4: the receiving provider closes
        # the stay it recorded and ends the referral; the others stay on.
        pid, referral_id = referred[0]
        done = spec.end + timedelta(days=3)
        self.record(spec.teacher, pid, "ModuleExited", done, module="F4", reason="completed")
        self.journeys.end_referral(
            teacher, REQUEST, pid, referral_id, effective_date=done, reason="completed"
        )
        return course_id

    def waiting_referral(self) -> None:
        """A referral for F3 the receiving provider has not accepted yet."""
        pid = self.register("awo-duesseldorf", date(2022, 1, 10))
        self.admitted("awo-duesseldorf", pid, date(2022, 1, 12), "F1")
        self.refer("awo-duesseldorf", pid, "diakonie-duesseldorf", "F3", date(2022, 2, 1))

    def transfer(self) -> None:
        """Moved from Düsseldorf to Köln: the open stays go with the person."""
        pid = self.register("diakonie-duesseldorf", date(2021, 2, 15))
        self.admitted("diakonie-duesseldorf", pid, date(2021, 2, 18), "F1", "F4")
        self.record(
            "diakonie-duesseldorf",
            pid,
            "CoachingContactLogged",
            date(2021, 6, 1),
            minutes=60,
            mode="in_person",
            confirmed_by_participant=True,
        )
        self.record(
            "diakonie-duesseldorf",
            pid,
            "CaseTransferred",
            date(2022, 1, 15),
            to_provider="caritas-koeln",
        )
        self.record(
            "caritas-koeln",
            pid,
            "CoachingContactLogged",
            date(2022, 2, 1),
            minutes=45,
            mode="in_person",
            confirmed_by_participant=True,
        )
        self.record(
            "caritas-koeln", pid, "ModuleExited", date(2022, 5, 31), module="F4", reason="completed"
        )

    def correction(self) -> None:
        """An F4 entry typed a month late, corrected; the history keeps both dates."""
        pid = self.register("awo-duesseldorf", date(2021, 4, 6))
        self.admitted("awo-duesseldorf", pid, date(2021, 4, 8), "F1")
        typo = self.record("awo-duesseldorf", pid, "ModuleEntered", date(2021, 6, 15), module="F4")
        self.record(
            "awo-duesseldorf",
            pid,
            "EntryCorrected",
            date(2021, 6, 20),
            corrects_version=typo,
            reason="Eintrittsdatum falsch erfasst (Mai statt Juni)",
            changes={"effective_date": date(2021, 5, 15)},
        )

    def voids(self) -> None:
        """An F3 stay entered for the wrong person, and a person registered twice."""
        pid = self.register("vhs-warendorf", date(2021, 5, 3), family=FAMILY[1])
        self.admitted("vhs-warendorf", pid, date(2021, 5, 4), "F1", school=False)
        wrong = self.record("vhs-warendorf", pid, "ModuleEntered", date(2021, 5, 20), module="F3")
        self.record(
            "vhs-warendorf",
            pid,
            "EntryVoided",
            date(2021, 5, 21),
            voids_version=wrong,
            reason="Eintritt bei der falschen Person erfasst",
        )
        twice = self.register("vhs-warendorf", date(2021, 5, 3), family=FAMILY[1])
        self.record(
            "vhs-warendorf",
            twice,
            "EntryVoided",
            date(2021, 5, 5),
            voids_version=1,
            reason="Doppelerfassung",
        )

    def reentry(self) -> None:
        """Left in summer 2021, back in 2022: a new entry of the same person."""
        pid = self.register("bildungswerk-koeln", date(2021, 1, 11))
        self.admitted("bildungswerk-koeln", pid, date(2021, 1, 12), "F1")
        self.record(
            "bildungswerk-koeln",
            pid,
            "Exited",
            date(2021, 7, 30),
            reason="moved_away",
            destination="unknown",
        )
        back = date(2022, 2, 1)
        self.record("bildungswerk-koeln", pid, "Reentered", back, intake_date=back)
        self.admitted("bildungswerk-koeln", pid, back + timedelta(days=2), "F1", "F4")


def seed_scenarios(journeys: Journeys, *, seed_value: int = 20210901) -> int:
    """Record all scenarios; returns the number of events written."""
    before = journeys.recorder.max_notification_id() or 0
    scenarios = Scenarios(journeys, random.Random(seed_value))  # noqa: S311 - demo data
    for spec in SHARED_COURSES:
        scenarios.shared_course(spec)
    scenarios.waiting_referral()
    scenarios.transfer()
    scenarios.correction()
    scenarios.voids()
    scenarios.reentry()
    return (journeys.recorder.max_notification_id() or 0) - before
