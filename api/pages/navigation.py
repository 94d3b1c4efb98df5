"""The pages in the navigation, and which roles see each: asked of the access policy.

Each entry names the policy check of ``domain.access`` that decides whether a role
may use the page; the navigation shows an entry when that check passes, so the
menu never offers what the page itself would refuse (and no rule is copied here).
A page added later appends its entry to ``NAVIGATION``. A role's start page is the
first entry it may use (``start_path``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lotse.domain.access import (
    Principal,
    check_may_administer_users,
    check_may_audit,
    check_may_read_access_log,
    check_may_read_courses,
    check_may_read_personal_data,
    check_may_read_reports,
    check_may_record,
    check_may_review_duplicates,
)
from lotse.domain.errors import AccessDeniedError


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str
    #: A ``domain.access`` check that raises ``AccessDeniedError`` for roles without access.
    check: Callable[[Principal], None]

    def allows(self, principal: Principal) -> bool:
        return permits(self.check, principal)


def permits(check: Callable[[Principal], None], principal: Principal) -> bool:
    """Does the policy check pass for this person (to offer a link or a form)?"""
    try:
        check(principal)
    except AccessDeniedError:
        return False
    return True


NAVIGATION: list[NavItem] = [
    NavItem("/teilnehmende", "Meine Teilnehmenden", check_may_read_personal_data),
    NavItem("/teilnehmende/neu", "Neue Teilnehmende/r", check_may_record),
    NavItem("/kurse", "Kurse", check_may_read_courses),
    NavItem("/berichte", "Berichte", check_may_read_reports),
    NavItem("/pruefung", "Prüfung", check_may_audit),
    NavItem("/datenschutz", "Datenschutz", check_may_read_access_log),
    NavItem("/benutzer", "Benutzer", check_may_administer_users),
    NavItem("/doppelerfassungen", "Doppelerfassungen", check_may_review_duplicates),
]

#: Where a signed-in person lands when no page of the navigation is open to the role.
OVERVIEW = "/start"


def navigation_for(principal: Principal) -> list[NavItem]:
    return [item for item in NAVIGATION if item.allows(principal)]


def start_path(principal: Principal) -> str:
    items = navigation_for(principal)
    return items[0].path if items else OVERVIEW
