"""The demo's people, one per role: the tokens ``lotse demo`` prints and its demo sign-in."""

from __future__ import annotations

from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role

DEMO_USERS = [
    ("caseworker", "coach-caritas-ahlen-1", "caritas-ahlen"),
    ("coordinator", "ki-warendorf", "warendorf"),
    ("funder", "bezreg-arnsberg", ALL_ORGANISATIONS),
    ("auditor", "pruefung-land", ALL_ORGANISATIONS),
    ("admin", "admin", ALL_ORGANISATIONS),
]


def demo_principals() -> list[Principal]:
    return [Principal(user, Role(role), org) for role, user, org in DEMO_USERS]
