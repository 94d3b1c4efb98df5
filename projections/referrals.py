"""Read model ``referrals``: who else serves a participant, for which module, since when.

One row per referral (``ReferralMade``), with its acceptance and end, the receiving
provider and the lead provider and municipality of the case now (a transfer moves
the case, not the referral). The lead provider reads the referrals it made, the
receiving provider those made to it (the pending ones are how it learns of them),
the coordinator those of the municipality's cases: ``GET /referrals``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from lotse.projections.model import Crypto, Projection, Table, follow_participant
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_referrals",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("referral_id", "text NOT NULL"),
        ("programme", "text NOT NULL"),
        ("lead_provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("module", "text NOT NULL"),
        ("consent_version", "text NOT NULL"),
        ("status", "text NOT NULL"),
        ("made_on", "date NOT NULL"),
        ("accepted_on", "date"),
        ("ended_on", "date"),
        ("end_reason", "text"),
        ("version", "int NOT NULL"),
    ),
    primary_key=("participant_id", "referral_id"),
    indexes=("provider, status", "lead_provider, status", "municipality, status"),
)


@dataclass
class Referrals:
    participant_id: UUID
    context: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


class ReferralsProjection(Projection[Referrals]):
    name = "referrals"
    tables = (TABLE,)

    def empty(self, participant_id: UUID) -> Referrals:
        return Referrals(participant_id)

    def apply(self, state: Referrals, event: EventRecord, identifiers: dict[str, Any]) -> Referrals:
        d, ctx = event.data, state.context
        follow_participant(ctx, event)
        if event.type == "ReferralMade":
            state.rows[d["referral_id"]] = {
                "participant_id": event.participant_id,
                "referral_id": d["referral_id"],
                "provider": d["provider"],
                "module": d["module"],
                "consent_version": d["consent_version"],
                "status": "made",
                "made_on": event.effective_date,
                "accepted_on": None,
                "ended_on": None,
                "end_reason": None,
            }
        elif event.type == "ReferralAccepted" and d["referral_id"] in state.rows:
            state.rows[d["referral_id"]].update(status="accepted", accepted_on=event.effective_date)
        elif event.type == "ReferralEnded" and d["referral_id"] in state.rows:
            state.rows[d["referral_id"]].update(
                status="ended", ended_on=event.effective_date, end_reason=d["reason"]
            )
        for row in state.rows.values():
            # The case's lead provider and municipality now, for scoping.
            row.update(
                programme=ctx["programme"],
                lead_provider=ctx["provider"],
                municipality=ctx["municipality"],
                version=event.version,
            )
        return state

    def rows(self, state: Referrals, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        return {TABLE.name: [TABLE.row_of(r) for r in state.rows.values()]}


async def query_referrals(
    conn: Any,
    *,
    provider: str | None,
    municipality: str | None,
    status: str | None,
    participant_id: UUID | None,
    limit: int,
    include_restricted: bool = False,
) -> list[dict[str, Any]]:
    """Referrals in the caller's scope: ``provider`` matches the receiving or the lead one."""
    where, args = [], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if provider is not None:
        p = arg(provider)
        where.append(f"(provider = {p} OR lead_provider = {p})")
    if municipality is not None:
        where.append(f"municipality = {arg(municipality)}")
    if status is not None:
        where.append(f"status = {arg(status)}")
    if participant_id is not None:
        where.append(f"participant_id = {arg(participant_id)}")
    if not include_restricted:
        # Restriction (Art. 18) keeps a participant out of every list but the auditors'.
        where.append(
            "participant_id NOT IN (SELECT participant_id FROM rm_participants WHERE restricted)"
        )
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT * FROM {TABLE.name} {clause} "
        f"ORDER BY made_on DESC, participant_id, referral_id LIMIT {arg(limit)}",
        *args,
    )
    return [dict(r) for r in rows]
