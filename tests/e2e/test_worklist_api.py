"""The due list (Wiedervorlage): scripted journeys and their hand-computed items.

The programme's rules (config/programmes/durchstarten.toml, [worklist]): a residence
expiry is due 42 days before it, the follow-up 6 months after the exit, the § 60c
notice 14 days after an apprenticeship abort, no contact after 28 days without one
while a module is open; consent version 2021-07 supersedes 2020-01 from 2021-07-01;
the age limit (max_age 27) is reached on the 28th birthday; F6 ended 2022-06-30.
Every due date below is computed by hand from those rules.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.storage.keys import MasterKey
from tests.builders.api import PROBLEM, Auth, into_module, registration
from tests.builders.projections import rebuild_all, run, snapshot

TODAY = date(2022, 9, 1)


def post(client: TestClient, auth: Auth, pid: str, body: dict[str, Any], org: str) -> int:
    response = client.post(f"/participants/{pid}/milestones", json=body, headers=auth(org=org))
    assert response.status_code == 201, response.text
    return int(response.json()["position"])


def register(client: TestClient, auth: Auth, org: str = "caritas-ahlen", **overrides: Any) -> str:
    response = client.post(
        "/participants", json=registration(provider=org, **overrides), headers=auth(org=org)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def enter(client: TestClient, auth: Auth, pid: str, module: str, org: str = "caritas-ahlen") -> int:
    position = 0
    for body in into_module(module):
        position = post(client, auth, pid, body, org)
    return position


def coaching(day: str) -> dict[str, Any]:
    return {"type": "CoachingContactLogged", "effective_date": day, "minutes": 30, "mode": "phone"}


@pytest.fixture
def journeys(client: TestClient, auth: Auth, runtime: Runtime) -> dict[str, Any]:
    """Seven scripted journeys (A to G at caritas-ahlen, D at vhs-warendorf)."""
    ids: dict[str, Any] = {}
    # A: a Duldung until 30.06.2021 recorded at intake, renewed until 30.09.2021.
    a = ids["A"] = register(client, auth, residence_valid_until="2021-06-30")
    post(
        client,
        auth,
        a,
        {
            "type": "ResidenceStatusChanged",
            "effective_date": "2021-06-20",
            "status": "duldung",
            "residence_valid_until": "2021-09-30",
        },
        "caritas-ahlen",
    )
    # B: coaching (F1), an apprenticeship aborted on 03.05.2021, exit on 15.06.2021.
    b = ids["B"] = register(client, auth)
    enter(client, auth, b, "F1")
    post(client, auth, b, coaching("2021-03-10"), "caritas-ahlen")
    started = {
        "type": "ApprenticeshipStarted",
        "effective_date": "2021-04-01",
        "occupation": "Koch",
    }
    post(client, auth, b, started, "caritas-ahlen")
    aborted = {
        "type": "ApprenticeshipAborted",
        "effective_date": "2021-05-03",
        "reason": "aborted_participant",
    }
    post(client, auth, b, aborted, "caritas-ahlen")
    exited = {
        "type": "Exited",
        "effective_date": "2021-06-15",
        "reason": "aborted_participant",
        "destination": "job_seeking",
    }
    post(client, auth, b, exited, "caritas-ahlen")
    # C: F6 open (ended by the programme on 30.06.2022), last contact 01.05.2021,
    # the superseded consent dismissed.
    c = ids["C"] = register(client, auth)
    enter(client, auth, c, "F6")
    post(client, auth, c, coaching("2021-05-01"), "caritas-ahlen")
    dismissal = {
        "effective_date": "2021-07-05",
        "kind": "consent_superseded",
        "due_date": "2021-07-01",
        "reason": "done_outside_lotse",
    }
    response = client.post(f"/participants/{c}/worklist/dismissals", json=dismissal, headers=auth())
    assert response.status_code == 201, response.text
    # D: another provider of the municipality.
    d = ids["D"] = register(client, auth, "vhs-warendorf")
    enter(client, auth, d, "F1", "vhs-warendorf")
    # E: born 10.01.1994, 27 at intake: 28 at the latest on 01.01.2022 by the birth
    # year alone (the exact birth date is sealed and never used).
    ids["E"] = register(client, auth, birth_date="1994-01-10")
    # F: exit on 05.03.2021, follow-up recorded on 10.09.2021.
    f = ids["F"] = register(client, auth)
    post(
        client,
        auth,
        f,
        {
            "type": "Exited",
            "effective_date": "2021-03-05",
            "reason": "moved_away",
            "destination": "unknown",
        },
        "caritas-ahlen",
    )
    post(
        client,
        auth,
        f,
        {
            "type": "FollowUpRecorded",
            "effective_date": "2021-09-10",
            "destination": "school",
            "months_after_exit": 6,
        },
        "caritas-ahlen",
    )
    # G: F6 closed on 15.07.2022, after the programme ended it.
    g = ids["G"] = register(client, auth)
    enter(client, auth, g, "F6")
    ids["position"] = post(
        client,
        auth,
        g,
        {
            "type": "ModuleExited",
            "effective_date": "2022-07-15",
            "module": "F6",
            "reason": "completed",
        },
        "caritas-ahlen",
    )
    runtime.journeys.clock = lambda: TODAY  # type: ignore[method-assign]
    return ids


def worklist(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/worklist", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def shown(items: list[dict[str, Any]], ids: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    names = {v: k for k, v in ids.items() if k != "position"}
    return {(names[i["participant_id"]], i["kind"], i["due_date"], i["state"]) for i in items}


def test_the_due_list_shows_the_hand_computed_items_of_each_journey(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    items = worklist(
        client, auth(), due_within_days=0, state="all", min_position=journeys["position"]
    )

    assert shown(items, journeys) == {
        ("A", "residence_expiry", "2021-05-19", "done"),
        ("A", "residence_expiry", "2021-08-19", "open"),
        ("B", "apprenticeship_abort_notice", "2021-05-17", "open"),
        ("B", "follow_up_due", "2021-12-15", "open"),
        ("C", "no_contact", "2021-05-29", "open"),
        ("C", "consent_superseded", "2021-07-01", "dismissed"),
        ("C", "module_closed_by_programme", "2022-06-30", "open"),
        ("E", "age_limit", "2022-01-01", "open"),
        ("F", "follow_up_due", "2021-09-05", "done"),
        ("G", "consent_superseded", "2021-07-01", "open"),
        ("G", "module_closed_by_programme", "2022-06-30", "done"),
    }
    assert [i["due_date"] for i in items] == sorted(i["due_date"] for i in items)


def test_done_and_dismissed_items_say_by_which_event_and_by_whom(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    items = worklist(
        client, auth(), due_within_days=0, state="all", min_position=journeys["position"]
    )
    by_key = {(i["participant_id"], i["kind"], i["state"]): i for i in items}

    renewed = by_key[(journeys["A"], "residence_expiry", "done")]
    followed_up = by_key[(journeys["F"], "follow_up_due", "done")]
    closed = by_key[(journeys["G"], "module_closed_by_programme", "done")]
    dismissed = by_key[(journeys["C"], "consent_superseded", "dismissed")]
    assert renewed["done_by"]["event"] == "ResidenceStatusChanged"
    assert renewed["done_by"]["on"] == "2021-06-20"
    assert followed_up["done_by"]["event"] == "FollowUpRecorded"
    assert closed["done_by"]["event"] == "ModuleExited"
    assert closed["module"] == "F6"
    assert dismissed["dismissed"]["reason"] == "done_outside_lotse"
    assert dismissed["dismissed"]["by"] == "caseworker-caritas-ahlen"
    assert dismissed["responsible"] == {"assignees": [], "provider": "caritas-ahlen"}


def test_by_default_only_open_items_are_listed_and_overdue_ones_keep_their_past_due_date(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    items = worklist(client, auth(), due_within_days=14, min_position=journeys["position"])

    assert {i["state"] for i in items} == {"open"}
    assert len(items) == 7
    assert all(i["overdue"] for i in items)
    assert min(i["due_date"] for i in items) == "2021-05-17"


def test_the_due_window_and_the_kind_filter_narrow_the_list(
    client: TestClient, auth: Auth, runtime: Runtime, journeys: dict[str, Any]
) -> None:
    runtime.journeys.clock = lambda: date(2022, 6, 1)  # type: ignore[method-assign]

    today = worklist(
        client,
        auth(),
        due_within_days=0,
        kind="module_closed_by_programme",
        min_position=journeys["position"],
    )
    within_45 = worklist(client, auth(), due_within_days=45, kind="module_closed_by_programme")
    residence = worklist(client, auth(), due_within_days=0, kind="residence_expiry")

    assert today == []
    assert [(i["due_date"], i["overdue"]) for i in within_45] == [("2022-06-30", False)]
    assert [(i["participant_id"], i["due_date"]) for i in residence] == [
        (journeys["A"], "2021-08-19")
    ]


def test_each_role_sees_the_items_of_its_scope_only(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    position = journeys["position"]

    own = worklist(client, auth(), min_position=position)
    other = worklist(client, auth(org="vhs-warendorf"), min_position=position)
    elsewhere = worklist(client, auth(org="diakonie-duesseldorf"), min_position=position)
    coordinator = worklist(client, auth("coordinator", "warendorf"), min_position=position)
    funder = client.get("/worklist", headers=auth("funder", "bezirksregierung-arnsberg"))

    assert journeys["D"] not in {i["participant_id"] for i in own}
    assert {i["participant_id"] for i in other} == {journeys["D"]}
    assert elsewhere == []
    assert {i["participant_id"] for i in coordinator} == {i["participant_id"] for i in own + other}
    assert funder.status_code == 403


def test_assigned_to_me_lists_the_items_of_my_participants(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    assign = {
        "type": "CaseAssigned",
        "effective_date": "2021-03-05",
        "assignee": "caseworker-caritas-ahlen",
    }
    position = post(client, auth, journeys["E"], assign, "caritas-ahlen")

    mine = worklist(client, auth(), assigned_to="me", min_position=position)

    assert [(i["participant_id"], i["kind"]) for i in mine] == [(journeys["E"], "age_limit")]
    assert mine[0]["responsible"]["assignees"] == ["caseworker-caritas-ahlen"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "teleported"}, "kind"),
        ({"due_within_days": -1}, "due_within_days"),
        ({"due_within_days": "soon"}, "due_within_days"),
        ({"state": "forgotten"}, "state"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    client: TestClient, auth: Auth, params: dict[str, Any], field: str
) -> None:
    response = client.get("/worklist", params=params, headers=auth())

    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert field in response.text


def test_dismissing_for_another_providers_participant_is_404(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    body = {
        "effective_date": "2021-07-05",
        "kind": "no_contact",
        "due_date": "2021-05-29",
        "reason": "other",
    }

    response = client.post(
        f"/participants/{journeys['C']}/worklist/dismissals",
        json=body,
        headers=auth(org="vhs-warendorf"),
    )

    assert response.status_code == 404


def test_a_dismissal_with_an_unknown_kind_or_reason_is_422(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    base = {"effective_date": "2021-07-05", "kind": "no_contact", "due_date": "2021-05-29"}

    bad_kind = client.post(
        f"/participants/{journeys['C']}/milestones",
        json={"type": "WorklistItemDismissed", **base, "kind": "teleported", "reason": "other"},
        headers=auth(),
    )
    bad_reason = client.post(
        f"/participants/{journeys['C']}/worklist/dismissals",
        json={**base, "reason": "because"},
        headers=auth(),
    )

    assert bad_kind.status_code == 422
    assert bad_reason.status_code == 422


def test_registration_stores_the_residence_expiry_with_the_status(
    client: TestClient, auth: Auth
) -> None:
    pid = register(client, auth, residence_valid_until="2021-06-30")
    before_intake = client.post(
        "/participants", json=registration(residence_valid_until="2021-01-01"), headers=auth()
    )

    state = client.get(f"/participants/{pid}", headers=auth()).json()

    assert state["residence_valid_until"] == "2021-06-30"
    assert before_intake.status_code == 422
    assert before_intake.json()["field"] == "residence_valid_until"


def test_the_worklist_read_model_rebuilt_equals_the_live_one(
    client: TestClient, auth: Auth, runtime: Runtime, journeys: dict[str, Any]
) -> None:
    live_items = worklist(
        client, auth(), due_within_days=0, state="all", min_position=journeys["position"]
    )
    live = run(snapshot(runtime))

    run(rebuild_all(runtime, MasterKey.from_text(runtime.settings.master_key)))

    rebuilt = run(snapshot(runtime))
    assert len(live["rm_worklist"]) >= len(live_items)
    assert len(live["rm_worklist_dismissals"]) == 1
    assert rebuilt["rm_worklist"] == live["rm_worklist"]
    assert rebuilt["rm_worklist_dismissals"] == live["rm_worklist_dismissals"]
    assert worklist(client, auth(), due_within_days=0, state="all") == live_items


def feed_of(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post("/worklist/calendar-feeds", headers=headers)
    assert response.status_code == 201, response.text
    url = str(response.json()["url"])
    assert url.startswith("/worklist.ics?token=")
    return url


def test_the_calendar_feed_holds_the_due_list_with_pseudonymous_references_only(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    expected = worklist(client, auth(), due_within_days=90, min_position=journeys["position"])
    url = feed_of(client, auth())

    response = client.get(url)  # a calendar program sends no bearer token

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    text = response.text
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert text.count("BEGIN:VEVENT") == len(expected) == 7
    assert f"UID:{journeys['B']}-follow_up_due-20211215@lotse" in text
    assert "DTSTART;VALUE=DATE:20211215" in text
    assert "Amina" not in text
    assert "Haidari" not in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_a_revoked_or_replaced_feed_answers_404(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    first = feed_of(client, auth())
    second = feed_of(client, auth())

    replaced = client.get(first)
    revoked = client.delete("/worklist/calendar-feeds", headers=auth())
    after = client.get(second)

    assert replaced.status_code == 404
    assert revoked.status_code == 204
    assert after.status_code == 404
    assert after.headers["content-type"].startswith(PROBLEM)


def test_the_feed_of_a_deactivated_user_is_refused(
    client: TestClient, auth: Auth, journeys: dict[str, Any]
) -> None:
    admin = auth("admin", "lotse-operations")
    person = {
        "issuer": "caritas",
        "subject": "coach-feed",
        "display_name": "Erika Beispiel",
        "email": "erika@caritas.example",
        "memberships": [{"role": "caseworker", "member_of": "caritas-ahlen"}],
    }
    added = client.post("/users", json=person, headers=admin)
    assert added.status_code == 201, added.text
    stream, user_id = added.json()["id"], added.json()["user_id"]
    url = feed_of(client, auth(user=user_id))
    assert client.get(url).status_code == 200

    done = client.post(
        f"/users/{stream}/deactivation", json={"reason": "left-organisation"}, headers=admin
    )
    assert done.status_code == 201, done.text
    deadline = time.monotonic() + 5
    while (response := client.get(url)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)  # the directory's standing is at most REFRESH_SECONDS old

    assert response.status_code == 403
    assert response.json()["rule"] == "user-deactivated"


def test_a_referred_provider_sees_only_the_items_of_the_referred_module(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    pid = register(client, auth)
    enter(client, auth, pid, "F6")
    referral = {"provider": "vhs-warendorf", "module": "F6", "effective_date": "2021-03-03"}
    made = client.post(f"/participants/{pid}/referrals", json=referral, headers=auth())
    assert made.status_code == 201, made.text
    accepted = client.post(
        f"/participants/{pid}/referrals/{made.json()['referral_id']}/acceptance",
        json={"effective_date": "2021-03-04"},
        headers=auth(org="vhs-warendorf"),
    )
    assert accepted.status_code == 201, accepted.text
    runtime.journeys.clock = lambda: TODAY  # type: ignore[method-assign]

    lead = worklist(client, auth(), min_position=accepted.json()["position"])
    referred = worklist(client, auth(org="vhs-warendorf"))

    assert {i["kind"] for i in lead} == {
        "no_contact",
        "consent_superseded",
        "module_closed_by_programme",
    }
    assert [(i["participant_id"], i["kind"], i["module"]) for i in referred] == [
        (pid, "module_closed_by_programme", "F6")
    ]


def test_a_corrected_expiry_at_registration_moves_the_due_date(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    pid = register(client, auth, residence_valid_until="2021-06-30")

    def correct(until: str) -> Any:
        body = {
            "type": "EntryCorrected",
            "effective_date": "2021-03-10",
            "corrects_version": 1,
            "reason": "Tippfehler",
            "changes": {"residence_valid_until": until},
        }
        return client.post(f"/participants/{pid}/milestones", json=body, headers=auth())

    before_intake = correct("2020-12-31")
    corrected = correct("2021-08-31")
    runtime.journeys.clock = lambda: TODAY  # type: ignore[method-assign]

    items = worklist(
        client,
        auth(),
        kind="residence_expiry",
        state="all",
        min_position=corrected.json()["position"],
    )
    assert before_intake.status_code == 422
    assert before_intake.json()["field"] == "changes.residence_valid_until"
    assert corrected.status_code == 201, corrected.text
    assert [(i["due_date"], i["state"]) for i in items] == [("2021-07-20", "open")]
