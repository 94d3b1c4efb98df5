"""The OpenID providers Lotse trusts: ``issuers.toml`` in the configuration directory.

One ``[[issuer]]`` table per provider (usually one per organisation)::

    [[issuer]]
    name = "caritas"                      # prefix of user ids: "caritas:<sub>"
    issuer = "https://login.caritas.example/realms/lotse"   # exactly the tokens' iss
    audience = "lotse-api"                # must be in the access token's aud
    groups_claim = "groups"               # the claim holding the person's groups
    algorithms = ["RS256", "ES256"]       # optional; only asymmetric ones allowed
    leeway_seconds = 60                   # optional clock skew for exp/nbf/iat
    client_id = "lotse-web"               # optional: offers browser sign-in (secret in
                                          # LOTSE_OIDC_SECRET_<NAME>, e.g. ..._CARITAS)
    display_name = "Caritas Ahlen"        # optional: shown on the sign-in page

    [issuer.groups]                       # group -> role at an organisation
    "lotse-coaches" = { role = "caseworker", organisation = "caritas-ahlen" }

Roles and organisations are checked against the programme configuration at start:
a mapping that could never work (a caseworker of a municipality, an unknown
organisation) stops the start with the file and the entry named.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lotse.domain.access import Role
from lotse.domain.configuration import Configuration
from lotse.domain.errors import ConfigurationError

ISSUERS_FILE = "issuers.toml"
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"})


@dataclass(frozen=True)
class Membership:
    role: Role
    organisation: str


@dataclass(frozen=True)
class IssuerConfig:
    name: str
    issuer: str
    audience: str
    memberships: Mapping[str, Membership]
    groups_claim: str = "groups"
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    leeway_seconds: int = 60
    refetch_seconds: float = 1.0
    client_id: str = ""
    """The client Lotse's sign-in pages use at this provider; empty: no browser sign-in."""
    display_name: str = ""


def load_issuers(directory: Path, configuration: Configuration) -> list[IssuerConfig]:
    """The issuers of ``directory/issuers.toml``; none when the file is absent."""
    path = directory / ISSUERS_FILE
    if not path.exists():
        return []
    problems: list[str] = []
    try:
        document = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigurationError([f"{path}: {e}"]) from None
    issuers = [
        issuer
        for n, table in enumerate(document.get("issuer", []), start=1)
        if (issuer := _issuer(table, f"{path}: issuer {n}", configuration, problems))
    ]
    names = [i.name for i in issuers]
    if len(set(names)) != len(names):
        problems.append(f"{path}: issuer names must be unique")
    if problems:
        raise ConfigurationError(problems)
    return issuers


def _issuer(
    table: Any, where: str, configuration: Configuration, problems: list[str]
) -> IssuerConfig | None:
    from lotse.domain.access import check_organisation

    if not isinstance(table, dict):
        problems.append(f"{where}: must be a table")
        return None
    missing = [k for k in ("name", "issuer", "audience") if not isinstance(table.get(k), str)]
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
        return None
    algorithms = tuple(table.get("algorithms", ("RS256", "ES256")))
    if not algorithms or not set(algorithms) <= ASYMMETRIC:
        problems.append(f"{where}: algorithms must be among {sorted(ASYMMETRIC)}")
    memberships: dict[str, Membership] = {}
    for group, entry in (table.get("groups") or {}).items():
        try:
            role = Role(entry["role"])
            organisation = str(entry["organisation"])
            check_organisation(configuration, role, organisation)
        except (KeyError, TypeError, ValueError) as e:
            problems.append(f"{where}: group {group!r}: {e}")
            continue
        memberships[str(group)] = Membership(role, organisation)
    return IssuerConfig(
        name=table["name"],
        issuer=table["issuer"],
        audience=table["audience"],
        memberships=memberships,
        groups_claim=str(table.get("groups_claim", "groups")),
        algorithms=algorithms,
        leeway_seconds=int(table.get("leeway_seconds", 60)),
        refetch_seconds=float(table.get("refetch_seconds", 1.0)),
        client_id=str(table.get("client_id", "")),
        display_name=str(table.get("display_name", table["name"])),
    )
