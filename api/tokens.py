"""Bearer tokens: signed (HS256 JWT) claims of user, role and organisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from domain.access import ALL_ORGANISATIONS, Principal, Role
from domain.configuration import Configuration

ISSUER = "lotse"


class TokenError(Exception):
    """The token is missing, malformed, expired or not signed by us."""


def check_organisation(config: Configuration, role: Role, organisation: str) -> None:
    """Each role acts for a kind of organisation; refuse tokens that cannot work."""
    if role == Role.CASEWORKER and organisation not in config.providers:
        msg = f"a caseworker's organisation must be a provider: {sorted(config.providers)}"
        raise ValueError(msg)
    if role == Role.COORDINATOR and organisation not in config.municipalities:
        msg = (
            f"a coordinator's organisation must be a municipality: {sorted(config.municipalities)}"
        )
        raise ValueError(msg)
    if role == Role.AUDITOR and organisation not in (*config.municipalities, ALL_ORGANISATIONS):
        msg = "an auditor's organisation must be a municipality or '*' for all"
        raise ValueError(msg)
    if role in (Role.FUNDER, Role.ADMIN) and not organisation:
        msg = "an organisation is required"
        raise ValueError(msg)


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
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
        return Principal(
            user=str(claims["sub"]), role=Role(claims["role"]), organisation=str(claims["org"])
        )
    except (jwt.PyJWTError, KeyError, ValueError) as e:
        msg = "the bearer token is invalid or expired"
        raise TokenError(msg) from e
