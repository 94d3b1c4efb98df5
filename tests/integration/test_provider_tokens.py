"""Bearer tokens of a real OpenID provider, and revocation of any token on every worker.

The provider is panva's ``oidc-provider`` on loopback (``tests.builders.openid_provider``);
Lotse checks its tokens against the provider's discovery document and JWKS. The
refusal cases sign tokens with the provider's real key (or forge them without it)
and expect 401 with nothing written and no personal data in the answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from lotse.api import cli
from lotse.api.app import create_app
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.storage.token_registry import REFRESH_SECONDS
from tests.builders.api import registration
from tests.builders.openid_provider import (
    OpenIDProvider,
    new_private_jwk,
    running_provider,
    trusting,
)

ACCOUNTS = {
    "anna": {"name": "Anna Coach", "email": "anna@caritas.example", "groups": ["coaches"]},
    "bert": {"name": "Bert Guest", "email": "bert@example.org", "groups": ["visitors"]},
}
GROUPS = {"coaches": ("caseworker", "caritas-ahlen")}


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    with running_provider(tmp_path_factory.mktemp("op"), ACCOUNTS, browser=False) as op:
        yield op


@pytest.fixture
def settings(settings: Settings, provider: OpenIDProvider, tmp_path: Path) -> Settings:
    return trusting(settings, provider, GROUPS, tmp_path)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def event_count(runtime: Runtime) -> int:
    return int(runtime.journeys.recorder.max_notification_id() or 0)


def test_a_person_signed_in_at_the_provider_works_with_its_access_token(
    provider: OpenIDProvider, api: TestClient, runtime: Runtime
) -> None:
    tokens = provider.sign_in("anna")

    created = api.post("/participants", json=registration(), headers=bearer(tokens["access_token"]))

    assert created.status_code == 201, created.text
    listed = api.get("/participants", headers=bearer(tokens["access_token"]))
    assert listed.status_code == 200
    pid = created.json()["id"]
    assert runtime.journeys.repository.get(UUID(pid)).provider == "caritas-ahlen"


def test_the_provider_rotating_its_key_is_followed(
    provider: OpenIDProvider, api: TestClient
) -> None:
    before = provider.sign_in("anna")["access_token"]
    assert api.get("/participants", headers=bearer(before)).status_code == 200

    new_key = provider.rotate_keys()
    after = provider.sign_in("anna")["access_token"]

    assert jwt.get_unverified_header(after)["kid"] == new_key["kid"]
    assert api.get("/participants", headers=bearer(after)).status_code == 200
    assert api.get("/participants", headers=bearer(before)).status_code == 200


def _public_pem(provider: OpenIDProvider) -> bytes:
    public = RSAAlgorithm.from_jwk(json.dumps(provider.keys()[0])).public_key()  # type: ignore[union-attr]
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _part(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{_part({'alg': 'none', 'typ': 'JWT'})}.{_part(claims)}."


def _hmac_with_public_key(op: OpenIDProvider) -> str:
    """The classic confusion attack: the public key (which anyone has) as HMAC secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": op.keys()[0]["kid"]}
    signing_input = f"{_part(header)}.{_part(op.claims('anna'))}"
    signature = hmac.new(_public_pem(op), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_part(signature)}"


REFUSED = {
    "alg none": lambda op: _unsigned(op.claims("anna")),
    "HMAC signed with the provider's public key": lambda op: _hmac_with_public_key(op),
    "wrong issuer": lambda op: op.sign(op.claims("anna", iss="http://127.0.0.1:1")),
    "wrong audience": lambda op: op.sign(op.claims("anna", aud="urn:someone-else")),
    "expired": lambda op: op.sign(
        op.claims("anna", iat=int(time.time()) - 3600, exp=int(time.time()) - 600)
    ),
    "not yet valid": lambda op: op.sign(op.claims("anna", nbf=int(time.time()) + 3600)),
    "unknown kid": lambda op: op.sign(op.claims("anna"), key=new_private_jwk()),
    "no group mapped to a role": lambda op: op.sign(op.claims("bert")),
    "control characters in the subject": lambda op: op.sign(
        {**op.claims("anna"), "sub": "anna\x1b[2J"}
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bad_provider_token_is_refused_and_nothing_is_written(
    case: str, provider: OpenIDProvider, api: TestClient, runtime: Runtime
) -> None:
    token = REFUSED[case](provider)
    before = event_count(runtime)

    response = api.post("/participants", json=registration(), headers=bearer(token))

    assert response.status_code == 401, (case, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "anna" not in response.text.lower()
    assert event_count(runtime) == before


def wait_until_refused(client: TestClient, token: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 10:
        if client.get("/participants", headers=bearer(token)).status_code == 401:
            return time.monotonic() - started
        time.sleep(0.1)
    return float("inf")


def test_a_revoked_lotse_token_is_refused_by_every_worker_within_five_seconds(
    runtime: Runtime,
    settings: Settings,
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _environment(monkeypatch, settings)
    assert (
        cli.main(
            ["token", "create", "--user", "svc", "--role", "caseworker", "--org", "caritas-ahlen"]
        )
        == 0
    )
    token = capsys.readouterr().out.strip()
    other = build_runtime(settings, checkpointing=False)  # a second worker process's state
    try:
        with TestClient(create_app(runtime=other)) as second:
            assert api.get("/participants", headers=bearer(token)).status_code == 200
            assert second.get("/participants", headers=bearer(token)).status_code == 200

            assert cli.main(["token", "revoke", token]) == 0

            assert wait_until_refused(api, token) <= 5
            assert wait_until_refused(second, token) <= 5
    finally:
        other.close()


def test_a_revoked_provider_token_is_refused(
    provider: OpenIDProvider,
    settings: Settings,
    api: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _environment(monkeypatch, settings)
    token = provider.sign_in("anna")["access_token"]
    assert api.get("/participants", headers=bearer(token)).status_code == 200

    assert cli.main(["token", "revoke", token]) == 0

    assert wait_until_refused(api, token) <= REFRESH_SECONDS + 1


def test_token_list_shows_issued_tokens_and_their_revocation(
    settings: Settings,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _environment(monkeypatch, settings)
    assert (
        cli.main(
            ["token", "create", "--user", "svc", "--role", "coordinator", "--org", "warendorf"]
        )
        == 0
    )
    token = capsys.readouterr().out.strip()
    token_id = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert cli.main(["token", "revoke", token_id]) == 0
    capsys.readouterr()

    assert cli.main(["token", "list"]) == 0

    listed = capsys.readouterr().out
    assert token_id in listed
    assert "revoked" in listed
    assert token not in listed


def test_a_lifetime_above_the_maximum_is_refused(
    settings: Settings,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _environment(monkeypatch, settings)
    monkeypatch.setenv("LOTSE_TOKEN_MAX_TTL_HOURS", "24")

    code = cli.main(
        [
            "token",
            "create",
            "--user",
            "svc",
            "--role",
            "caseworker",
            "--org",
            "caritas-ahlen",
            "--ttl-hours",
            "25",
        ]
    )

    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "LOTSE_TOKEN_MAX_TTL_HOURS" in captured.err


def _environment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The CLI reads its settings like a deployment: from the environment."""
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LOTSE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOTSE_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("LOTSE_MASTER_KEY", settings.master_key)
    monkeypatch.setenv("LOTSE_AUDIT_SIGNING_KEY", settings.audit_signing_key)
    if settings.config_dir:
        monkeypatch.setenv("LOTSE_CONFIG", str(settings.config_dir))
