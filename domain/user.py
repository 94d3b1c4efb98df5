"""The user directory: people who sign in, their memberships, their deactivation.

A user is someone at an organisation's OpenID provider (``issuer`` and ``subject``
identify them there) who works in Lotse in a role for an organisation
(*memberships*). The directory is kept as events with the usual envelope, like
participants' journeys, so who granted whom which role, and when, is as
auditable as any milestone. A user's stream id is derived from their Lotse user id
(``<issuer name>:<subject>``), so a directory lookup needs no index and two
administrators adding the same person at once cannot create two users: the
second save conflicts.

Display name and e-mail are personal data (identifying: sealed under the user's
own key like a participant's name); roles and organisations are not.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from lotse.domain.envelope import Envelope, envelope_fields
from lotse.domain.errors import InvalidInputError, RuleViolationError
from lotse.domain.text import check_event_text

#: Namespace of the user stream ids (uuid5 of the Lotse user id).
USERS_NAMESPACE = UUID("6c0a9f4e-3b52-5d8e-9a51-2f6c1d7e8b90")
MAX_NAME = 200


def user_stream_id(user_id: str) -> UUID:
    return uuid.uuid5(USERS_NAMESPACE, user_id)


class User(Aggregate):
    class Event(Aggregate.Event):
        effective_date: date
        recorded_by: str
        recorded_role: str
        organisation: str
        request_id: str

        def apply(self, aggregate: Any) -> None:
            assert isinstance(aggregate, User)
            self.evolve(aggregate)

        def evolve(self, u: User) -> None:
            """Change the user's state; overridden by every event."""

    class UserAdded(Event, Aggregate.Created):
        user_id: str
        """``<issuer name>:<subject>``, as sign-in names the person."""
        issuer: str
        subject: str
        display_name: str
        email: str

        def evolve(self, u: User) -> None:
            u._reset(self.user_id, self.issuer, self.subject, self.display_name, self.email)

    class MembershipGranted(Event):
        role: str
        member_of: str
        """The organisation the role is held at (``organisation`` is the envelope's)."""

        def evolve(self, u: User) -> None:
            u.memberships.add((self.role, self.member_of))

    class MembershipWithdrawn(Event):
        role: str
        member_of: str

        def evolve(self, u: User) -> None:
            u.memberships.discard((self.role, self.member_of))

    class UserDeactivated(Event):
        reason: str

        def evolve(self, u: User) -> None:
            u.active = False

    class UserReactivated(Event):
        def evolve(self, u: User) -> None:
            u.active = True

    # --------------------------------------------------------------- state

    def _reset(
        self, user_id: str, issuer: str, subject: str, display_name: str, email: str
    ) -> None:
        self.user_id = user_id
        self.issuer = issuer
        self.subject = subject
        self.display_name = display_name
        self.email = email
        self.memberships: set[tuple[str, str]] = set()
        self.active = True

    # ------------------------------------------------------------ commands

    @classmethod
    def add(
        cls,
        *,
        envelope: Envelope,
        today: date,
        issuer: str,
        subject: str,
        display_name: str,
        email: str,
    ) -> User:
        for field, value in (("issuer", issuer), ("subject", subject)):
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
                msg = f"{field} must be a non-empty text of at most {MAX_NAME} characters"
                raise InvalidInputError(msg, field=field)
        user_id = f"{issuer}:{subject}"
        fields = {
            **envelope_fields(envelope),
            "user_id": user_id,
            "issuer": issuer,
            "subject": subject,
            "display_name": display_name,
            "email": email,
        }
        check_event_text(cls.UserAdded.__name__, fields)
        return cls._create(
            cls.UserAdded, id=user_stream_id(user_id), effective_date=today, **fields
        )

    def _trigger(
        self, event_class: type[User.Event], envelope: Envelope, today: date, **data: Any
    ) -> None:
        fields = {**data, **envelope_fields(envelope)}
        check_event_text(event_class.__name__, fields)
        self.trigger_event(event_class, effective_date=today, **fields)

    def grant(self, *, envelope: Envelope, today: date, role: str, member_of: str) -> None:
        if (role, member_of) in self.memberships:
            msg = "the user holds this role at this organisation already"
            raise RuleViolationError(msg, field="role", rule="membership-exists")
        self._trigger(self.MembershipGranted, envelope, today, role=role, member_of=member_of)

    def withdraw(self, *, envelope: Envelope, today: date, role: str, member_of: str) -> None:
        if (role, member_of) not in self.memberships:
            msg = "the user does not hold this role at this organisation"
            raise RuleViolationError(msg, field="role", rule="no-such-membership")
        self._trigger(self.MembershipWithdrawn, envelope, today, role=role, member_of=member_of)

    def deactivate(self, *, envelope: Envelope, today: date, reason: str) -> None:
        if not self.active:
            msg = "the user is deactivated already"
            raise RuleViolationError(msg, rule="user-inactive")
        self._trigger(self.UserDeactivated, envelope, today, reason=reason)

    def reactivate(self, *, envelope: Envelope, today: date) -> None:
        if self.active:
            msg = "the user is active"
            raise RuleViolationError(msg, rule="user-active")
        self._trigger(self.UserReactivated, envelope, today)
