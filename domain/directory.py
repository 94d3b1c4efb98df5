"""The user directory as an application service: who may work in Lotse, in which role.

Memberships come from one of two places, chosen per person (README "Signing in"):

- **the directory** (this module): an administrator (``admin``, or ``org_admin`` for
  the own organisation) adds the person and grants roles; once a person is in the
  directory, the directory alone decides their roles, and deactivating them
  refuses their sessions and tokens;
- **the provider's group claim**, mapped in ``issuers.toml``, for people not in the
  directory. A person with neither is recorded as *waiting for approval* at their
  first sign-in (a user without memberships) and gets no access until an
  administrator grants a role.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from lotse.domain.access import (
    Principal,
    Role,
    check_may_administer_users,
    check_may_grant,
    check_organisation,
    may_see_user,
)
from lotse.domain.application import Journeys
from lotse.domain.envelope import Envelope
from lotse.domain.errors import (
    AccessDeniedError,
    InvalidInputError,
    RuleViolationError,
    UserNotFoundError,
    VersionConflictError,
)
from lotse.domain.user import User, user_stream_id

MAX_CONFLICT_RETRIES = 5
#: The envelope of a user recorded at their first sign-in (nobody administered it).
SIGN_IN = Envelope("sign-in", "system", "lotse", "sign-in")


@dataclass(frozen=True)
class Standing:
    """What the directory says about a user id, as authentication needs it."""

    known: bool
    active: bool
    memberships: frozenset[tuple[str, str]]


UNKNOWN = Standing(known=False, active=True, memberships=frozenset())


class Directory:
    def __init__(self, journeys: Journeys) -> None:
        self.journeys = journeys

    def _envelope(self, principal: Principal, request_id: str) -> Envelope:
        return Envelope(principal.user, principal.role, principal.organisation, request_id)

    def _load(self, user_id: str) -> User | None:
        found: object = None
        with contextlib.suppress(AggregateNotFoundError):
            found = self.journeys.repository.get(user_stream_id(user_id))
        return found if isinstance(found, User) else None

    def standing(self, user_id: str) -> Standing:
        user = self._load(user_id)
        if user is None:
            return UNKNOWN
        return Standing(True, user.active, frozenset(user.memberships))

    def check_assignee(self, assignee: str, provider: str, municipality: str) -> None:
        """A case is assigned to someone who works on it: a case worker of the
        participant's provider or the municipality's Teilhabemanagement. People the
        directory does not know (service accounts, the demo's users) are taken as given."""
        standing = self.standing(assignee)
        if not standing.known:
            return
        if standing.active and (
            (Role.CASEWORKER.value, provider) in standing.memberships
            or (Role.TEILHABEMANAGER.value, municipality) in standing.memberships
        ):
            return
        msg = "the assignee is not an active case worker of the participant's provider"
        raise RuleViolationError(msg, field="assignee", rule="assignee-not-of-provider")

    def user_for_reading(self, principal: Principal, stream_id: UUID) -> User:
        check_may_administer_users(principal)
        found: object = None
        with contextlib.suppress(AggregateNotFoundError):
            found = self.journeys.repository.get(stream_id)
        if not isinstance(found, User) or not may_see_user(principal, found.memberships):
            msg = "no user with this id"
            raise UserNotFoundError(msg)
        return found

    def _check_membership(self, principal: Principal, role: str, member_of: str) -> Role:
        try:
            chosen = Role(role)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidInputError(f"role must be one of: {allowed}", field="role") from None
        check_may_grant(principal, member_of)
        if principal.role == Role.ORG_ADMIN and chosen in (Role.ADMIN, Role.ORG_ADMIN):
            msg = "an organisation admin may not grant administrator roles"
            raise AccessDeniedError(msg, field="role")
        try:
            check_organisation(self.journeys.configuration, chosen, member_of)
        except ValueError as e:
            raise InvalidInputError(
                str(e), field="member_of", rule="role-not-at-organisation"
            ) from None
        return chosen

    def add(
        self,
        principal: Principal,
        request_id: str,
        *,
        issuer: str,
        subject: str,
        display_name: str,
        email: str,
        memberships: list[tuple[str, str]],
    ) -> User:
        check_may_administer_users(principal)
        if principal.role == Role.ORG_ADMIN and not memberships:
            msg = "an organisation admin adds users with a role at the own organisation"
            raise InvalidInputError(msg, field="memberships")
        for role, member_of in memberships:
            self._check_membership(principal, role, member_of)
        envelope = self._envelope(principal, request_id)
        today = self.journeys.clock()
        user = User.add(
            envelope=envelope,
            today=today,
            issuer=issuer,
            subject=subject,
            display_name=display_name,
            email=email,
        )
        for role, member_of in memberships:
            user.grant(envelope=envelope, today=today, role=role, member_of=member_of)
        try:
            self.journeys.save(user)
        except IntegrityError:
            msg = "this person is in the directory already"
            raise RuleViolationError(msg, field="subject", rule="user-exists") from None
        return user

    def note_first_sign_in(self, issuer: str, subject: str, display_name: str, email: str) -> None:
        """A person the directory does not know signed in without a mapped group:
        recorded without memberships, waiting for an administrator's approval."""
        user_id = f"{issuer}:{subject}"
        if self._load(user_id) is not None:
            return
        user = User.add(
            envelope=SIGN_IN,
            today=self.journeys.clock(),
            issuer=issuer,
            subject=subject,
            display_name=display_name,
            email=email,
        )
        with contextlib.suppress(IntegrityError):  # signed in twice at once: one is enough
            self.journeys.save(user)

    def _change(
        self,
        principal: Principal,
        stream_id: UUID,
        command: Callable[[User, Envelope, date], None],
        request_id: str,
    ) -> User:
        for _attempt in range(MAX_CONFLICT_RETRIES):
            user = self.user_for_reading(principal, stream_id)
            command(user, self._envelope(principal, request_id), self.journeys.clock())
            try:
                self.journeys.save(user)
            except IntegrityError:
                continue
            return user
        msg = "the user is being changed by many administrators at once: try again"
        raise VersionConflictError(msg)

    def grant(
        self, principal: Principal, request_id: str, stream_id: UUID, role: str, member_of: str
    ) -> User:
        self._check_membership(principal, role, member_of)
        return self._change(
            principal,
            stream_id,
            lambda u, env, today: u.grant(
                envelope=env, today=today, role=role, member_of=member_of
            ),
            request_id,
        )

    def withdraw(
        self, principal: Principal, request_id: str, stream_id: UUID, role: str, member_of: str
    ) -> User:
        self._check_membership(principal, role, member_of)
        return self._change(
            principal,
            stream_id,
            lambda u, env, today: u.withdraw(
                envelope=env, today=today, role=role, member_of=member_of
            ),
            request_id,
        )

    def deactivate(
        self, principal: Principal, request_id: str, stream_id: UUID, reason: str
    ) -> User:
        def command(u: User, env: Envelope, today: date) -> None:
            if principal.role == Role.ORG_ADMIN and any(
                org != principal.organisation for _, org in u.memberships
            ):
                msg = "this user also works for another organisation: ask an admin"
                raise AccessDeniedError(msg)
            u.deactivate(envelope=env, today=today, reason=reason)

        return self._change(principal, stream_id, command, request_id)

    def reactivate(self, principal: Principal, request_id: str, stream_id: UUID) -> User:
        return self._change(
            principal,
            stream_id,
            lambda u, env, today: u.reactivate(envelope=env, today=today),
            request_id,
        )
