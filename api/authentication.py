"""Who is calling: the one check every bearer token passes, whoever issued it.

A token names its issuer (``iss``): ``lotse`` for Lotse's own tokens (service
accounts, the demo; ``api.tokens``), or one of the organisations' OpenID providers
configured in ``issuers.toml`` (``api.oidc``). Any other issuer is refused before
a signature is looked at. Whatever the issuer, a token whose id was revoked
(``lotse token revoke``) is refused on every worker within
``storage.token_registry.REFRESH_SECONDS``.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable

import orjson

from lotse.api.oidc import IssuerTokens, ProviderIdentity
from lotse.api.tokens import ISSUER, TokenError, Verified, verify_token
from lotse.domain.access import Principal, Role
from lotse.domain.directory import UNKNOWN, Standing
from lotse.storage.token_registry import REFRESH_SECONDS, TokenRegistry

StandingOf = Callable[[str], Standing]


def unverified_issuer(token: str) -> object:
    """The ``iss`` a token claims, read without trusting it (only to pick the check)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    return claims.get("iss") if isinstance(claims, dict) else None


class Authenticator:
    def __init__(
        self,
        secret: str,
        registry: TokenRegistry | None,
        issuers: IssuerTokens,
        standing_of: StandingOf = lambda _user: UNKNOWN,
    ) -> None:
        self.secret = secret
        self.registry = registry
        self.issuers = issuers
        self.standing_of = standing_of
        self._standings: dict[str, tuple[Standing, float]] = {}
        self._lock = threading.Lock()

    def standing(self, user: str) -> Standing:
        """The directory's word on a user, at most ``REFRESH_SECONDS`` old: a
        deactivation or a withdrawn role holds on every worker within that time."""
        now = time.monotonic()
        found = self._standings.get(user)
        if found is not None and now - found[1] <= REFRESH_SECONDS:
            return found[0]
        standing = self.standing_of(user)
        with self._lock:
            if len(self._standings) > 10_000:
                self._standings.clear()
            self._standings[user] = (standing, now)
        return standing

    def resolve(self, identity: ProviderIdentity) -> Verified:
        """The role a provider's verified person works in: the directory's, if it knows
        them, else their mapped group's; none at all is a refusal."""
        standing = self.standing(identity.user)
        if standing.known:
            if not standing.active:
                msg = "this person is deactivated in Lotse's directory"
                raise TokenError(msg)
            if not standing.memberships:
                msg = "this person waits for an administrator to grant a role"
                raise TokenError(msg)
            mapped = identity.mapped
            held = sorted(standing.memberships)
            role, organisation = (
                (mapped.role.value, mapped.organisation)
                if mapped is not None
                and (mapped.role.value, mapped.organisation) in standing.memberships
                else held[0]
            )
            principal = Principal(identity.user, Role(role), organisation)
        elif identity.mapped is not None:
            principal = identity.mapped
        else:
            msg = "the bearer token carries no group that Lotse maps to a role"
            raise TokenError(msg)
        return Verified(principal, identity.token_id, identity.expires)

    def verify(self, token: str) -> Verified:
        """The verified token, or ``TokenError`` (a 401) saying why, without personal data."""
        issuer = unverified_issuer(token)
        if issuer == ISSUER:
            verified = verify_token(self.secret, token)
            if not self.standing(verified.principal.user).active:
                msg = "this person is deactivated in Lotse's directory"
                raise TokenError(msg)
        elif self.issuers.knows(issuer):
            verified = self.resolve(self.issuers.verify(token, str(issuer)))
        else:
            msg = "the bearer token is invalid or expired"
            raise TokenError(msg)
        if self.registry is not None and self.registry.is_revoked(verified.token_id):
            msg = "the bearer token was revoked"
            raise TokenError(msg)
        return verified

    def principal(self, token: str) -> Principal:
        return self.verify(token).principal
