"""Read model ``users``: the directory as administrators list it (no names here).

One row per user stream: the Lotse user id, the provider, whether active, the
memberships (role at organisation) and whether the person waits for approval (no
membership yet). Display names and e-mails are personal data and stay in the
user's own (sealed) stream: ``GET /users/{id}`` shows them to whoever administers
that user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson

from lotse.projections.model import Crypto, Projection, Table
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_users",
    columns=(
        ("stream_id", "uuid NOT NULL"),
        ("user_id", "text NOT NULL"),
        ("issuer", "text NOT NULL"),
        ("active", "boolean NOT NULL"),
        ("waiting", "boolean NOT NULL"),
        ("memberships", "text NOT NULL"),  # JSON: [[role, organisation], ...]
        ("organisations", "text[] NOT NULL"),
        ("added_on", "date NOT NULL"),
        ("version", "int NOT NULL"),
    ),
    primary_key=("stream_id",),
    indexes=("organisations",),
    key="stream_id",
)


@dataclass
class UserState:
    stream_id: UUID
    row: dict[str, Any] = field(default_factory=dict)
    memberships: set[tuple[str, str]] = field(default_factory=set)


class UsersProjection(Projection[UserState]):
    name = "users"
    tables = (TABLE,)
    aggregate = "User"

    def empty(self, participant_id: UUID) -> UserState:
        return UserState(participant_id)

    def apply(self, state: UserState, event: EventRecord, identifiers: dict[str, Any]) -> UserState:
        d, row = event.data, state.row
        match event.type:
            case "UserAdded":
                row.update(
                    stream_id=event.participant_id,
                    user_id=d["user_id"],
                    issuer=d["issuer"],
                    active=True,
                    added_on=event.effective_date,
                )
            case "MembershipGranted":
                state.memberships.add((d["role"], d["member_of"]))
            case "MembershipWithdrawn":
                state.memberships.discard((d["role"], d["member_of"]))
            case "UserDeactivated":
                row["active"] = False
            case "UserReactivated":
                row["active"] = True
        ordered = sorted(state.memberships)
        row.update(
            version=event.version,
            waiting=not ordered,
            memberships=orjson.dumps([list(m) for m in ordered]).decode(),
            organisations=sorted({org for _, org in ordered}),
        )
        return state

    def rows(self, state: UserState, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        return {TABLE.name: [TABLE.row_of(state.row)] if state.row else []}


async def query_users(
    conn: Any, *, organisation: str | None, waiting: bool | None, limit: int
) -> list[dict[str, Any]]:
    """Users of ``organisation`` (and those waiting for approval), or all if None."""
    where: list[str] = []
    args: list[Any] = []
    if organisation is not None:
        args.append(organisation)
        where.append(f"(${len(args)} = ANY(organisations) OR waiting)")
    if waiting is not None:
        args.append(waiting)
        where.append(f"waiting = ${len(args)}")
    args.append(limit)
    sql = (
        f"SELECT stream_id, user_id, issuer, active, waiting, memberships, added_on, version"
        f" FROM {TABLE.name}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY user_id LIMIT ${len(args)}"
    )
    return [dict(r) for r in await conn.fetch(sql, *args)]
