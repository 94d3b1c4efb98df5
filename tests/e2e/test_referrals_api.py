"""Several providers per participant, through HTTP: referrals, what the receiving
provider may record and read, and what the previous provider keeps after a transfer."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.settings import Settings
from lotse.domain.configuration import DEFAULT_CONFIG_DIR
from tests.builders.api import Auth, registration

#: A provider that delivers another programme only, for the refused referral.
KIM_PROVIDER = """
[[providers]]
id = "kim-warendorf"
name = "Kommunales Integrationsmanagement Warendorf"
municipality = "warendorf"
programmes = ["kim"]
"""


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The shipped configuration plus a second programme and a provider of only that one."""
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    text = (config / "programmes" / "durchstarten.toml").read_text(encoding="utf-8")
    kim = text.replace('id = "durchstarten"', 'id = "kim"', 1)
    (config / "programmes" / "kim.toml").write_text(kim, encoding="utf-8")
    with (config / "organisations.toml").open("a", encoding="utf-8") as f:
        f.write(KIM_PROVIDER)
    return dataclasses.replace(settings, config_dir=config)


def post(client: TestClient, headers: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def milestone(client: TestClient, headers: dict[str, str], pid: str, **body: Any) -> Any:
    return client.post(f"/participants/{pid}/milestones", json=body, headers=headers)


def lead_case(client: TestClient, auth: Auth) -> str:
    """A participant of caritas-ahlen, eligible, with consent, in F1."""
    lead = auth()
    pid = str(post(client, lead, "/participants", registration())["id"])
    for body in (
        {"type": "EligibilityAssessed", "eligible": True, "target_group": "duldung"},
        {"type": "ConsentGiven", "consent_version": "2020-01"},
        {"type": "ModuleEntered", "module": "F1"},
        {"type": "ResidenceStatusChanged", "status": "ausbildungsduldung_60c"},
    ):
        response = milestone(client, lead, pid, effective_date="2021-03-02", **body)
        assert response.status_code == 201, response.text
    return pid


def refer(client: TestClient, auth: Auth, pid: str, provider: str = "vhs-warendorf") -> str:
    body = {"provider": provider, "module": "F4", "effective_date": "2021-03-03"}
    return str(post(client, auth(), f"/participants/{pid}/referrals", body)["referral_id"])


def accepted_referral(client: TestClient, auth: Auth) -> tuple[str, int]:
    pid = lead_case(client, auth)
    referral_id = refer(client, auth, pid)
    vhs = auth("caseworker", "vhs-warendorf")
    accepted = post(
        client,
        vhs,
        f"/participants/{pid}/referrals/{referral_id}/acceptance",
        {"effective_date": "2021-03-04"},
    )
    return pid, accepted["position"]


def version_of(client: TestClient, auth: Auth, pid: str) -> int:
    response = client.get(f"/participants/{pid}", headers=auth())
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


# ------------------------------------------------------------------- contract


def test_the_lead_provider_refers_and_the_receiving_provider_accepts(
    client: TestClient, auth: Auth
) -> None:
    pid = lead_case(client, auth)

    made = client.post(
        f"/participants/{pid}/referrals",
        json={"provider": "vhs-warendorf", "module": "F4", "effective_date": "2021-03-03"},
        headers=auth(),
    )
    referral_id = made.json()["referral_id"]
    by_lead = client.post(
        f"/participants/{pid}/referrals/{referral_id}/acceptance",
        json={"effective_date": "2021-03-04"},
        headers=auth(),
    )
    by_receiver = client.post(
        f"/participants/{pid}/referrals/{referral_id}/acceptance",
        json={"effective_date": "2021-03-04"},
        headers=auth("caseworker", "vhs-warendorf"),
    )

    assert made.status_code == 201, made.text
    assert by_lead.status_code == 403
    assert by_receiver.status_code == 201, by_receiver.text
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert [e["type"] for e in history][-2:] == ["ReferralMade", "ReferralAccepted"]
    assert history[-2]["data"]["consent_version"] == "2020-01"


def test_a_referral_to_a_provider_of_another_programme_is_refused_and_nothing_written(
    client: TestClient, auth: Auth
) -> None:
    pid = lead_case(client, auth)
    before = version_of(client, auth, pid)

    response = client.post(
        f"/participants/{pid}/referrals",
        json={"provider": "kim-warendorf", "module": "F4", "effective_date": "2021-03-03"},
        headers=auth(),
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["rule"], problem["field"]) == ("provider-not-in-programme", "provider")
    assert version_of(client, auth, pid) == before


def test_the_receiving_provider_finds_the_referrals_waiting_for_it(
    client: TestClient, auth: Auth
) -> None:
    pid = lead_case(client, auth)
    body = {"provider": "vhs-warendorf", "module": "F4", "effective_date": "2021-03-03"}
    made = post(client, auth(), f"/participants/{pid}/referrals", body)

    def listed(org: str, **params: Any) -> list[tuple[str, str, str]]:
        params["min_position"] = made["position"]
        response = client.get("/referrals", params=params, headers=auth("caseworker", org))
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return [(i["referral_id"], i["status"], i["lead_provider"]) for i in items]

    waiting = (made["referral_id"], "made", "caritas-ahlen")
    assert listed("vhs-warendorf", status="made") == [waiting]
    assert listed("caritas-ahlen") == [waiting]
    assert listed("diakonie-duesseldorf") == []
    funder = client.get("/referrals", headers=auth("funder", "bezirksregierung-arnsberg"))
    assert funder.status_code == 403


def test_a_retried_referral_with_the_same_idempotency_key_is_made_once(
    client: TestClient, auth: Auth
) -> None:
    pid = lead_case(client, auth)
    headers = {**auth(), "Idempotency-Key": "referral-1"}
    body = {"provider": "vhs-warendorf", "module": "F4", "effective_date": "2021-03-03"}

    first = client.post(f"/participants/{pid}/referrals", json=body, headers=headers)
    retry = client.post(f"/participants/{pid}/referrals", json=body, headers=headers)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["referral_id"] == first.json()["referral_id"]
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    assert [e["type"] for e in history].count("ReferralMade") == 1


def test_a_referral_by_another_provider_does_not_find_the_participant(
    client: TestClient, auth: Auth
) -> None:
    pid = lead_case(client, auth)

    response = client.post(
        f"/participants/{pid}/referrals",
        json={"provider": "vhs-warendorf", "module": "F4", "effective_date": "2021-03-03"},
        headers=auth("caseworker", "vhs-warendorf"),
    )

    assert response.status_code == 404


def test_an_unknown_referral_is_404(client: TestClient, auth: Auth) -> None:
    pid = lead_case(client, auth)

    response = client.post(
        f"/participants/{pid}/referrals/no-such-referral/acceptance",
        json={"effective_date": "2021-03-04"},
        headers=auth(),
    )

    assert response.status_code == 404
    assert response.json()["rule"] == "referral-not-found"


# ---------------------------------------------- what the receiving provider does


def test_the_receiving_provider_records_the_entry_into_its_module(
    client: TestClient, auth: Auth
) -> None:
    pid, _ = accepted_referral(client, auth)
    vhs = auth("caseworker", "vhs-warendorf")

    response = milestone(
        client, vhs, pid, type="ModuleEntered", module="F4", effective_date="2021-03-05"
    )

    assert response.status_code == 201, response.text
    state = client.get(f"/participants/{pid}", headers=auth()).json()
    assert sorted(m["module"] for m in state["open_modules"]) == ["F1", "F4"]


def test_the_receiving_provider_is_refused_another_module_and_nothing_is_written(
    client: TestClient, auth: Auth
) -> None:
    pid, _ = accepted_referral(client, auth)
    vhs = auth("caseworker", "vhs-warendorf")
    before = version_of(client, auth, pid)

    other_module = milestone(
        client, vhs, pid, type="ModuleEntered", module="F2", effective_date="2021-03-05"
    )
    other_record = milestone(
        client,
        vhs,
        pid,
        type="ResidenceStatusChanged",
        status="duldung",
        effective_date="2021-03-05",
    )

    assert other_module.status_code == 403
    assert other_module.json()["rule"] == "referral-module-only"
    assert other_record.status_code == 403
    assert version_of(client, auth, pid) == before


def test_the_receiving_provider_is_refused_the_sensitive_full_state(
    client: TestClient, auth: Auth
) -> None:
    pid, _ = accepted_referral(client, auth)
    vhs = auth("caseworker", "vhs-warendorf")

    full = client.get(f"/participants/{pid}", headers=vhs)
    state = client.get(f"/participants/{pid}/state", headers=vhs)

    assert full.status_code == 403
    assert full.json()["rule"] == "referral-core-data-only"
    assert "ausbildungsduldung" not in full.text
    assert state.status_code == 403


def test_the_receiving_provider_lists_the_referred_participant_with_core_data_only(
    client: TestClient, auth: Auth
) -> None:
    pid, position = accepted_referral(client, auth)
    vhs = auth("caseworker", "vhs-warendorf")

    page = client.get("/participants", params={"min_position": position}, headers=vhs).json()
    lead_page = client.get("/participants", params={"min_position": position}, headers=auth())

    [item] = [i for i in page["items"] if i["id"] == pid]
    assert item["referred_for"] == ["F4"]
    assert (item["given_name"], item["provider"]) == ("Amina", "caritas-ahlen")
    assert item["residence_status"] is None
    assert item["open_modules"] == []  # F1 is the lead provider's; F4 not yet entered
    [own] = [i for i in lead_page.json()["items"] if i["id"] == pid]
    assert (own["referred_for"], own["residence_status"]) == ([], "ausbildungsduldung_60c")


def test_a_module_filter_finds_a_referred_participant_only_by_the_referred_module(
    client: TestClient, auth: Auth
) -> None:
    pid, _ = accepted_referral(client, auth)
    vhs = auth("caseworker", "vhs-warendorf")
    entered = milestone(
        client, vhs, pid, type="ModuleEntered", module="F4", effective_date="2021-03-05"
    ).json()

    def ids(module: str) -> list[str]:
        params = {"min_position": entered["position"], "module": module}
        page = client.get("/participants", params=params, headers=vhs).json()
        return [i["id"] for i in page["items"]]

    assert pid in ids("F4")
    assert pid not in ids("F1")  # open, but the lead provider's: not revealed by a filter


def test_the_receiving_provider_reads_only_its_own_entries_in_timeline_and_history(
    client: TestClient, auth: Auth
) -> None:
    pid, _ = accepted_referral(client, auth)
    vhs = auth("caseworker", "vhs-warendorf")
    entered = milestone(
        client, vhs, pid, type="ModuleEntered", module="F4", effective_date="2021-03-05"
    ).json()

    timeline = client.get(
        f"/participants/{pid}/timeline",
        params={"min_position": entered["position"]},
        headers=vhs,
    )
    history = client.get(f"/participants/{pid}/history", headers=vhs)

    assert timeline.status_code == 200, timeline.text
    assert [e["type"] for e in timeline.json()["entries"]] == ["ReferralAccepted", "ModuleEntered"]
    assert [e["type"] for e in history.json()["events"]] == ["ReferralAccepted", "ModuleEntered"]
    assert "ausbildungsduldung" not in timeline.text + history.text


def test_an_ended_referral_leaves_the_receiving_provider_its_own_entries_only(
    client: TestClient, auth: Auth
) -> None:
    pid = lead_case(client, auth)
    referral_id = refer(client, auth, pid)
    vhs = auth("caseworker", "vhs-warendorf")
    post(
        client,
        vhs,
        f"/participants/{pid}/referrals/{referral_id}/acceptance",
        {"effective_date": "2021-03-04"},
    )

    ended = post(
        client,
        auth(),
        f"/participants/{pid}/referrals/{referral_id}/ending",
        {"effective_date": "2021-03-10", "reason": "no_longer_needed"},
    )
    refused = milestone(
        client, vhs, pid, type="ModuleEntered", module="F4", effective_date="2021-03-11"
    )
    page = client.get("/participants", params={"min_position": ended["position"]}, headers=vhs)

    assert refused.status_code == 404
    assert pid not in [i["id"] for i in page.json()["items"]]
    history = client.get(f"/participants/{pid}/history", headers=vhs).json()["events"]
    assert [e["type"] for e in history] == ["ReferralAccepted"]


# ----------------------------------------------------------------- transfers


def test_after_a_transfer_the_previous_provider_reads_only_what_it_recorded(
    client: TestClient, auth: Auth
) -> None:
    pid = lead_case(client, auth)
    transferred = milestone(
        client,
        auth(),
        pid,
        type="CaseTransferred",
        to_provider="diakonie-duesseldorf",
        effective_date="2021-04-01",
    )
    assert transferred.status_code == 201, transferred.text
    newer = milestone(
        client,
        auth("caseworker", "diakonie-duesseldorf"),
        pid,
        type="LanguageLevelAssessed",
        level="A2",
        effective_date="2021-04-02",
    ).json()

    state = client.get(f"/participants/{pid}", headers=auth())
    timeline = client.get(
        f"/participants/{pid}/timeline", params={"min_position": newer["position"]}, headers=auth()
    )
    history = client.get(f"/participants/{pid}/history", headers=auth())

    assert state.status_code == 404
    assert timeline.status_code == 200, timeline.text
    types = [e["type"] for e in timeline.json()["entries"]]
    assert types[0] == "Registered"
    assert "CaseTransferred" in types
    assert "LanguageLevelAssessed" not in types
    assert {e["organisation"] for e in timeline.json()["entries"]} == {"caritas-ahlen"}
    assert "LanguageLevelAssessed" not in [e["type"] for e in history.json()["events"]]
