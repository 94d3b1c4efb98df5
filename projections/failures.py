"""Which errors of a batch are the event's fault, and which the infrastructure's.

A *permanent* error comes back every time the same event is applied: PostgreSQL
refusing a value (SQLSTATE class 22, data exception), a violated constraint
(class 23), or our own fold code raising on an event it cannot handle. Retrying
it forever stopped every read model for every user; such an event is parked for
the one read model that failed, and everything else goes on.

Everything else is *transient* (connection loss, class 08, an administrator's
shutdown 57P01, serialization failures and deadlocks, 40001/40P01, timeouts, and
any other server-side condition such as a full disk): the batch is rolled back
and tried again with backoff, and nothing is parked, because the event is not
at fault.
"""

from __future__ import annotations

import asyncpg

#: SQLSTATE classes whose errors a given event causes every time it is applied.
PERMANENT_CLASSES = ("22", "23")


def is_permanent(error: BaseException) -> bool:
    """Whether applying the same event again would fail the same way."""
    if isinstance(error, asyncpg.PostgresError):
        state = getattr(error, "sqlstate", None) or ""
        return state[:2] in PERMANENT_CLASSES
    # The client library, the network and the clock are never the event's fault.
    transient = (asyncpg.InterfaceError, OSError, TimeoutError, ConnectionError)
    return isinstance(error, Exception) and not isinstance(error, transient)


def describe(error: BaseException) -> tuple[str, str | None]:
    """The error's type and SQLSTATE: never its message, which may quote the data."""
    state = getattr(error, "sqlstate", None) if isinstance(error, asyncpg.PostgresError) else None
    return type(error).__name__, state
