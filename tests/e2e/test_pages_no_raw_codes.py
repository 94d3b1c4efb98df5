"""No raw code on screen: every page of a demo-like journey reads in German labels.

A participant goes through registration, eligibility, consent, a module, a
language level, a coaching contact, a correction and a void (the JSON API, as
the demo does); then each page a case worker and a coordinator open is read as a
person reads it (the visible text, not the markup) and must hold none of the
codes the pages translate: schema field names (``effective_date``), vocabulary
values (``duldung``, ``phone``), event types, role codes, organisation and
programme ids, nationality codes and module codes without their names.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.domain.labels import country_label
from tests.builders.api import Auth, into_module, milestone, registration
from tests.builders.page_text import raw_codes, visible
from tests.builders.pages import sign_in

COACH = "s.berger"
COORDINATOR = "k.yilmaz"


def journey(client: TestClient, auth: Auth) -> tuple[str, int, int]:
    """A participant as the demo has them; (id, number of entries, last position)."""
    coach = {"user": COACH}
    answer = client.post(
        "/participants",
        json=registration(nationality="IR", residence_status="duldung"),
        headers=auth(**coach),
    )
    assert answer.status_code == 201, answer.text
    pid = str(answer.json()["id"])
    steps = [
        *into_module("F4"),
        {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"},
        {
            "type": "CoachingContactLogged",
            "effective_date": "2021-03-08",
            "minutes": 45,
            "mode": "phone",
            "confirmed_by_participant": True,
        },
        {
            "type": "EntryCorrected",
            "effective_date": "2021-03-09",
            "corrects_version": 5,
            "reason": "Datum und Niveau vertippt",
            "changes": {"effective_date": "2021-03-04", "level": "B1"},
        },
        {
            "type": "EntryVoided",
            "effective_date": "2021-03-09",
            "voids_version": 6,
            "reason": "doppelt erfasst",
        },
    ]
    for body in steps:
        answer = milestone(client, lambda: auth(**coach), pid, body)
        assert answer.status_code == 201, answer.text
    return pid, 1 + len(steps), int(answer.json()["position"])


def test_the_pages_of_a_journey_show_no_raw_codes(
    web: TestClient, runtime: Runtime, client: TestClient, auth: Auth
) -> None:
    pid, entries, last = journey(client, auth)
    sign_in(web, runtime, "caseworker", user=COACH)
    paths = [
        "/",
        "/teilnehmende",
        "/teilnehmende/neu",
        f"/teilnehmende/{pid}",
        *(f"/teilnehmende/{pid}/eintraege/{v}" for v in range(1, entries + 1)),
    ]
    shown: dict[str, str] = {}
    for path in paths:
        # ?stand: the pages wait until their read models hold the journey.
        page = web.get(path, params={"stand": last}, follow_redirects=True)
        assert page.status_code == 200, path
        shown[f"caseworker {path}"] = visible(page.text)
    web.cookies.clear()
    sign_in(web, runtime, "coordinator", user=COORDINATOR)
    for path in ("/", "/teilnehmende", f"/teilnehmende/{pid}"):
        page = web.get(path, params={"stand": last}, follow_redirects=True)
        assert page.status_code == 200, path
        shown[f"coordinator {path}"] = visible(page.text)

    leaks = {where: codes for where, text in shown.items() if (codes := raw_codes(text))}

    assert leaks == {}
    person = shown[f"caseworker /teilnehmende/{pid}"]
    assert f"Staatsangehörigkeit {country_label('IR')}" in person
    assert "Eintrag 5 (Sprachstand festgestellt) korrigiert: Datum, Sprachniveau" in person
    assert "Eintritt in F4 - " in person
    # The Wiedervorlage is read too: the module open since 2021 has gone without contact.
    assert "Kein Coaching-Kontakt seit Wochen" in shown["caseworker /teilnehmende"]
    assert "Kein Coaching-Kontakt seit Wochen" in person


def test_the_registration_form_offers_nationality_by_country_name(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime, "caseworker", user=COACH)

    page = web.get("/teilnehmende/neu").text

    select = page.split('name="nationality"', 1)[1].split("</select>", 1)[0]
    assert '<option value="SY">Syrien</option>' in select
    assert '<option value="AF">Afghanistan</option>' in select
    assert '<option value="XK">Kosovo</option>' in select


def test_a_country_code_without_a_name_reads_as_a_stated_code() -> None:
    assert country_label("ER") == "Eritrea"
    assert country_label("QQ") == "Staat mit dem Ländercode QQ"


def test_the_raw_code_check_finds_the_codes_it_looks_for() -> None:
    leaked = (
        "korrigiert: effective_date; Status duldung; ModuleEntered; caseworker;"
        " caritas-ahlen; Staatsangehörigkeit IR; Eintritt in F2; Kontakt phone"
    )

    found = raw_codes(leaked)

    for code in (
        "effective_date",
        "ResidenceStatus.duldung",
        "ModuleEntered",
        "caseworker",
        "caritas-ahlen",
        "IR",
        "F2",
        "ContactMode.phone",
    ):
        assert code in found
    assert raw_codes("Eintritt in F2 - Coaching; Duldung; Syrien") == []
