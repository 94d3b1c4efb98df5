"""Configured names for the ids of organisations: what a person reads instead of a code."""

from __future__ import annotations

from lotse.domain.access import ALL_ORGANISATIONS
from lotse.domain.configuration import Configuration

#: The organisation of the state-wide roles (funder, auditor, admin).
STATE_WIDE = "landesweit"


def organisation_names(configuration: Configuration) -> dict[str, str]:
    """Provider and municipality ids by their configured names."""
    names = {p.id: p.name for p in configuration.providers.values()}
    names.update({m.id: m.name for m in configuration.municipalities.values()})
    names[ALL_ORGANISATIONS] = STATE_WIDE
    return names


def organisation_name(configuration: Configuration, organisation: str) -> str:
    return organisation_names(configuration).get(organisation, organisation)
