"""The Kurse, Berichte, Prüfung and Datenschutz pages on the demo data, as each role.

The demo holds courses shared by two providers (participants referred to the course's
provider), corrections, voids and a transfer: the pages must show them without a
500 and name only the people the caller may read.
"""

from __future__ import annotations

import re
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from lotse.api.demo import seed
from lotse.api.demo_courses import seed_courses
from lotse.api.demo_scenarios import seed_scenarios
from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role, Visibility
from lotse.domain.course import Course
from lotse.domain.courses import Courses
from tests.builders.pages import browser, sign_in
from tests.conftest import Auth


@pytest.fixture
def demo(runtime: Runtime, client: TestClient, auth: Auth) -> int:
    """The demo's three seeders, as ``lotse demo`` runs them; the read models caught up."""
    seed(runtime.journeys, 12, batch=6)
    seed_courses(runtime.journeys)
    seed_scenarios(runtime.journeys)
    head = int(runtime.journeys.recorder.max_notification_id() or 0)
    admin = auth("admin", "*")
    for path in ("/courses", "/participants"):
        waited = client.get(path, params={"min_position": head}, headers=admin)
        assert waited.status_code == 200, waited.text
    return head


def courses_of(runtime: Runtime) -> list[Course]:
    notifications = runtime.journeys.recorder.select_notifications(1, 1_000_000)
    ids = {UUID(str(n.originator_id)) for n in notifications if ":Course." in n.topic}
    service = Courses(runtime.journeys)
    return [service.load(i) for i in sorted(ids)]


def test_course_pages_name_whom_the_courses_provider_may_read_and_no_one_else(
    runtime: Runtime, demo: int
) -> None:
    named_somewhere = False
    with browser(runtime) as web:
        for course in courses_of(runtime):
            web.cookies.clear()
            sign_in(web, runtime, "caseworker", course.provider)
            provider = Principal("p", Role.CASEWORKER, course.provider)
            readable = {
                pid
                for pid in course.enrolled
                if runtime.journeys.visibility(provider, runtime.journeys._load(pid))
                in (Visibility.FULL, Visibility.REFERRAL)
            }

            page = web.get(f"/kurse/{course.id}")
            sheet = web.get(f"/kurse/{course.id}/teilnehmendenliste")

            assert page.status_code == 200, page.text
            assert sheet.status_code == 200
            # A referral that ended, a participant who left: a pseudonym, not a name.
            pseudonyms = set(re.findall(r"Person ([0-9a-f]{8})", page.text))
            assert pseudonyms == {str(p)[:8] for p in set(course.enrolled) - readable}
            named_somewhere = named_somewhere or bool(readable)
    assert named_somewhere


@pytest.mark.parametrize(
    ("role", "org", "pages"),
    [
        ("coordinator", "warendorf", ("/kurse", "/berichte", "/datenschutz")),
        ("auditor", "*", ("/kurse", "/berichte", "/pruefung")),
        ("funder", "*", ("/berichte",)),
        ("teilhabemanager", "warendorf", ("/kurse", "/berichte")),
    ],
)
def test_each_role_opens_its_pages_on_the_demo_data(
    runtime: Runtime, demo: int, role: str, org: str, pages: tuple[str, ...]
) -> None:
    with browser(runtime) as web:
        sign_in(web, runtime, role, org)

        for path in pages:
            assert web.get(path).status_code == 200, path


def test_a_coordinator_reports_the_demo_year_with_its_courses(runtime: Runtime, demo: int) -> None:
    with browser(runtime) as web:
        csrf = sign_in(web, runtime, "coordinator", "warendorf")

        made = web.post(
            "/berichte",
            data={"csrf_token": csrf, "kind": "financial", "period": "2022"},
        )
        page = web.get(made.headers["location"])
        changes = web.get(made.headers["location"] + "/aenderungen")

    assert made.status_code == 303, made.text
    assert page.status_code == 200
    assert "Kurse: gehaltene Unterrichtsstunden" in page.text
    assert changes.status_code == 200
