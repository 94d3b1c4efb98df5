"""Bearer tokens: a remembered verification never outlives the token or its secret."""

from __future__ import annotations

import time

import jwt
import pytest

from lotse.api.tokens import TokenError, create_token, read_token
from lotse.domain.access import Principal, Role

SECRET = "unit-secret-" + "y" * 40
COACH = Principal("coach-1", Role.CASEWORKER, "caritas-ahlen")


def test_a_valid_token_reads_as_its_principal_again_and_again() -> None:
    token = create_token(SECRET, COACH, ttl_hours=1)

    first = read_token(SECRET, token)
    second = read_token(SECRET, token)

    assert first == COACH
    assert second == COACH


def test_a_remembered_token_is_refused_once_it_has_expired() -> None:
    now = int(time.time())
    claims = {
        "iss": "lotse",
        "sub": "coach-1",
        "role": "caseworker",
        "org": "caritas-ahlen",
        "jti": "t-1",
    }
    token = jwt.encode({**claims, "iat": now, "exp": now + 1}, SECRET, algorithm="HS256")
    read_token(SECRET, token)

    time.sleep(max(0.0, now + 1.05 - time.time()))

    with pytest.raises(TokenError):
        read_token(SECRET, token)


def test_a_remembered_token_is_refused_under_another_secret() -> None:
    token = create_token(SECRET, COACH, ttl_hours=1)
    read_token(SECRET, token)

    with pytest.raises(TokenError):
        read_token("another-secret-" + "z" * 40, token)


def test_a_tampered_token_is_refused() -> None:
    token = create_token(SECRET, COACH, ttl_hours=1)
    read_token(SECRET, token)
    header, claims, signature = token.split(".")
    # Change the first signature character (all six of its bits count; the last
    # one's low bits may be padding, and "AA" may already be what it says).
    first = "B" if signature[0] != "B" else "C"
    forged = f"{header}.{claims}.{first}{signature[1:]}"

    with pytest.raises(TokenError):
        read_token(SECRET, forged)


def test_a_token_without_an_id_is_refused_because_it_could_not_be_revoked() -> None:
    now = int(time.time())
    claims = {"iss": "lotse", "sub": "coach-1", "role": "caseworker", "org": "caritas-ahlen"}
    token = jwt.encode({**claims, "iat": now, "exp": now + 60}, SECRET, algorithm="HS256")

    with pytest.raises(TokenError):
        read_token(SECRET, token)
