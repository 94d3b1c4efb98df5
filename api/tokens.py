"""Lotse's own bearer tokens: signed (HS256 JWT) claims of user, role and organisation.

They are for programs (service accounts) and the demo; people sign in with their
organisation's OpenID provider (``api.oidc``). Each token has an id (``jti``) by which
``lotse token revoke`` revokes it (``storage.token_registry``); a token without one
(issued before ids existed) is refused, since it could not be revoked.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from lotse.domain.access import Principal, Role

ISSUER = "lotse"


class TokenError(Exception):
    """The token is missing, malformed, expired or not signed by us."""


@dataclass(frozen=True)
class Issued:
    token: str
    token_id: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Verified:
    """A token whose signature and claims hold: whom it names, its id, until when."""

    principal: Principal
    token_id: str
    expires: float


def issue_token(secret: str, principal: Principal, ttl_hours: float = 12) -> Issued:
    now = datetime.now(UTC).replace(microsecond=0)
    token_id = uuid.uuid4().hex
    expires = now + timedelta(hours=ttl_hours)
    claims = {
        "iss": ISSUER,
        "sub": principal.user,
        "role": principal.role.value,
        "org": principal.organisation,
        "jti": token_id,
        "iat": now,
        "exp": expires,
    }
    return Issued(jwt.encode(claims, secret, algorithm="HS256"), token_id, now, expires)


def create_token(secret: str, principal: Principal, ttl_hours: float = 12) -> str:
    return issue_token(secret, principal, ttl_hours).token


def read_token(secret: str, token: str) -> Principal:
    return verify_token(secret, token).principal


def verify_token(secret: str, token: str) -> Verified:
    """The principal of a valid token; ``TokenError`` otherwise.

    A token once verified is remembered until it expires: a client sends the
    same token with every request, and checking its signature and claims again
    each time was a noticeable share of the write path's CPU. Only valid tokens
    are remembered, keyed by secret and token, so a changed secret or a forged
    token never hits the cache.
    """
    key = (secret, token)
    with _verified_lock:
        found = _verified.get(key)
        if found is not None:
            _verified.move_to_end(key)
    if found is not None:
        if time.time() < found.expires:
            return found
        with _verified_lock:
            _verified.pop(key, None)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "jti"]},
        )
        verified = Verified(
            Principal(
                user=str(claims["sub"]), role=Role(claims["role"]), organisation=str(claims["org"])
            ),
            str(claims["jti"]),
            float(claims["exp"]),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as e:
        msg = "the bearer token is invalid or expired"
        raise TokenError(msg) from e
    with _verified_lock:
        _verified[key] = verified
        while len(_verified) > VERIFIED_CACHE_SIZE:
            _verified.popitem(last=False)
    return verified


VERIFIED_CACHE_SIZE = 4096
_verified: OrderedDict[tuple[str, str], Verified] = OrderedDict()
_verified_lock = threading.Lock()
