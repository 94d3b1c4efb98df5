"""Forms checked inline (Neue Teilnehmende/r, a step, Neuer Kurs): the submit's German errors,
no write."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lotse.api.pages.routing import CSRF_REFUSED
from lotse.api.runtime import Runtime
from tests.builders.api import Auth
from tests.builders.pages import form_of, hidden, registered, registration_form, sign_in

CHECK = "/teilnehmende/neu/pruefen"


def events(runtime: Runtime) -> int:
    return runtime.journeys.recorder.max_notification_id() or 0


def test_the_check_names_a_malformed_date_and_a_missing_field_in_german(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu").text

    answer = web.post(CHECK, data=registration_form(form, birth_date="32.13.2000", given_name=""))

    assert answer.status_code == 200
    assert 'id="neu-birth_date-error">Bitte ein gültiges Datum' in answer.text
    assert 'id="neu-given_name-error">Bitte ausfüllen.' in answer.text
    # The same accessible markup as the submit's answer, in the region htmx swaps.
    assert 'id="neu-birth_date-field"' in answer.text
    assert 'aria-describedby="neu-birth_date-hint neu-birth_date-error"' in answer.text
    assert "32.13.2000" in answer.text  # what was typed stays


def test_the_check_of_valid_input_shows_no_error(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu").text

    answer = web.post(CHECK, data=registration_form(form))

    assert answer.status_code == 200
    assert "-error" not in answer.text
    assert 'aria-invalid="true"' not in answer.text


def test_the_check_writes_nothing_and_leaves_the_form_key_unclaimed(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu").text
    before = events(runtime)

    web.post(CHECK, data=registration_form(form))
    web.post(CHECK, data=registration_form(form, birth_date="kein Datum"))
    after_checks = events(runtime)
    # The key the check saw still registers the person: the check claimed nothing.
    registered = web.post("/teilnehmende/neu", data=registration_form(form))

    assert after_checks == before
    assert registered.status_code == 303
    assert events(runtime) > before


def test_the_check_without_csrf_token_is_refused(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime)
    form = web.get("/teilnehmende/neu").text
    posted = registration_form(form)
    del posted["csrf_token"]

    answer = web.post(CHECK, data=posted)

    assert answer.status_code == 403
    assert CSRF_REFUSED in answer.text


def test_the_form_without_javascript_still_posts_to_the_submit(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)

    page = web.get("/teilnehmende/neu").text

    assert '<form method="post" action="/teilnehmende/neu">' in page
    assert f'hx-post="{CHECK}"' in page
    assert 'hx-select-oob="#neu-birth_date-field"' in page


def step_form(page: str, milestone_type: str) -> dict[str, str]:
    form = form_of(page, milestone_type)
    return {
        name: hidden(form, name) for name in ("csrf_token", "idempotency_key", "version", "type")
    }


def test_the_check_of_a_step_names_its_errors_in_german_and_writes_nothing(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text
    posted = {**step_form(page, "CoachingContactLogged"), "effective_date": "31.02.2021"}
    before = events(runtime)

    wrong = web.post(f"/teilnehmende/{pid}/schritte/pruefen", data={**posted, "minutes": "viele"})
    right = web.post(
        f"/teilnehmende/{pid}/schritte/pruefen",
        data={**posted, "effective_date": "05.03.2021", "minutes": "30", "mode": "phone"},
    )

    assert wrong.status_code == right.status_code == 200
    assert 'id="CoachingContactLogged-effective_date-error">Bitte ein gültiges Datum' in wrong.text
    assert 'id="CoachingContactLogged-minutes-error">Bitte eine ganze Zahl' in wrong.text
    assert 'id="CoachingContactLogged-minutes-field"' in wrong.text
    assert "-error" not in right.text
    assert events(runtime) == before


def test_the_check_of_a_step_without_csrf_token_is_refused(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, position = registered(client, auth)
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}", params={"stand": position}).text
    posted = step_form(page, "CoachingContactLogged")
    del posted["csrf_token"]

    answer = web.post(f"/teilnehmende/{pid}/schritte/pruefen", data=posted)

    assert answer.status_code == 403
    assert CSRF_REFUSED in answer.text


COURSE_CHECK = "/kurse/neu/pruefen"


def course_form(page: str, **overrides: str) -> dict[str, str]:
    return {
        "csrf_token": hidden(page, "csrf_token"),
        "idempotency_key": hidden(page, "idempotency_key"),
        "title": "Sprachkurs am Nachmittag",
        "module": "durchstarten/F4",
        "provider": "caritas-ahlen",
        "course_type": "sprachkurs",
        "planned_lesson_hours": "40,5",
        "start_date": "2021-04-01",
        "end_date": "2021-06-30",
        **overrides,
    }


def test_the_check_of_a_new_course_names_a_malformed_field_in_german_and_writes_nothing(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    page = web.get("/kurse/neu").text
    before = events(runtime)

    wrong = web.post(COURSE_CHECK, data=course_form(page, planned_lesson_hours="viele"))
    right = web.post(COURSE_CHECK, data=course_form(page))

    assert wrong.status_code == right.status_code == 200
    assert 'id="kurs-planned_lesson_hours-error"' in wrong.text
    assert 'id="kurs-planned_lesson_hours-field"' in wrong.text
    assert "viele" in wrong.text  # what was typed stays
    assert "-error" not in right.text
    assert events(runtime) == before
    # The key the checks saw still schedules the course: they claimed nothing.
    assert web.post("/kurse/neu", data=course_form(page)).status_code == 303


def test_the_check_of_a_new_course_applies_the_courses_rules_without_writing(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    page = web.get("/kurse/neu").text
    before = events(runtime)

    answer = web.post(
        COURSE_CHECK, data=course_form(page, start_date="2021-06-30", end_date="2021-04-01")
    )

    assert answer.status_code == 200
    assert 'id="kurs-end_date-error">Das Ende liegt vor dem Beginn.' in answer.text
    assert events(runtime) == before


def test_the_check_of_a_new_course_without_csrf_token_is_refused(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)
    posted = course_form(web.get("/kurse/neu").text)
    del posted["csrf_token"]

    answer = web.post(COURSE_CHECK, data=posted)

    assert answer.status_code == 403
    assert CSRF_REFUSED in answer.text


def test_the_new_course_form_without_javascript_still_posts_to_the_submit(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime)

    page = web.get("/kurse/neu").text

    assert '<form method="post" action="/kurse/neu" novalidate>' in page
    assert f'hx-post="{COURSE_CHECK}"' in page
    assert 'hx-select-oob="#kurs-end_date-field"' in page
