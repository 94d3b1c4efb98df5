"""The Berichte pages over HTTP against real PostgreSQL: a coordinator's report with its
chart and downloads, what changed since, and a funder who sees only releases."""

from __future__ import annotations

import dataclasses
import io
import re

import openpyxl
import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.storage.checkpoints import new_signing_key_text
from tests.builders.api import Auth, into_module, registration
from tests.builders.journeys import AMINA
from tests.builders.pages import sign_in


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Releases are linked to a signed checkpoint.
    return dataclasses.replace(settings, audit_signing_key=new_signing_key_text())


def participant_in_f4(client: TestClient, auth: Auth) -> tuple[str, int]:
    response = client.post("/participants", json=registration(), headers=auth())
    assert response.status_code == 201, response.text
    pid = str(response.json()["id"])
    position = 0
    for body in into_module():
        recorded = client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
        assert recorded.status_code == 201, recorded.text
        position = int(recorded.json()["position"])
    return pid, position


def caught_up(client: TestClient, auth: Auth, position: int) -> None:
    """The report's read models hold ``position`` (as the JSON API's ``min_position``)."""
    answer = client.get(
        "/reports/monitoring",
        params={"period": "2021", "min_position": position},
        headers=auth("coordinator", "warendorf"),
    )
    assert answer.status_code == 200, answer.text


def coordinators_run(web: TestClient, runtime: Runtime, kind: str = "monitoring") -> str:
    csrf = sign_in(web, runtime, "coordinator", "warendorf")
    answer = web.post(
        "/berichte",
        data={"csrf_token": csrf, "kind": kind, "period": "2021", "municipality": "warendorf"},
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("/berichte/laeufe/")
    return location


def test_a_coordinator_makes_a_report_with_chart_and_downloads(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    _pid, position = participant_in_f4(client, auth)
    caught_up(client, auth, position)

    page = web.get(coordinators_run(web, runtime))

    assert page.status_code == 200
    chart = re.search(r'<img src="([^"]+\.svg)" alt="([^"]+)"', page.text)
    assert chart is not None
    assert chart.group(2)
    assert web.get(chart.group(1)).headers["content-type"].startswith("image/svg+xml")
    xlsx = re.search(r'href="([^"]+format=xlsx)"', page.text)
    assert xlsx is not None
    download = web.get(xlsx.group(1).replace("&amp;", "&"))
    assert download.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(download.content))
    assert "Herkunft" in workbook.sheetnames
    csv = re.search(r'href="([^"]+format=csv&amp;table=[a-z_]+)"', page.text)
    assert csv is not None
    assert (
        web.get(csv.group(1).replace("&amp;", "&")).headers["content-type"].startswith("text/csv")
    )


def test_a_report_for_an_unknown_period_is_refused_next_to_the_field(
    web: TestClient, runtime: Runtime
) -> None:
    csrf = sign_in(web, runtime, "coordinator", "warendorf")

    page = web.post(
        "/berichte", data={"csrf_token": csrf, "kind": "monitoring", "period": "letztes Jahr"}
    )

    assert page.status_code == 422
    assert 'id="bericht-period-error"' in page.text


def test_what_changed_since_a_report_lists_a_late_entry(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    _pid, position = participant_in_f4(client, auth)
    caught_up(client, auth, position)
    run_path = coordinators_run(web, runtime)
    _late, position = participant_in_f4(client, auth)
    caught_up(client, auth, position)

    page = web.get(f"{run_path}/aenderungen")

    assert page.status_code == 200
    assert "Eintritt in einen Förderbaustein" in page.text
    assert "Keine." not in page.text


def test_a_funder_sees_releases_but_no_names_and_no_ad_hoc_reports(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    _pid, position = participant_in_f4(client, auth)
    caught_up(client, auth, position)
    runtime.checkpoints.create()  # type: ignore[union-attr]
    release = client.post(
        "/reports/releases",
        json={"report": "monitoring", "period": "2021-Q1", "municipality": "warendorf"},
        headers=auth("admin", "*"),
    )
    assert release.status_code == 201, release.text
    run_path = coordinators_run(web, runtime)
    web.cookies.clear()
    csrf = sign_in(web, runtime, "funder")

    overview = web.get("/berichte")
    release_id = release.headers["location"].rpartition("/")[2]
    release_page = web.get(f"/berichte/veroeffentlicht/{release_id}")
    refused_run = web.get(run_path)
    refused_post = web.post(
        "/berichte", data={"csrf_token": csrf, "kind": "monitoring", "period": "2021"}
    )

    assert overview.status_code == 200
    assert 'action="/berichte"' not in overview.text
    assert release_page.status_code == 200
    for page in (overview, release_page):
        assert AMINA["given_name"] not in page.text
        assert AMINA["family_name"] not in page.text
    assert refused_run.status_code == 403
    assert refused_post.status_code == 403
    xlsx = re.search(r'href="([^"]+format=xlsx)"', release_page.text)
    assert xlsx is not None
    assert web.get(xlsx.group(1)).status_code == 200


def test_roles_without_reports_are_refused(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime, "org_admin", "caritas-ahlen")

    assert web.get("/berichte").status_code == 403
    assert 'href="/berichte"' not in web.get("/start").text


def test_a_case_workers_report_covers_the_own_provider(
    web: TestClient, client: TestClient, runtime: Runtime, auth: Auth
) -> None:
    _pid, position = participant_in_f4(client, auth)
    caught_up(client, auth, position)
    csrf = sign_in(web, runtime)
    form = web.get("/berichte")

    answer = web.post("/berichte", data={"csrf_token": csrf, "kind": "outcomes", "period": "2021"})

    assert 'name="municipality"' not in form.text
    assert "Teilnehmenden Ihres Trägers" in form.text
    assert answer.status_code == 303
    page = web.get(answer.headers["location"])
    assert "Caritasverband Ahlen" in page.text
