"""Group commit: concurrent single-event saves share one transaction.

Every append holds the events table's EXCLUSIVE lock until its commit has been
flushed to the WAL (the lock keeps notification ids and the hash chain in commit
order). With one event per transaction the log can therefore take no more
transactions per second than the disk takes flushes, however many API threads
wait. The standard answer (PostgreSQL's own ``commit_delay``, EventStoreDB's
writer queue) is to let the writers that arrive while a flush is under way go
together in the next one.

No thread waits on purpose: the first writer to arrive when none is in flight
becomes the leader and writes at once, alone. Writers arriving meanwhile queue;
when the leader is done, the first of them leads the next batch with all that
queued. Each writer gets its own result or its own error: the batch is written
by one statement that checks every event on its own (see
``LotseRecorder._append_batch_function``), so a conflict refuses that event only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Ticket(Generic[Item, Result]):
    item: Item
    done: bool = False
    result: Result | None = None
    error: BaseException | None = None
    taken: bool = False


class GroupCommitter(Generic[Item, Result]):
    """Runs ``write(items)`` for batches of concurrently submitted items.

    ``write`` returns one outcome per item, in order: a result, or an exception
    that is raised in that item's submitting thread only. An exception raised by
    ``write`` itself (the connection dropped, a lock timeout) fails every item
    of that batch, each in its own thread, as it would have failed alone.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Result | BaseException]],
        *,
        max_batch: int = 64,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._queue: list[_Ticket[Item, Result]] = []
        self._leading = False
        self._changed = threading.Condition()
        #: Batches written and items in them, for the benchmark's report.
        self.batches = 0
        self.items = 0

    def submit(self, item: Item) -> Result:
        ticket: _Ticket[Item, Result] = _Ticket(item)
        with self._changed:
            self._queue.append(ticket)
        while True:
            with self._changed:
                while not ticket.done and (self._leading or ticket.taken):
                    self._changed.wait()
                if ticket.done:
                    break
                # Nobody is writing and this ticket waits: lead the next batch (which
                # holds this ticket unless more than ``max_batch`` queued before it).
                self._leading = True
                batch, self._queue = (
                    self._queue[: self._max_batch],
                    self._queue[self._max_batch :],
                )
                for t in batch:
                    t.taken = True
            self._lead(batch)
        if ticket.error is not None:
            raise _copy(ticket.error)
        return ticket.result  # type: ignore[return-value]

    def _lead(self, batch: list[_Ticket[Item, Result]]) -> None:
        try:
            outcomes: Sequence[Result | BaseException] = self._write([t.item for t in batch])
            if len(outcomes) != len(batch):
                msg = f"group commit wrote {len(outcomes)} outcomes for {len(batch)} items"
                raise RuntimeError(msg)
        except BaseException as error:  # every waiter must hear of it, then it propagates
            outcomes = [error] * len(batch)
        with self._changed:
            for ticket, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    ticket.error = outcome
                else:
                    ticket.result = outcome
                ticket.done = True
            self._leading = False
            self.batches += 1
            self.items += len(batch)
            self._changed.notify_all()


def _copy(error: BaseException) -> BaseException:
    """A fresh exception per thread: one object raised in several threads would
    collect their tracebacks into each other."""
    try:
        fresh = type(error)(*error.args)
    except Exception:  # an exception class with another signature: raise it as it is
        return error
    fresh.__cause__ = error
    return fresh
