"""Participants built on the aggregate alone (no database) for the rule tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from lotse.domain.configuration import Programme
from lotse.domain.envelope import Envelope
from lotse.domain.participant import Participant

#: The participant most tests register: her personal data as the domain takes it.
AMINA: dict[str, Any] = {
    "given_name": "Amina",
    "family_name": "Haidari",
    "birth_date": date(2001, 5, 17),
    "gender": "female",
    "nationality": "AF",
    "residence_status": "duldung",
}

TODAY = date(2022, 6, 1)


ENV = Envelope("coach-1", "caseworker", "caritas-ahlen", "req-1")


def register(programme: Programme, **overrides: Any) -> Participant:
    args: dict[str, Any] = {
        "envelope": ENV,
        "today": TODAY,
        "programme": programme,
        "provider": "caritas-ahlen",
        "municipality": "warendorf",
        "intake_date": date(2021, 3, 1),
        **AMINA,
    }
    args.update(overrides)
    return Participant.register(**args)


def on(day: int) -> dict[str, Any]:
    """Envelope, today and an effective date ``day`` days after intake."""
    return {
        "envelope": ENV,
        "today": TODAY,
        "effective_date": date(2021, 3, 1) + timedelta(days=day),
    }


def ready_for_modules(programme: Programme) -> Participant:
    p = register(programme)
    p.assess_eligibility(**on(1), programme=programme, eligible=True, target_group="duldung")
    p.give_consent(**on(1), programme=programme, consent_version="2020-01")
    return p
