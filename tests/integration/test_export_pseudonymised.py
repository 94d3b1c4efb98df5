"""Export bundles carry personal data only when asked for explicitly.

A bundle leaves Lotse's reach once written: an erasure afterwards cannot shred it.
So bundles are pseudonymised by default (identifying fields withheld, participants
under their random id), and an export with personal data needs a purpose and is
recorded as such in the read-access log.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from lotse.api.cli import main
from lotse.api.runtime import Runtime
from tests.builders.api import Auth
from tests.builders.privacy import CANARY_BIRTH_DATE, register_canary


def bundle_bytes(path: Path) -> bytes:
    with zipfile.ZipFile(path) as bundle:
        return b"".join(bundle.read(name) for name in bundle.namelist())


def public_key(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["audit", "public-key"]) == 0
    return capsys.readouterr().out.strip()


def test_an_export_is_pseudonymised_by_default_and_verifies_offline(
    client: TestClient,
    auth: Auth,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid, given, family, employer = register_canary(client, auth)
    bundle = tmp_path / "bundle.zip"
    key = public_key(capsys)

    code = main(["audit", "export", "--participant", pid, "-o", str(bundle)])

    assert code == 0
    data = bundle_bytes(bundle)
    for value in (given, family, employer, CANARY_BIRTH_DATE):
        assert value.encode() not in data
    assert pid.encode() in data  # the random id: a pseudonym only Lotse can resolve
    assert b'"withheld_fields": ["birth_date", "family_name", "given_name"]' in data
    assert "pseudonymised" in capsys.readouterr().out
    assert main(["audit", "verify-bundle", str(bundle), "--public-key", key]) == 0


def test_an_export_with_personal_data_needs_a_purpose_and_is_logged_as_such(
    client: TestClient,
    auth: Auth,
    cli_env: None,
    runtime: Runtime,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pid, given, *_ = register_canary(client, auth)
    bundle = tmp_path / "named.zip"
    key = public_key(capsys)
    command = ["audit", "export", "--participant", pid, "-o", str(bundle), "--with-personal-data"]

    refused = main(command)
    assert refused == 2
    assert not bundle.exists()
    assert "--purpose" in capsys.readouterr().err

    code = main([*command, "--purpose", "Verwendungsnachweis 2021", "--user", "pruefer"])

    assert code == 0
    assert given.encode() in bundle_bytes(bundle)
    assert main(["audit", "verify-bundle", str(bundle), "--public-key", key]) == 0
    assert runtime.access_log is not None
    entries = runtime.access_log.entries_for(UUID(pid))
    exports = [
        (e["user_id"], e["endpoint"], e["purpose"])
        for e in entries
        if e["endpoint"].startswith("lotse audit export")
    ]
    assert exports == [
        ("pruefer", "lotse audit export --with-personal-data", "Verwendungsnachweis 2021")
    ]
