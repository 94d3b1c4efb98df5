"""Writers in tests: registrations and contacts through the runtime, and many at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

from lotse.domain.access import Principal, Role
from lotse.domain.application import Journeys, Recorded, RequestKey
from tests.builders.journeys import AMINA

COACH = Principal("coach-caritas-ahlen-1", Role.CASEWORKER, "caritas-ahlen")


INTAKE = date(2021, 3, 1)


CONTACT_DAY = date(2021, 6, 1)


T = TypeVar("T")


def register(journeys: Journeys, request_key: RequestKey | None = None) -> Recorded:
    return journeys.register(
        COACH,
        "req-register",
        programme="durchstarten",
        provider="caritas-ahlen",
        request_key=request_key,
        intake_date=INTAKE,
        **AMINA,
    )


def log_contact(journeys: Journeys, participant_id: UUID, **options: Any) -> Recorded:
    return journeys.record_milestone(
        COACH,
        "req-contact",
        participant_id,
        "CoachingContactLogged",
        CONTACT_DAY,
        minutes=30,
        mode="phone",
        **options,
    )


def all_at_once(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(i)`` in ``count`` threads released together; results or errors, in order."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return work(i)
        except Exception as e:
            return e

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
