"""Group commit: writers arriving during a write go together in the next one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from lotse.storage.group_commit import GroupCommitter


class RefusedError(Exception):
    pass


class GatedWrites:
    """A write function whose first call waits until the test opens the gate."""

    def __init__(self, outcome: Callable[[int], int | BaseException] = lambda i: i * 10) -> None:
        self.gate = threading.Event()
        self.calls: list[list[int]] = []
        self.outcome = outcome

    def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.calls.append(list(items))
        if len(self.calls) == 1:
            assert self.gate.wait(10)
        return [self.outcome(i) for i in items]


def submit_in_threads(
    committer: GroupCommitter[int, int], items: Sequence[int]
) -> tuple[list[threading.Thread], dict[int, int | BaseException]]:
    outcomes: dict[int, int | BaseException] = {}

    def run(i: int) -> None:
        try:
            outcomes[i] = committer.submit(i)
        except BaseException as e:
            outcomes[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in items]
    for t in threads:
        t.start()
    return threads, outcomes


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def queued(committer: GroupCommitter[int, int]) -> int:
    return len(committer._queue)


def test_a_writer_alone_writes_at_once_without_waiting_for_company() -> None:
    writes = GatedWrites()
    writes.gate.set()
    committer = GroupCommitter(writes)

    assert committer.submit(7) == 70
    assert writes.calls == [[7]]


def test_writers_arriving_during_a_write_share_the_next_one() -> None:
    writes = GatedWrites()
    committer = GroupCommitter(writes)
    first, outcomes = submit_in_threads(committer, [1])
    wait_until(lambda: len(writes.calls) == 1)

    later, _ = submit_in_threads(committer, [2, 3, 4, 5])
    wait_until(lambda: queued(committer) == 4)
    writes.gate.set()
    for t in first + later:
        t.join(10)

    assert writes.calls[0] == [1]
    assert sorted(writes.calls[1]) == [2, 3, 4, 5]
    assert len(writes.calls) == 2
    assert outcomes == {1: 10}
    assert (committer.batches, committer.items) == (2, 5)


def test_a_refused_item_fails_in_its_own_thread_only() -> None:
    writes = GatedWrites(lambda i: RefusedError(f"item {i}") if i == 3 else i * 10)
    committer = GroupCommitter(writes)
    threads, first = submit_in_threads(committer, [1])
    wait_until(lambda: len(writes.calls) == 1)
    more, outcomes = submit_in_threads(committer, [2, 3, 4])
    wait_until(lambda: queued(committer) == 3)
    writes.gate.set()
    for t in threads + more:
        t.join(10)
    outcomes.update(first)

    refused = outcomes.get(3)
    assert isinstance(refused, RefusedError)
    assert str(refused) == "item 3"
    assert {i: o for i, o in outcomes.items() if i != 3} == {1: 10, 2: 20, 4: 40}


def test_a_failed_write_fails_every_item_of_its_batch_and_the_next_batch_still_runs() -> None:
    calls: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int | BaseException]:
        calls.append(list(items))
        if len(calls) == 1:
            raise ConnectionError("server closed the connection")
        return [i for i in items]

    committer = GroupCommitter(write)

    with pytest.raises(ConnectionError):
        committer.submit(1)
    assert committer.submit(2) == 2


def test_no_batch_exceeds_its_limit_and_every_queued_writer_is_served() -> None:
    writes = GatedWrites()
    committer = GroupCommitter(writes, max_batch=2)
    first, _ = submit_in_threads(committer, [0])
    wait_until(lambda: len(writes.calls) == 1)
    later, outcomes = submit_in_threads(committer, list(range(1, 8)))
    wait_until(lambda: queued(committer) == 7)
    writes.gate.set()
    for t in first + later:
        t.join(10)

    assert outcomes == {i: i * 10 for i in range(1, 8)}
    assert max(len(c) for c in writes.calls) == 2
    assert sorted(i for c in writes.calls for i in c) == list(range(8))
