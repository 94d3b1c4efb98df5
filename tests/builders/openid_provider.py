"""A real OpenID provider for the sign-on tests: panva's ``oidc-provider`` on loopback.

It is installed by the tests themselves (``npm ci`` in ``tests/oidc`` from the
committed lock file, on first use) and run with the machine's Node.js. Its signing
keys live in a file the test owns, so a test can rotate them (restart with a new
key first) and sign tokens the provider itself never would (expired, wrong
audience, ...) with the provider's real key, checked by Lotse against the
provider's real JWKS endpoint. Nothing here stands in for the token validation.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from lotse.api.app import create_app
from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.domain.configuration import DEFAULT_CONFIG_DIR
from lotse.storage.checkpoints import new_signing_key_text
from tests.builders.npm import npm_ci

PROVIDER_DIR = Path(__file__).resolve().parents[1] / "oidc"
AUDIENCE = "urn:lotse:api"
CLIENT_ID = "lotse-web"
CLIENT_SECRET = "lotse-web-test-secret-" + "x" * 20
CALLBACK = "http://127.0.0.1:9/callback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_installed() -> None:
    """``npm ci`` in ``tests/oidc`` from the committed lock file, once per lock file."""
    npm_ci(PROVIDER_DIR, "the OpenID provider of the sign-on tests")


def new_private_jwk() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    return {**jwk, "kid": uuid.uuid4().hex, "alg": "RS256", "use": "sig"}


@dataclass
class OpenIDProvider:
    workdir: Path
    accounts: dict[str, dict[str, Any]]
    redirect_uris: list[str] = field(default_factory=lambda: [CALLBACK])
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def keys_file(self) -> Path:
        return self.workdir / "provider-keys.json"

    def keys(self) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = json.loads(self.keys_file.read_text())
        return keys

    def start(self) -> None:
        ensure_installed()
        if not self.keys_file.exists():
            self.keys_file.write_text(json.dumps([new_private_jwk()]))
        clients = [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "redirect_uris": self.redirect_uris,
                "post_logout_redirect_uris": self.redirect_uris,
            }
        ]
        env = {
            **os.environ,
            "OP_PORT": str(self.port),
            "OP_KEYS_FILE": str(self.keys_file),
            "OP_CLIENTS": json.dumps(clients),
            "OP_ACCOUNTS": json.dumps(self.accounts),
            "OP_AUDIENCE": AUDIENCE,
        }
        node = shutil.which("node") or "node"
        self.process = subprocess.Popen(
            [node, str(PROVIDER_DIR / "provider.mjs")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line.startswith("ready"):
            self.stop()
            msg = f"the OpenID provider did not start: {line!r}"
            raise RuntimeError(msg)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def rotate_keys(self, *, keep_old: bool = True) -> dict[str, Any]:
        """Restart with a new signing key first (the old one still published if kept)."""
        new = new_private_jwk()
        self.keys_file.write_text(json.dumps([new, *(self.keys() if keep_old else [])]))
        self.stop()
        self.start()
        return new

    def sign(self, claims: dict[str, Any], *, key: dict[str, Any] | None = None) -> str:
        """A token signed with the provider's own (current) key: for the refusal tests."""
        jwk = key or self.keys()[0]
        private = RSAAlgorithm.from_jwk(json.dumps(jwk))
        return jwt.encode(
            claims, private, algorithm="RS256", headers={"kid": jwk["kid"], "typ": "at+jwt"}
        )

    def claims(self, sub: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base = {
            "iss": self.issuer,
            "sub": sub,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "groups": self.accounts.get(sub, {}).get("groups", []),
        }
        return {**base, **overrides}

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """The refresh-token grant, as a program keeping a person signed in would use it."""
        with httpx.Client(base_url=self.issuer, timeout=10) as client:
            answer = client.post(
                "/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "resource": AUDIENCE,
                },
                auth=(CLIENT_ID, CLIENT_SECRET),
            )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def log_in(self, authorization_url: str, login: str) -> str:
        """Go through the provider's login as a browser would; the callback URL it sends to.

        Uses the provider's development login form (any password). The consent is
        implied for the test clients (``loadExistingGrant`` in provider.mjs).
        """
        with httpx.Client(follow_redirects=False, timeout=10) as browser:
            response = browser.get(authorization_url)
            for _ in range(10):
                location = response.headers.get("location")
                if location is None:
                    form = re.search(r'action="([^"]+)"', response.text)
                    assert form, response.text[:500]
                    response = browser.post(
                        urljoin(str(response.url), form.group(1)),
                        data={"prompt": "login", "login": login, "password": "any"},
                    )
                    continue
                target = urljoin(str(response.url), location)
                if not target.startswith(self.issuer):
                    return target
                response = browser.get(target)
        msg = "the provider did not send the browser back"
        raise AssertionError(msg)

    def sign_in(self, login: str, *, scope: str = "openid profile email groups") -> dict[str, Any]:
        """The Authorization Code flow with PKCE, as a browser would go through it.

        Uses the provider's development login form (any password); returns the token
        response (access token for Lotse's API, ID token, maybe a refresh token).
        """
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        query = {
            "client_id": CLIENT_ID,
            "response_type": "code",
            "scope": scope,
            "redirect_uri": self.redirect_uris[0],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
            "nonce": nonce,
            "resource": AUDIENCE,
        }
        callback = self.log_in(f"{self.issuer}/auth?{urlencode(query)}", login)
        answer = parse_qs(urlsplit(callback).query)
        assert answer["state"] == [state]
        code = answer["code"][0]
        with httpx.Client(base_url=self.issuer, timeout=10) as browser:
            tokens = browser.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uris[0],
                    "code_verifier": verifier,
                    "resource": AUDIENCE,
                },
                auth=(CLIENT_ID, CLIENT_SECRET),
            )
            assert tokens.status_code == 200, tokens.text
            result: dict[str, Any] = tokens.json()
            result["nonce"] = nonce
            return result


def issuers_toml(provider: OpenIDProvider, groups: dict[str, tuple[str, str]]) -> str:
    lines = [
        "[[issuer]]",
        'name = "testop"',
        f'issuer = "{provider.issuer}"',
        f'audience = "{AUDIENCE}"',
        f'client_id = "{CLIENT_ID}"',
        "refetch_seconds = 0",
        "",
        "[issuer.groups]",
    ]
    lines += [
        f'"{group}" = {{ role = "{role}", organisation = "{org}" }}'
        for group, (role, org) in groups.items()
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ shared by the sign-on tests

#: Lotse as the browser sees it in the tests (https, so the __Host- cookie is sent).
LOTSE = "https://testserver"


@contextlib.contextmanager
def running_provider(
    workdir: Path, accounts: dict[str, dict[str, Any]], *, browser: bool = True
) -> Iterator[OpenIDProvider]:
    """A provider for a test module; with ``browser``, Lotse's callback is registered."""
    redirects = [f"{LOTSE}/auth/callback", CALLBACK] if browser else [CALLBACK]
    provider = OpenIDProvider(workdir, accounts, redirects)
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


def trusting(
    settings: Settings,
    provider: OpenIDProvider,
    groups: dict[str, tuple[str, str]],
    tmp_path: Path,
) -> Settings:
    """Settings whose configuration trusts ``provider`` (browser sign-in included)."""
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    (config / "issuers.toml").write_text(issuers_toml(provider, groups))
    return dataclasses.replace(
        settings,
        config_dir=config,
        oidc_client_secrets={"testop": CLIENT_SECRET},
        audit_signing_key=new_signing_key_text(),
    )


@contextlib.contextmanager
def browser_on(runtime: Runtime) -> Iterator[TestClient]:
    """A browser on Lotse: keeps cookies, does not follow redirects."""
    with TestClient(create_app(runtime=runtime), base_url=LOTSE, follow_redirects=False) as c:
        yield c


def sign_in_through(
    browser: TestClient, provider: OpenIDProvider, login: str, next_path: str | None = None
) -> httpx.Response:
    """The whole browser flow; Lotse's answer to the callback (303 when signed in)."""
    params = {"issuer": "testop", **({"next": next_path} if next_path else {})}
    started = browser.get("/auth/login", params=params)
    assert started.status_code == 303, started.text
    callback = provider.log_in(started.headers["location"], login)
    assert callback.startswith(f"{LOTSE}/auth/callback"), callback
    return browser.get(callback.removeprefix(LOTSE))


def user_body(
    subject: str, memberships: list[tuple[str, str]], *, display_name: str = "Anna Coach"
) -> dict[str, Any]:
    """A ``POST /users`` body for a person at the test provider."""
    return {
        "issuer": "testop",
        "subject": subject,
        "display_name": display_name,
        "email": f"{subject}@example.org",
        "memberships": [{"role": r, "member_of": o} for r, o in memberships],
    }
