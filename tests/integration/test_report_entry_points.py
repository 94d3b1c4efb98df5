"""The report route and ``lotse report`` decide the same way: one request builder for both.

Against real PostgreSQL: the HTTP API and the command line ask for the same
report, and must pick the same programme, or refuse the same request.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.cli import main
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.domain.configuration import DEFAULT_CONFIG_DIR
from lotse.storage.checkpoints import new_signing_key_text
from tests.builders.api import Auth
from tests.builders.database import empty_tables


def _config_with_two_programmes(root: Path) -> Path:
    config = root / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    text = (config / "programmes" / "durchstarten.toml").read_text()
    (config / "programmes" / "zweitprogramm.toml").write_text(
        text.replace('id = "durchstarten"', 'id = "zweitprogramm"', 1)
    )
    return config


@pytest.fixture
def entry_points(
    request: pytest.FixtureRequest,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[TestClient, Runtime]]:
    """The API and the CLI on one database and one configuration (one or two programmes)."""
    config_dir = _config_with_two_programmes(tmp_path) if request.param == 2 else None
    settings = replace(settings, config_dir=config_dir, audit_signing_key=new_signing_key_text())
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
    if config_dir is not None:
        monkeypatch.setenv("LOTSE_CONFIG", str(config_dir))
    else:
        monkeypatch.delenv("LOTSE_CONFIG", raising=False)
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            yield client, runtime
    finally:
        runtime.close()


def _by_api(client: TestClient, auth: Auth, **params: str) -> tuple[int, dict[str, Any]]:
    response = client.get(
        "/reports/monitoring",
        params={"period": "2021-Q1", **params},
        headers=auth("admin", "*"),
    )
    return response.status_code, response.json()


def _by_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any] | str]:
    out = tmp_path / "report.json"
    code = main(["report", "monitoring", "--period", "2021-Q1", "-o", str(out), *args])
    err = capsys.readouterr().err
    return code, json.loads(out.read_text()) if code == 0 else err


@pytest.mark.parametrize("entry_points", [1], indirect=True)
def test_with_one_programme_the_route_and_the_cli_both_report_on_it_unnamed(
    entry_points: tuple[TestClient, Runtime],
    auth: Auth,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, _ = entry_points

    status, document = _by_api(client, auth)
    code, written = _by_cli(tmp_path, capsys)

    assert (status, code) == (200, 0), written
    assert isinstance(written, dict)
    assert document["run"]["parameters"]["programme"] == "durchstarten"
    assert written["run"]["parameters"]["programme"] == "durchstarten"


@pytest.mark.parametrize("entry_points", [2], indirect=True)
def test_with_two_programmes_the_route_and_the_cli_both_refuse_an_unnamed_one(
    entry_points: tuple[TestClient, Runtime],
    auth: Auth,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, _ = entry_points

    status, problem = _by_api(client, auth)
    code, message = _by_cli(tmp_path, capsys)
    named_status, named = _by_api(client, auth, programme="zweitprogramm")
    named_code, named_written = _by_cli(tmp_path, capsys, "--programme", "zweitprogramm")

    assert (status, problem["field"], problem["rule"]) == (422, "programme", "unknown-programme")
    assert code == 2
    assert "--programme is not a configured programme" in str(message)
    assert (named_status, named_code) == (200, 0), named_written
    assert isinstance(named_written, dict)
    assert named["run"]["parameters"]["programme"] == "zweitprogramm"
    assert named_written["run"]["parameters"]["programme"] == "zweitprogramm"
