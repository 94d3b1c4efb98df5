"""Who recorded a fact, for which organisation, under which request."""

from __future__ import annotations

from dataclasses import dataclass

# Every event's fields that are not its own data: the library's (originator_*,
# timestamp) and the envelope's. The one list: classification skips them, exports,
# views and corrections leave them out.
ENVELOPE_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "effective_date",
        "recorded_by",
        "recorded_role",
        "organisation",
        "request_id",
    }
)


@dataclass(frozen=True)
class Envelope:
    """The context every event carries besides its own data.

    The effective date (when it happened in the world) is passed separately
    because it differs per milestone; the recorded-at timestamp is the event's
    own ``timestamp``, set by the library in UTC when the event is created.
    """

    user: str
    role: str
    organisation: str
    request_id: str


def envelope_fields(envelope: Envelope) -> dict[str, str]:
    """The envelope as the event fields it becomes (every aggregate's events carry them)."""
    return {
        "recorded_by": envelope.user,
        "recorded_role": envelope.role,
        "organisation": envelope.organisation,
        "request_id": envelope.request_id,
    }
