"""Berichte, Datenqualität: the coordinator's page shows the hand-computed figures of
``tests/e2e/test_data_quality_api.py`` the German way; other roles get no link and
a refusal; a malformed quarter is named next to its field."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth
from tests.builders.data_quality import record_journeys
from tests.builders.page_text import raw_codes, visible
from tests.builders.pages import sign_in


@pytest.fixture
def recorded(
    client: TestClient, auth: Auth, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> int:
    position = record_journeys(client, auth, runtime, monkeypatch)
    # Read-your-writes before the page reads the read models.
    response = client.get(
        "/reports/data-quality",
        params={"quarter": "2021-Q3", "min_position": position},
        headers=auth(role="admin", org="lotse-operations"),
    )
    assert response.status_code == 200, response.text
    return position


def rows(page: str) -> dict[str, list[str]]:
    """The table's rows by provider name: the visible text of each cell."""
    found = {}
    for row in re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", page, flags=re.S):
        cells = [visible(c).strip() for c in re.split(r"</t[hd]>", row)[:-1]]
        found[cells[0]] = cells[1:]
    return found


def test_the_coordinator_reads_each_providers_figures_in_german(
    web: TestClient, runtime: Runtime, recorded: int
) -> None:
    # A person's name as user id: the default one would show the role's code.
    sign_in(web, runtime, "coordinator", user="k.yilmaz")

    page = web.get("/berichte/datenqualitaet", params={"quartal": "2021-Q3"})

    assert page.status_code == 200, page.text
    table = rows(page.text)
    assert set(table) == {"Caritasverband Ahlen", "Volkshochschule Warendorf"}, table
    # Kommune, Teilnehmende, mit fehlenden Kerndaten, Anteil %, Es fehlt, Einträge,
    # Median, überfällig, Korrekturen, je 100 Einträge.
    assert table["Caritasverband Ahlen"][2:] == [
        "1",
        "50",
        "Ablaufdatum der Duldung oder Gestattung: 1; Förderfähigkeit mit Zielgruppe: 1;"
        " Einwilligung: 1",
        "7",
        "3",
        "1",
        "2",
        "28,57",
    ]
    assert table["Volkshochschule Warendorf"][2:] == [
        "2",
        "66,7",
        "Einwilligung: 2",
        "8",
        "4,5",
        "1",
        "0",
        "0",
    ]
    assert "Diakonie" not in visible(page.text)
    assert raw_codes(visible(page.text)) == []


def test_the_reports_page_links_it_for_the_coordinator_only(
    web: TestClient, runtime: Runtime
) -> None:
    sign_in(web, runtime, "coordinator")
    coordinator = web.get("/berichte").text
    web.cookies.clear()
    sign_in(web, runtime, "caseworker")
    caseworker = web.get("/berichte").text
    refused = web.get("/berichte/datenqualitaet")

    assert 'href="/berichte/datenqualitaet"' in coordinator
    assert 'href="/berichte/datenqualitaet"' not in caseworker
    assert refused.status_code == 403
    assert "Datenqualität je Träger" not in refused.text


def test_a_malformed_quarter_is_named_next_to_its_field(web: TestClient, runtime: Runtime) -> None:
    sign_in(web, runtime, "coordinator")

    page = web.get("/berichte/datenqualitaet", params={"quartal": "2021-Q5"})

    assert page.status_code == 422
    assert 'id="datenqualitaet-quartal-error"' in page.text
    assert "Bitte ein Quartal angeben, zum Beispiel 2021-Q3." in page.text
    assert "<caption>" not in page.text
