"""``lotse worklist`` prints what ``GET /worklist`` answers, with pseudonymous ids only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.cli import main
from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.storage.checkpoints import new_signing_key_text
from tests.builders.api import Auth, into_module, registration


@pytest.fixture
def cli_and_api(
    settings: Settings,
    database_url: str,
    runtime: Runtime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    """The API and the CLI on one database."""
    for name, value in (
        ("DATABASE_URL", database_url),
        ("LOTSE_SECRET_KEY", settings.secret_key),
        ("LOTSE_MASTER_KEY", settings.master_key),
        ("LOTSE_AUDIT_SIGNING_KEY", settings.audit_signing_key or new_signing_key_text()),
        ("LOTSE_DATA_DIR", str(tmp_path)),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LOTSE_CONFIG", raising=False)
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


def seeded(client: TestClient, auth: Auth) -> int:
    """Two participants of caritas-ahlen and one of vhs-warendorf, each with F1 open."""
    position = 0
    for provider in ("caritas-ahlen", "caritas-ahlen", "vhs-warendorf"):
        headers = auth(org=provider)
        body = registration(provider=provider, residence_valid_until="2021-06-30")
        response = client.post("/participants", json=body, headers=headers)
        assert response.status_code == 201, response.text
        pid = response.json()["id"]
        for step in into_module("F1"):
            written = client.post(f"/participants/{pid}/milestones", json=step, headers=headers)
            assert written.status_code == 201, written.text
            position = written.json()["position"]
    return int(position)


def test_the_cli_prints_the_items_the_route_answers(
    cli_and_api: TestClient, auth: Auth, capsys: pytest.CaptureFixture[str]
) -> None:
    position = seeded(cli_and_api, auth)
    api = cli_and_api.get(
        "/worklist", params={"due_within_days": 14, "min_position": position}, headers=auth()
    ).json()

    code = main(
        ["worklist", "--due-within", "14d", "--provider", "caritas-ahlen", "--format", "json"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed: dict[str, Any] = orjson.loads(captured.out)

    assert code == 0
    assert len(api["items"]) == 6  # per participant: residence, no contact, consent
    assert [(i["participant_id"], i["kind"], i["due_date"]) for i in printed["items"]] == [
        (i["participant_id"], i["kind"], i["due_date"]) for i in api["items"]
    ]


def test_the_text_listing_shows_ids_and_no_names(
    cli_and_api: TestClient, auth: Auth, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded(cli_and_api, auth)
    cli_and_api.get("/worklist", params={"min_position": 1}, headers=auth())

    code = main(["worklist", "--due-within", "14", "--kind", "residence_expiry"])
    out = capsys.readouterr().out

    assert code == 0
    assert out.count("residence_expiry") == 3
    assert "OVERDUE" in out
    assert "Amina" not in out
    assert "Haidari" not in out


def test_a_due_window_that_is_not_a_number_of_days_is_refused(
    cli_and_api: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["worklist", "--due-within", "two weeks"])

    assert e.value.code == 2
    assert "--due-within" in capsys.readouterr().err
