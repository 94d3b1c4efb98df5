"""The due list (Wiedervorlage) as a caller may see it: one read-side function for
``GET /worklist``, ``lotse worklist`` and the pages.

The read model ``worklist`` holds the dates the deadlines start from; here the
programme's ``[worklist]`` rules turn them into due dates for the day asked, and
the access policy (``domain.access.worklist_scope``) confines them to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from lotse.domain.access import Principal, narrow, worklist_scope
from lotse.domain.configuration import Configuration, Programme
from lotse.domain.errors import InvalidInputError
from lotse.domain.vocabulary import WorklistKind
from lotse.projections.worklist import Rules, Scope, query_items

STATES = ("open", "done", "dismissed")
MAX_DUE_WITHIN_DAYS = 3660


@dataclass(frozen=True)
class DueList:
    items: list[dict[str, Any]]
    #: programme -> the version of its rules the due dates were computed with.
    rules_versions: dict[str, str]
    until: date


def rules_of(programme: Programme, today: date) -> Rules:
    w = programme.worklist
    current = programme.current_consent_version(today)
    ended = [m for m in programme.modules if m.ends is not None and m.per_participant]
    return Rules(
        programme=programme.id,
        lead_days=w.residence_expiry_lead_days,
        follow_up_months=w.follow_up_months,
        abort_days=w.apprenticeship_abort_notice_days,
        no_contact_days=w.no_contact_days,
        age_limit_years=programme.eligibility.max_age + 1,
        consent_version=current.id if current else None,
        consent_from=current.valid_from if current else None,
        module_codes=[m.code for m in ended],
        module_ends=[m.ends for m in ended if m.ends is not None],
    )


def parse_kinds(kinds: list[str] | None) -> list[str] | None:
    if not kinds:
        return None
    known = {k.value for k in WorklistKind}
    for kind in kinds:
        if kind not in known:
            msg = "kind must be one of: " + ", ".join(k.value for k in WorklistKind)
            raise InvalidInputError(msg, field="kind")
    return sorted(set(kinds))


def parse_states(states: list[str] | None) -> list[str]:
    if not states:
        return ["open"]
    if "all" in states:
        return list(STATES)
    for state in states:
        if state not in STATES:
            msg = "state must be one of: open, done, dismissed, all"
            raise InvalidInputError(msg, field="state")
    return sorted(set(states))


async def due_list(
    conn: Any,
    configuration: Configuration,
    principal: Principal,
    *,
    today: date,
    due_within_days: int,
    kinds: list[str] | None = None,
    states: list[str] | None = None,
    assigned_to: str | None = None,
    provider: str | None = None,
    limit: int = 500,
    participant: UUID | None = None,
) -> DueList:
    """The caller's items due within ``due_within_days`` of ``today``, overdue ones first.

    ``participant``: only that participant's items (the participant's page).
    """
    if not 0 <= due_within_days <= MAX_DUE_WITHIN_DAYS:
        msg = f"due_within_days must lie between 0 and {MAX_DUE_WITHIN_DAYS}"
        raise InvalidInputError(msg, field="due_within_days")
    own_provider, own_municipality, referred = worklist_scope(principal)
    scope = Scope(
        provider=narrow(own_provider, provider),
        municipality=own_municipality,
        referred_kinds=referred if own_provider is not None else frozenset(),
    )
    until = today + timedelta(days=due_within_days)
    kind_list, state_list = parse_kinds(kinds), parse_states(states)
    items: list[dict[str, Any]] = []
    versions = {}
    for programme in sorted(configuration.programmes.values(), key=lambda p: p.id):
        versions[programme.id] = programme.worklist.version
        rows = await query_items(
            conn,
            rules_of(programme, today),
            scope,
            until=until,
            kinds=kind_list,
            states=state_list,
            assigned_to=assigned_to,
            limit=limit,
            participant=participant,
        )
        items.extend(_item(row, programme, today) for row in rows)
    items.sort(key=lambda i: (i["due_date"], str(i["participant_id"]), i["kind"]))
    return DueList(items[:limit], versions, until)


def _item(row: dict[str, Any], programme: Programme, today: date) -> dict[str, Any]:
    state = row["shown_state"]
    return {
        "kind": row["kind"],
        "due_date": row["due_date"],
        "overdue": state == "open" and row["due_date"] < today,
        "participant_id": row["participant_id"],
        "programme": programme.id,
        "state": state,
        "module": row["detail"] if row["kind"] == "module_closed_by_programme" else None,
        "responsible": {"assignees": list(row["assignees"]), "provider": row["provider"]},
        "municipality": row["municipality"],
        "done_by": (
            {"event": row["done_by"], "version": row["done_version"], "on": row["done_date"]}
            if state == "done"
            else None
        ),
        "dismissed": (
            {
                "reason": row["dismissed_reason"],
                "by": row["dismissed_by"],
                "version": row["dismissed_version"],
                "on": row["dismissed_on"],
            }
            if state == "dismissed"
            else None
        ),
    }
