"""The caseload as a caller may see it: lists, name search and timelines, scoped.

The routes parse the request and shape the answer; what a caller may find,
read by name and see of a referred participant or of another organisation's
entries is decided here, by the access policy (``domain.access``), before or
while the read models are queried.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from lotse.domain.access import (
    Principal,
    Visibility,
    check_not_restricted,
    core_data,
    is_own_entry,
    lists_referred_participants,
    may_see,
    may_see_restricted,
    narrow,
    personal_data_scope,
    referred_modules,
    shows_only_own_entries,
    visibility,
)
from lotse.domain.errors import InvalidInputError, ParticipantNotFoundError
from lotse.projections.crypto import fetch_keys, index_key, open_names, search_terms
from lotse.projections.participants import TABLE as PARTICIPANTS
from lotse.projections.participants import query_page, query_scope, referral_pairs
from lotse.projections.timeline import query_placement, query_recorded_by, query_timeline
from lotse.storage.keys import MasterKey


def name_search(master: MasterKey, q: str | None) -> list[bytes] | None:
    """The blind-index terms of a name search; refused when no word can be searched."""
    terms = search_terms(index_key(master), q) if q else None
    if q and not terms:
        msg = "q must contain at least one word of two or more letters"
        raise InvalidInputError(msg, field="q")
    return terms


async def caseload_page(
    conn: Any,
    master: MasterKey,
    principal: Principal,
    *,
    provider: str | None,
    municipality: str | None,
    status: str | None,
    module: str | None,
    name_terms: list[bytes] | None,
    after: tuple[date, UUID] | None,
    limit: int,
    assigned_to: str | None = None,
) -> tuple[list[dict[str, Any]], tuple[date, UUID] | None]:
    """One page of the caller's caseload: rows as the caller may see them, and the next key.

    Each row carries ``id``, the opened ``given_name``/``family_name`` (``None``
    when restricted for the caller), ``referred_for`` (the modules a referred
    provider sees; their other fields then are the core data only) and the read
    model's columns.
    """
    own_provider, own_municipality = personal_data_scope(principal)
    page = await query_page(
        conn,
        provider=narrow(own_provider, provider),
        municipality=narrow(own_municipality, municipality),
        status=status,
        module=module,
        name_terms=name_terms,
        # Restricted participants are never found by name, except by auditors.
        include_restricted=not name_terms or may_see_restricted(principal),
        after=after,
        limit=limit,
        with_referrals=lists_referred_participants(principal),
        assigned_to=assigned_to,
    )
    keys = await fetch_keys(conn, master, [r["participant_id"] for r in page.rows])
    items = []
    for row in page.rows:
        pid = row["participant_id"]
        names = open_names(keys.get(pid), pid, row["names_sealed"])
        hidden = row["restricted"] and not may_see_restricted(principal)
        referred: frozenset[str] = frozenset()
        if row["provider"] != own_provider or own_provider is None:
            referred = referred_modules(
                principal, referral_pairs(row["referrals"]), row["status"] == "active"
            )
        shown = core_data(row, referred) if referred else dict(row)
        items.append(
            {
                **shown,
                "id": pid,
                "given_name": None if hidden else names.get("given_name"),
                "family_name": None if hidden else names.get("family_name"),
                "referred_for": sorted(referred),
            }
        )
    return items, page.next_cursor


async def readable_names_of(
    conn: Any, master: MasterKey, principal: Principal, participant_ids: list[UUID]
) -> dict[UUID, tuple[str | None, str | None]]:
    """(given, family) name of each listed participant whose name the caller may read.

    For pages that name participants listed elsewhere (a course's attendance list):
    the caller reads a name where it reads the participant's core data (in scope, or
    referred to the caller's provider and active), never while processing is
    restricted (except auditors). Anyone else is left out of the answer; the caller
    shows a pseudonym instead. An erased participant's names read as ``None``.
    """
    personal_data_scope(principal)  # funders: refused
    rows = await conn.fetch(
        "SELECT participant_id, provider, municipality, status, restricted, referrals, "
        f"names_sealed FROM {PARTICIPANTS.name} WHERE participant_id = ANY($1::uuid[])",
        participant_ids,
    )
    readable = []
    for row in rows:
        referred = referred_modules(
            principal, referral_pairs(row["referrals"]), row["status"] == "active"
        )
        seen = visibility(
            principal, row["provider"], row["municipality"], referred=referred, recorded_here=False
        )
        hidden = row["restricted"] and not may_see_restricted(principal)
        if seen in (Visibility.FULL, Visibility.REFERRAL) and not hidden:
            readable.append(row)
    keys = await fetch_keys(conn, master, [r["participant_id"] for r in readable])
    names = {}
    for row in readable:
        pid = row["participant_id"]
        opened = open_names(keys.get(pid), pid, row["names_sealed"])
        names[pid] = (opened.get("given_name"), opened.get("family_name"))
    return names


async def timeline_for(conn: Any, principal: Principal, participant_id: UUID) -> list[Any]:
    """A participant's timeline rows as the caller may read them; else as if unknown.

    Referred and former providers read the entries they recorded, no others.
    """
    # Scope first, from single rows: the same three queries for an unknown id and
    # for a participant out of scope, so the time a 404 takes tells them not
    # apart, whatever the length of the history.
    placement = await query_placement(conn, participant_id)
    scope = await query_scope(conn, participant_id)
    recorded_here = await query_recorded_by(conn, participant_id, principal.organisation)
    referred = referred_modules(
        principal,
        referral_pairs(scope["referrals"] if scope else None),
        bool(scope) and scope["status"] == "active",  # type: ignore[index]
    )
    if placement is None or not (may_see(principal, *placement) or referred or recorded_here):
        msg = "no participant with this id"
        raise ParticipantNotFoundError(msg)
    rows = await query_timeline(conn, participant_id)
    own_only = shows_only_own_entries(
        visibility(principal, *placement, referred=referred, recorded_here=recorded_here)
    )
    check_not_restricted(principal, bool(scope and scope["restricted"]))
    if own_only:
        rows = [r for r in rows if is_own_entry(principal, r["organisation"])]
    return rows


async def names_of(
    conn: Any, master: MasterKey, principal: Principal, participant_ids: list[UUID]
) -> dict[UUID, str]:
    """Names ("Familienname, Vorname") of participants the caller found in scope (due list).

    Restricted participants read as "(eingeschränkt)" unless the role sees them;
    names are core data, which referred providers read too.
    """
    if not participant_ids:
        return {}
    rows = await conn.fetch(
        "SELECT participant_id, names_sealed, restricted, personal_data_erased "
        f"FROM {PARTICIPANTS.name} WHERE participant_id = ANY($1::uuid[])",
        list(participant_ids),
    )
    keys = await fetch_keys(conn, master, [r["participant_id"] for r in rows])
    shown: dict[UUID, str] = {}
    for row in rows:
        pid = row["participant_id"]
        if row["personal_data_erased"]:
            shown[pid] = "(Daten gelöscht)"
            continue
        if row["restricted"] and not may_see_restricted(principal):
            shown[pid] = "(eingeschränkt)"
            continue
        names = open_names(keys.get(pid), pid, row["names_sealed"])
        given, family = names.get("given_name"), names.get("family_name")
        shown[pid] = f"{family or ''}, {given or ''}".strip(", ") or "(ohne Namen)"
    return shown
