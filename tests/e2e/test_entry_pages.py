"""Correcting and voiding an earlier entry through its page, always with a reason."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, milestone
from tests.builders.pages import hidden, registered, sign_in

LEVEL = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"}


def entry_page(
    web: TestClient, client: TestClient, auth: Auth, runtime: Runtime
) -> tuple[str, str]:
    """A participant with a language level (entry 2), and that entry's page."""
    pid, _ = registered(client, auth)
    assert milestone(client, auth, pid, LEVEL).status_code == 201
    sign_in(web, runtime)
    page = web.get(f"/teilnehmende/{pid}/eintraege/2")
    assert page.status_code == 200
    return pid, page.text


def form_fields(page: str, action: str) -> dict[str, str]:
    form = page.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    return {name: hidden(form, name) for name in ("csrf_token", "idempotency_key", "version")}


def history_types(client: TestClient, auth: Auth, pid: str) -> list[str]:
    events = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    return [e["type"] for e in events]


def test_a_correction_changes_the_value_and_keeps_the_reason(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, page = entry_page(web, client, auth, runtime)
    action = f"/teilnehmende/{pid}/eintraege/2/korrektur"

    answer = web.post(
        action,
        data={
            **form_fields(page, action),
            "changes.effective_date": "2021-03-05",
            "changes.level": "B1",
            "effective_date": "2021-03-06",
            "reason": "Tippfehler beim Niveau",
        },
    )

    assert answer.status_code == 303
    assert "gespeichert=EntryCorrected" in answer.headers["location"]
    shown = web.get(answer.headers["location"]).text
    assert "Gespeichert: Eintrag korrigiert" in shown
    state = client.get(f"/participants/{pid}", headers=auth()).json()
    assert state["language_level"] == "B1"


def test_a_correction_without_a_reason_or_change_is_refused_in_german(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, page = entry_page(web, client, auth, runtime)
    action = f"/teilnehmende/{pid}/eintraege/2/korrektur"

    answer = web.post(
        action,
        data={
            **form_fields(page, action),
            "changes.effective_date": "2021-03-05",
            "changes.level": "A1",
            "effective_date": "2021-03-06",
            "reason": "",
        },
    )

    assert answer.status_code == 422
    assert 'id="korrektur-reason-error">Bitte ausfüllen.' in answer.text
    assert "Bitte ändern Sie mindestens einen Wert des Eintrags." in answer.text
    assert history_types(client, auth, pid).count("EntryCorrected") == 0


def test_voiding_an_entry_marks_it_in_the_timeline(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, page = entry_page(web, client, auth, runtime)
    action = f"/teilnehmende/{pid}/eintraege/2/ungueltig"

    answer = web.post(
        action,
        data={
            **form_fields(page, action),
            "effective_date": "2021-03-06",
            "reason": "bei der falschen Person erfasst",
        },
    )

    assert answer.status_code == 303
    shown = web.get(answer.headers["location"]).text
    assert "Gespeichert: Eintrag für ungültig erklärt" in shown
    assert "für ungültig erklärt" in shown
    assert history_types(client, auth, pid).count("EntryVoided") == 1


def test_an_unknown_entry_of_a_participant_in_scope_is_a_404_page(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, _ = entry_page(web, client, auth, runtime)

    assert web.get(f"/teilnehmende/{pid}/eintraege/99").status_code == 404
    assert web.get(f"/teilnehmende/{pid}/eintraege/x").status_code == 404
