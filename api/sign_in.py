"""Browser sign-in: the Authorization Code flow with PKCE against an organisation's provider.

``start`` remembers a random ``state`` (also set in a short-lived cookie, so a
callback is accepted only in the browser that started it), a ``nonce`` and a
PKCE verifier server-side, and sends the browser to the provider. ``finish``
takes that sign-in exactly once, exchanges the code (client secret and verifier),
checks the ID token (signature by the provider's JWKS, ``iss``, ``aud`` = our
client, ``exp``, ``nonce``) and takes the role and organisation from the access
token the provider issued for Lotse's API, checked exactly as a bearer token is
(``api.oidc``), so a person gets in the browser what the same token would get at
the API. A session is opened only when all of that holds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lotse.api.issuers import IssuerConfig
from lotse.api.oidc import FETCH_TIMEOUT_SECONDS, IssuerTokens, ProviderIdentity, check_transport
from lotse.api.tokens import TokenError, Verified
from lotse.domain.access import Principal
from lotse.storage.sessions import PendingSignIn, SessionStore


class SignInError(Exception):
    """The sign-in cannot complete; the message says why, without personal data."""


@dataclass(frozen=True)
class Started:
    authorization_url: str
    state: str


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def safe_next(path: str | None) -> str:
    """Only a path on this site: never an open redirect to someone else's."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return "/"
    return path


class SignIn:
    def __init__(
        self,
        issuers: IssuerTokens,
        client_secrets: Mapping[str, str],
        sessions: SessionStore,
        resolve: Callable[[ProviderIdentity], Verified],
        note_first_sign_in: Callable[[ProviderIdentity], None],
    ) -> None:
        self.tokens = issuers
        self.client_secrets = client_secrets
        self.sessions = sessions
        self.resolve = resolve
        self.note_first_sign_in = note_first_sign_in
        self.by_name = {
            c.name: c for c in issuers.issuers.values() if c.client_id and c.name in client_secrets
        }

    def offered(self) -> list[IssuerConfig]:
        """The providers a person can sign in with, in configured order."""
        return list(self.by_name.values())

    def start(self, issuer_name: str, redirect_uri: str, next_path: str | None) -> Started:
        config = self.by_name.get(issuer_name)
        if config is None:
            msg = "no sign-in is configured for this organisation"
            raise SignInError(msg)
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        try:
            endpoint = str(self.tokens.keys[config.issuer].discovery()["authorization_endpoint"])
        except (TokenError, KeyError) as e:
            raise SignInError("the organisation's sign-in service cannot be reached") from e
        self.sessions.begin_sign_in(
            state, PendingSignIn(config.name, nonce, verifier, safe_next(next_path))
        )
        query = urllib.parse.urlencode(
            {
                "client_id": config.client_id,
                "response_type": "code",
                "scope": "openid profile email groups",
                "redirect_uri": redirect_uri,
                "state": state,
                "nonce": nonce,
                "code_challenge": _challenge(verifier),
                "code_challenge_method": "S256",
                "resource": config.audience,
            }
        )
        return Started(f"{endpoint}?{query}", state)

    def finish(self, state: str, code: str, redirect_uri: str) -> tuple[Principal, str, str]:
        """(principal, issuer name, next path) of a completed sign-in."""
        pending = self.sessions.take_sign_in(state)
        if pending is None or pending.issuer not in self.by_name:
            msg = "this sign-in is unknown, was already used or took too long: sign in again"
            raise SignInError(msg)
        config = self.by_name[pending.issuer]
        keys = self.tokens.keys[config.issuer]
        try:
            token_endpoint = str(keys.discovery()["token_endpoint"])
            response = post_form(
                token_endpoint,
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": pending.verifier,
                    "resource": config.audience,
                },
                (config.client_id, self.client_secrets[config.name]),
            )
            identity = self.tokens.signed_claims(
                str(response.get("id_token", "")), config, audience=config.client_id
            )
            if not secrets.compare_digest(str(identity.get("nonce", "")), pending.nonce):
                msg = "the sign-in answer does not belong to this sign-in"
                raise SignInError(msg)
            person = self.tokens.verify(str(response.get("access_token", "")), config.issuer)
        except TokenError as e:
            raise SignInError(str(e)) from e
        if person.subject != identity["sub"]:
            msg = "the provider's tokens name different people"
            raise SignInError(msg)
        try:
            verified = self.resolve(person)
        except TokenError as e:
            if person.mapped is None:
                # Recorded for an administrator to approve (a user without roles).
                self.note_first_sign_in(person)
            raise SignInError(str(e)) from e
        return verified.principal, config.name, pending.next_path

    def end_session_url(self, issuer_name: str, after: str) -> str | None:
        """The provider's sign-out address, when it offers one (RP-initiated logout)."""
        config = self.by_name.get(issuer_name)
        if config is None:
            return None
        try:
            endpoint = self.tokens.keys[config.issuer].discovery().get("end_session_endpoint")
        except TokenError:
            return None
        if not endpoint:
            return None
        query = urllib.parse.urlencode(
            {"client_id": config.client_id, "post_logout_redirect_uri": after}
        )
        return f"{endpoint}?{query}"


def post_form(url: str, data: dict[str, str], client: tuple[str, str]) -> dict[str, Any]:
    """POST to the provider's token endpoint with client_secret_basic."""
    check_transport(url)
    basic = base64.b64encode(
        f"{urllib.parse.quote(client[0])}:{urllib.parse.quote(client[1])}".encode()
    ).decode()
    request = urllib.request.Request(  # noqa: S310 - check_transport above
        url,
        data=urllib.parse.urlencode(data).encode(),
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as answer:  # noqa: S310
            document: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as e:
        msg = f"the provider refused the sign-in ({e.code})"
        raise TokenError(msg) from e
    except (OSError, ValueError) as e:
        msg = "the OpenID provider could not be reached"
        raise TokenError(msg) from e
    return document
