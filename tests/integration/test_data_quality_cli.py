"""``lotse report data-quality`` prints what ``GET /reports/data-quality`` answers an
admin, and refuses a malformed quarter naming the option (exit 2)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.cli import main
from lotse.api.runtime import build_runtime
from lotse.api.settings import Settings
from lotse.storage.checkpoints import new_signing_key_text
from tests.builders.api import Auth
from tests.builders.data_quality import record_journeys
from tests.builders.database import empty_tables


def test_the_cli_prints_the_routes_document_and_refuses_a_bad_quarter(
    settings: Settings,
    database_url: str,
    auth: Auth,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = replace(settings, audit_signing_key=new_signing_key_text())
    empty_tables(database_url)
    runtime = build_runtime(settings, checkpointing=False)
    for name, value in (
        ("DATABASE_URL", database_url),
        ("LOTSE_SECRET_KEY", settings.secret_key),
        ("LOTSE_MASTER_KEY", settings.master_key),
        ("LOTSE_AUDIT_SIGNING_KEY", settings.audit_signing_key),
        ("LOTSE_DATA_DIR", str(tmp_path)),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LOTSE_CONFIG", raising=False)
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            position = record_journeys(client, auth, runtime, monkeypatch)
            response = client.get(
                "/reports/data-quality",
                params={"quarter": "2021-Q3", "min_position": position},
                headers=auth("admin", "lotse-operations"),
            )
            capsys.readouterr()
            code = main(["report", "data-quality", "--quarter", "2021-Q3"])
            printed = capsys.readouterr().out
            bad = main(["report", "data-quality", "--quarter", "2021-Q5"])
            refused = capsys.readouterr().err
    finally:
        runtime.close()

    assert response.status_code == 200, response.text
    assert code == 0
    document = json.loads(printed)
    # The same reference day (Q3 2021 has ended for both), so the same document.
    assert document == response.json()
    assert {r["provider"] for r in document["providers"]} == {
        "caritas-ahlen",
        "vhs-warendorf",
        "diakonie-duesseldorf",
    }
    assert bad == 2
    assert "--quarter" in refused
