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

import orjson

from lotse.api.oidc import IssuerTokens
from lotse.api.tokens import ISSUER, TokenError, Verified, verify_token
from lotse.domain.access import Principal
from lotse.storage.token_registry import TokenRegistry


def unverified_issuer(token: str) -> object:
    """The ``iss`` a token claims, read without trusting it (only to pick the check)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
    return claims.get("iss") if isinstance(claims, dict) else None


class Authenticator:
    def __init__(self, secret: str, registry: TokenRegistry | None, issuers: IssuerTokens):
        self.secret = secret
        self.registry = registry
        self.issuers = issuers

    def verify(self, token: str) -> Verified:
        """The verified token, or ``TokenError`` (a 401) saying why, without personal data."""
        issuer = unverified_issuer(token)
        if issuer == ISSUER:
            verified = verify_token(self.secret, token)
        elif self.issuers.knows(issuer):
            verified = self.issuers.verify(token, str(issuer))
        else:
            msg = "the bearer token is invalid, expired or from an issuer Lotse does not trust"
            raise TokenError(msg)
        if self.registry is not None and self.registry.is_revoked(verified.token_id):
            msg = "the bearer token was revoked"
            raise TokenError(msg)
        return verified

    def principal(self, token: str) -> Principal:
        return self.verify(token).principal
