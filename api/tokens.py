"""Bearer tokens: signed (HS256 JWT) claims of user, role and organisation."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

import jwt

from lotse.domain.access import Principal, Role

ISSUER = "lotse"


class TokenError(Exception):
    """The token is missing, malformed, expired or not signed by us."""


def create_token(secret: str, principal: Principal, ttl_hours: int = 12) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": principal.user,
        "role": principal.role.value,
        "org": principal.organisation,
        "iat": now,
        "exp": now + timedelta(hours=ttl_hours),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_token(secret: str, token: str) -> Principal:
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
        principal, expires = found
        if time.time() < expires:
            return principal
        with _verified_lock:
            _verified.pop(key, None)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        principal = Principal(
            user=str(claims["sub"]), role=Role(claims["role"]), organisation=str(claims["org"])
        )
        expires = float(claims["exp"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as e:
        msg = "the bearer token is invalid or expired"
        raise TokenError(msg) from e
    with _verified_lock:
        _verified[key] = (principal, expires)
        while len(_verified) > VERIFIED_CACHE_SIZE:
            _verified.popitem(last=False)
    return principal


VERIFIED_CACHE_SIZE = 4096
_verified: OrderedDict[tuple[str, str], tuple[Principal, float]] = OrderedDict()
_verified_lock = threading.Lock()
