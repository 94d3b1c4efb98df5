"""Which errors park an event (its own fault) and which repeat the batch (the database's)."""

from __future__ import annotations

import asyncpg
import pytest

from lotse.projections.failures import describe, is_permanent


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CharacterNotInRepertoireError("NUL in text"),
        asyncpg.exceptions.NumericValueOutOfRangeError("too large"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.NotNullViolationError("null value"),
        KeyError("a field the fold expected"),
        ValueError("sealed fields do not belong to the event"),
    ],
)
def test_data_errors_constraint_violations_and_fold_errors_are_permanent(
    error: Exception,
) -> None:
    assert is_permanent(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
        asyncpg.exceptions.SerializationError("could not serialize"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock"),
        asyncpg.exceptions.QueryCanceledError("statement timeout"),
        asyncpg.exceptions.DiskFullError("no space left"),
        asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle"),
        ConnectionResetError("reset by peer"),
        TimeoutError(),
    ],
)
def test_connection_loss_shutdowns_conflicts_and_timeouts_are_transient(
    error: Exception,
) -> None:
    assert not is_permanent(error)


def test_an_error_is_described_by_type_and_sqlstate_never_by_its_message() -> None:
    error = asyncpg.exceptions.CharacterNotInRepertoireError('invalid byte: "Amina\\x00"')

    described = describe(error)

    assert described == ("CharacterNotInRepertoireError", "22021")
    assert describe(KeyError("Amina")) == ("KeyError", None)
