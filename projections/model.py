"""What a read model is: tables, and a pure fold of one participant's events into rows.

Every read model keeps its rows per participant. For each participant a batch
touches, the runner takes the participant's fold state (from its bounded cache, or
by refolding the participant's history from the event table), folds the batch's
events into it with ``apply`` (pure: state and event in, state out), and replaces
the participant's rows. A correction of an entry a model depends on makes the
runner refold from the history with the correction substituted, exactly as the
aggregate does, so no model has to undo anything by hand.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

from lotse.projections.corrections import substitute_corrections
from lotse.projections.records import EventRecord

S = TypeVar("S")


@dataclass(frozen=True)
class Table:
    """A read-model table; ``name`` is the logical name the API queries (a view)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]
    indexes: tuple[str, ...] = ()
    """Index column lists, e.g. ``"municipality, provider, status"``."""
    key: str = "participant_id"
    """The column holding the id of the stream a row was folded from."""

    def __post_init__(self) -> None:
        # The runner deletes a stream's rows by this column when the stream changes:
        # a table without it failed only on a stream's second batch, and then again
        # on every retry, holding up every read model behind it.
        if self.key not in self.column_names:
            msg = f"{self.name}: the key column {self.key!r} is not one of its columns"
            raise ValueError(msg)

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    @cached_property
    def row_of(self) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
        """A row dict to its tuple in column order, done in C (``itemgetter``).

        Building rows is a measurable share of a rebuild's CPU; a generator of
        lookups per row costs several times more.
        """
        return operator.itemgetter(*self.column_names)

    def physical(self, generation: int) -> str:
        return f"{self.name}_g{generation}"

    def ddl(self, generation: int) -> list[str]:
        physical = self.physical(generation)
        cols = ", ".join(f"{c} {t}" for c, t in self.columns)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {physical} ({cols}, "
            f"PRIMARY KEY ({', '.join(self.primary_key)}))"
        ]
        for i, index in enumerate(self.indexes):
            using = "USING gin " if index.startswith("gin:") else ""
            columns = index.removeprefix("gin:")
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {physical}_i{i} ON {physical} {using}({columns})"
            )
        return statements


class Crypto(ABC):
    """Seals names for read models and computes their blind search index."""

    @abstractmethod
    def seal(self, participant_id: UUID, values: dict[str, Any]) -> bytes | None: ...

    @abstractmethod
    def index(self, text: str) -> list[bytes]: ...


class Projection(ABC, Generic[S]):
    """A read model. Subclasses are stateless; all state lives in ``S`` per participant."""

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    #: The aggregate whose streams this model folds: the log holds participants'
    #: and courses' streams, and a model never sees the other kind.
    aggregate: ClassVar[str] = "Participant"
    #: Whether the model shows the journey as corrected (every read model of state
    #: and the reports) or the entries as recorded (the audit trail, which lists each
    #: correction beside the entry it corrects).
    folds_corrected_history: ClassVar[bool] = True
    #: Whether ``apply`` needs the identifying fields opened (names, for search).
    needs_identifiers: ClassVar[bool] = False
    #: Whether the runner may write only the rows added since the last batch. True
    #: only for a model whose rows grow at the end (one per event) and whose row
    #: values are never changed in place once ``rows`` returned them (a changed
    #: value is a new object), so that comparing the rows as committed with the new
    #: ones finds every change; any difference makes the runner replace them all.
    appends_rows: ClassVar[bool] = False

    @abstractmethod
    def empty(self, participant_id: UUID) -> S:
        """The state before the participant's first event."""

    @abstractmethod
    def apply(self, state: S, event: EventRecord, identifiers: dict[str, Any]) -> S:
        """Fold one event into the state. Pure: no I/O, no clock."""

    @abstractmethod
    def rows(self, state: S, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        """The participant's rows, per table, in column order."""

    def fold(self, participant_id: UUID, events: Sequence[tuple[EventRecord, dict[str, Any]]]) -> S:
        state = self.empty(participant_id)
        for event, identifiers in events:
            state = self.apply(state, event, identifiers)
        return state

    def fold_history(
        self, participant_id: UUID, history: Sequence[tuple[EventRecord, dict[str, Any]]]
    ) -> S:
        """The state after a participant's stored history, as this model sees it."""
        if self.folds_corrected_history:
            history = substitute_corrections(history)
        return self.fold(participant_id, history)

    def refolds_on(self, event: EventRecord) -> bool:
        """Whether ``event`` is applied by folding the history again, not by ``apply``.

        A correction may change any earlier entry (a void remove one), and with it
        everything derived after it: a model of the corrected journey folds its
        history again on every correction and void, so that its state is what a
        fold from scratch (a rebuild, or a cache miss) gives. The audit trail
        applies corrections as rows of their own.
        """
        return self.folds_corrected_history and event.type in REFOLDING


#: Events that change earlier entries: a correction changes one, a void removes one.
REFOLDING = frozenset({"EntryCorrected", "EntryVoided"})


def age_band(age: int) -> str:
    """The programme's reporting bands: 18-20, 21-24, 25-27, other."""
    if 18 <= age <= 20:
        return "18-20"
    if 21 <= age <= 24:
        return "21-24"
    if 25 <= age <= 27:
        return "25-27"
    return "other"


def follow_participant(context: dict[str, Any], event: EventRecord) -> None:
    """Keep ``context`` at where the participant is and their statistical facts.

    Every read model that counts stays, outcomes or units attributes them to the
    participant's programme, provider and municipality at the time, and describes
    them by gender, age band at intake, residence status and nationality: one
    definition for all of them.
    """
    d = event.data
    if event.type == "Registered":
        context.update(
            programme=d["programme"],
            provider=d["provider"],
            municipality=d["municipality"],
            gender=d["gender"],
            age_band=age_band(d["age_at_intake"]),
            residence_status=d["residence_status"],
            nationality=d["nationality"],
        )
    elif event.type == "CaseTransferred":
        context.update(provider=d["to_provider"], municipality=d["to_municipality"])
    elif event.type == "ResidenceStatusChanged":
        context["residence_status"] = d["status"]
