"""``lotse token create|revoke|list``: Lotse's own tokens for programs and the demo.

``create`` prints only the token (so ``TOKEN=$(lotse token create ...)`` works) and
records its id, whom it names and until when, never the token itself. ``revoke``
takes a token or its id; the next request with it is refused on every worker within
``storage.token_registry.REFRESH_SECONDS``. A provider's access token can be
revoked the same way (by the token), for the rest of its lifetime.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from lotse.api.authentication import unverified_issuer
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import load_settings
from lotse.api.tokens import ISSUER, TokenError, issue_token
from lotse.domain.access import Principal, Role, check_organisation
from lotse.storage.token_registry import IssuedToken, TokenRegistry

REVOKED_BY_CLI = "lotse token revoke"


def add_token_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = sub.add_parser("token", help="manage Lotse's own bearer tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="print a signed token on stdout")
    create.add_argument("--user", required=True)
    create.add_argument("--role", required=True, help=", ".join(r.value for r in Role))
    create.add_argument("--org", required=True, help="provider, municipality, or * for all")
    create.add_argument("--ttl-hours", type=int, default=None)
    revoke = token_sub.add_parser("revoke", help="revoke a token (the token or its id)")
    revoke.add_argument("token", help="the token, or its id as `lotse token list` shows it")
    listing = token_sub.add_parser("list", help="tokens issued and not expired")
    listing.add_argument("--all", action="store_true", help="expired ones too")


def issue_recorded(runtime: Runtime, principal: Principal, ttl_hours: float) -> str:
    """A new token, recorded so that it can be listed and revoked."""
    issued = issue_token(runtime.settings.secret_key, principal, ttl_hours)
    registry(runtime).record_issued(
        IssuedToken(
            issued.token_id,
            principal.user,
            principal.role.value,
            principal.organisation,
            issued.issued_at,
            issued.expires_at,
            None,
            None,
        )
    )
    return issued.token


def registry(runtime: Runtime) -> TokenRegistry:
    assert runtime.tokens is not None
    return runtime.tokens


def run_token(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.token_command == "create":  # noqa: S105 - a command name
        try:
            role = Role(args.role)
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            print(f"error: --role must be one of {roles}", file=sys.stderr)
            return 2
        ttl = args.ttl_hours or settings.token_ttl_hours
        if not 0 < ttl <= settings.token_max_ttl_hours:
            print(
                f"error: --ttl-hours must be between 1 and {settings.token_max_ttl_hours}"
                " (LOTSE_TOKEN_MAX_TTL_HOURS)",
                file=sys.stderr,
            )
            return 2
    runtime = build_runtime(settings, checkpointing=False)
    try:
        if args.token_command == "create":  # noqa: S105
            try:
                check_organisation(runtime.configuration, role, args.org)
            except ValueError as e:
                print(f"error: --org: {e}", file=sys.stderr)
                return 2
            print(issue_recorded(runtime, Principal(args.user, role, args.org), ttl))
            return 0
        if args.token_command == "revoke":  # noqa: S105
            return _revoke(runtime, args.token.strip())
        return _list(runtime, include_expired=args.all)
    finally:
        runtime.close()


def _revoke(runtime: Runtime, given: str) -> int:
    token_id = given
    if given.count(".") == 2:  # a token, not an id
        try:
            verified = runtime.authentication.verify(given)
        except TokenError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        token_id = verified.token_id
        if unverified_issuer(given) != ISSUER:
            # A provider's token is not in the registry yet: record it to revoke it.
            p = verified.principal
            now = datetime.now(UTC)
            expires = datetime.fromtimestamp(verified.expires, UTC)
            noted = IssuedToken(
                token_id, p.user, p.role.value, p.organisation, now, expires, None, None
            )
            registry(runtime).record_external(noted)
    if not registry(runtime).revoke(token_id, REVOKED_BY_CLI):
        print("error: no such token that is not revoked already", file=sys.stderr)
        return 1
    print(f"revoked {token_id}")
    return 0


def _list(runtime: Runtime, *, include_expired: bool) -> int:
    for t in registry(runtime).issued(include_expired=include_expired):
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "valid"
        print(
            f"{t.token_id}  {t.role:<11} {t.organisation:<20} {t.user}  "
            f"expires {t.expires_at:%Y-%m-%d %H:%M}  {state}"
        )
    return 0
