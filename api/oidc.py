"""Access tokens of the organisations' OpenID providers, checked against their keys.

Municipalities and welfare organisations run their own identity providers
(Keycloak, ADFS, Entra ID, ...). Each one Lotse trusts is an *issuer* in
``issuers.toml`` (see ``api.issuers``); a bearer token whose ``iss`` names one is
checked here, a token with ``iss = "lotse"`` by ``api.tokens``.

What is checked, and why:

- the algorithm is one the issuer is configured for (RS256/ES256 by default):
  ``alg: none`` and HMAC tokens are refused before any key is looked at, so a
  token "signed" with the provider's *public* key as an HMAC secret cannot pass;
- the key is the issuer's, by ``kid``, from its JWKS (found through its discovery
  document) and of the algorithm's type; an unknown ``kid`` makes Lotse fetch the
  JWKS again (the provider rotated its keys), at most once per
  ``refetch_seconds``, so unknown ids cannot make Lotse hammer the provider;
- ``iss`` exactly, ``aud`` contains the configured audience, ``exp``/``nbf``/``iat``
  with the configured clock skew, ``sub`` present;
- the person's role and organisation come from a group claim mapped by
  configuration; a token without a mapped group is refused (401), it never
  falls back to some default role.

A verified token is remembered until it expires, like Lotse's own, so that a
provider's RS256 token costs about what an HS256 token costs per request.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import PyJWK

from lotse.api.issuers import IssuerConfig
from lotse.api.tokens import TokenError
from lotse.domain.access import Principal
from lotse.domain.text import refusal

Fetch = Callable[[str], dict[str, Any]]
#: Longest wait for a provider's discovery document or keys.
FETCH_TIMEOUT_SECONDS = 3.0
#: Most distinct provider tokens remembered per process.
VERIFIED_CACHE_SIZE = 4096

_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def check_transport(url: str) -> None:
    """A provider is reached over https (plain http only on the loopback interface)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
        msg = "an OpenID provider must be reached over https"
        raise TokenError(msg)


def fetch_json(url: str) -> dict[str, Any]:
    """GET a JSON document from a provider."""
    check_transport(url)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            document: dict[str, Any] = json.loads(response.read())
    except (OSError, ValueError) as e:
        msg = "the OpenID provider could not be reached"
        raise TokenError(msg) from e
    return document


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class KeySet:
    """One issuer's signing keys, fetched through its discovery document."""

    issuer: str
    fetch: Fetch = fetch_json
    refetch_seconds: float = 1.0
    _keys: dict[str, PyJWK] = field(default_factory=dict)
    _fetched: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _discovery: dict[str, Any] | None = None

    def discovery(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once per process)."""
        if self._discovery is None:
            document = self.fetch(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if document.get("issuer") != self.issuer or "jwks_uri" not in document:
                msg = "the OpenID provider's discovery document does not match its issuer"
                raise TokenError(msg)
            self._discovery = document
        return self._discovery

    def key(self, kid: str) -> PyJWK:
        found = self._keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched >= self.refetch_seconds:
                self._refresh()
        found = self._keys.get(kid)
        if found is None:
            msg = "the bearer token is signed with a key its issuer does not publish"
            raise TokenError(msg)
        return found

    def _refresh(self) -> None:
        self._fetched = time.monotonic()
        keys: dict[str, PyJWK] = {}
        for data in self.fetch(str(self.discovery()["jwks_uri"])).get("keys", []):
            if data.get("use", "sig") != "sig" or "kid" not in data:
                continue
            try:
                keys[str(data["kid"])] = PyJWK(data)
            except jwt.PyJWTError:
                continue  # a key type this library cannot use: never one we accept
        self._keys = keys


@dataclass(frozen=True)
class ProviderIdentity:
    """Whom a provider's verified token names; the role is decided with the directory."""

    issuer: str
    """The issuer's name in ``issuers.toml``."""
    subject: str
    mapped: Principal | None
    """The role and organisation of the first mapped group, if the token has one."""
    token_id: str
    expires: float
    display_name: str = field(default="", repr=False)
    email: str = field(default="", repr=False)

    @property
    def user(self) -> str:
        return f"{self.issuer}:{self.subject}"


class IssuerTokens:
    """Checks the access tokens of the configured issuers."""

    def __init__(self, issuers: list[IssuerConfig], fetch: Fetch = fetch_json) -> None:
        self.issuers = {i.issuer: i for i in issuers}
        self.keys = {i.issuer: KeySet(i.issuer, fetch, i.refetch_seconds) for i in issuers}
        self._verified: OrderedDict[str, ProviderIdentity] = OrderedDict()
        self._lock = threading.Lock()

    def knows(self, issuer: object) -> bool:
        return isinstance(issuer, str) and issuer in self.issuers

    def verify(self, token: str, issuer: str) -> ProviderIdentity:
        with self._lock:
            found = self._verified.get(token)
            if found is not None:
                self._verified.move_to_end(token)
        if found is not None and time.time() < found.expires:
            return found
        verified = self._verify(token, self.issuers[issuer])
        with self._lock:
            self._verified[token] = verified
            while len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return verified

    def _verify(self, token: str, config: IssuerConfig) -> ProviderIdentity:
        claims = self.signed_claims(token, config, audience=config.audience)
        return identity_of(claims, config)

    def signed_claims(self, token: str, config: IssuerConfig, *, audience: str) -> dict[str, Any]:
        """The claims of a JWT the issuer signed for ``audience``; ``TokenError`` otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise TokenError("the bearer token is invalid or expired") from e
        algorithm = header.get("alg")
        if algorithm not in config.algorithms:
            msg = "the bearer token's signing algorithm is not accepted for its issuer"
            raise TokenError(msg)
        kid = header.get("kid")
        if not isinstance(kid, str):
            msg = "the bearer token names no signing key"
            raise TokenError(msg)
        key = self.keys[config.issuer].key(kid)
        if key.key_type != _KEY_TYPES.get(str(algorithm)[:2]):
            msg = "the bearer token's algorithm does not fit its issuer's key"
            raise TokenError(msg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[str(algorithm)],
                audience=audience,
                issuer=config.issuer,
                leeway=config.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as e:
            raise TokenError("the bearer token is invalid or expired") from e
        return claims


def token_id(claims: dict[str, Any]) -> str:
    return f"{claims['iss']}#{claims.get('jti', '')}"


def identity_of(claims: dict[str, Any], config: IssuerConfig) -> ProviderIdentity:
    """The person a verified token names, and the role of its first configured group."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or refusal(subject, free_text=False):
        msg = "the bearer token's subject is not a usable user id"
        raise TokenError(msg)
    groups = claims.get(config.groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        groups = []
    mapped = next(
        (
            Principal(f"{config.name}:{subject}", m.role, m.organisation)
            for group, m in config.memberships.items()
            if group in groups
        ),
        None,
    )
    return ProviderIdentity(
        config.name,
        subject,
        mapped,
        token_id(claims),
        float(claims["exp"]),
        _short_text(claims.get("name")),
        _short_text(claims.get("email")),
    )


def _short_text(value: object) -> str:
    text = value if isinstance(value, str) else ""
    return text[:200] if not refusal(text[:200], free_text=False) else ""
