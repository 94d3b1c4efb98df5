"""Stored events as the read side sees them: decoded fast, decrypted where needed.

Projections run over millions of events, so this path avoids the domain event
objects: rows are decoded with orjson into plain dicts, typed values (dates,
decimals) are converted once, and sealed identifying fields are opened only when
a projection asks for them (the names, for search).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from lotse.storage.sealing import SEALED, SEALED_CHANGES, SEALED_FIELDS, SealBrokenError, open_event
from lotse.storage.upcasting import CLASS_VERSION, event_class, needs_upcast, upcast

_TYPES: dict[str, Callable[[str], Any]] = {
    "date_iso": date.fromisoformat,
    "datetime_iso": datetime.fromisoformat,
    "decimal_str": Decimal,
    "uuid_hex": UUID,
}


def _typed(value: Any) -> Any:
    if type(value) is dict:
        kind = value.get("_type_")
        if kind is not None and len(value) == 2:
            return _TYPES[kind](value["_data_"])
        return _typed_fields(value)
    if type(value) is list:
        return [_typed(v) for v in value]
    return value


def _typed_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Convert the transcoder's typed values in place; scalars (most fields) pass."""
    for key, value in data.items():
        if type(value) is dict or type(value) is list:
            data[key] = _typed(value)
    return data


@dataclass(slots=True)
class EventRecord:
    """One stored event with its envelope, position and decoded data."""

    position: int
    participant_id: UUID
    version: int
    type: str
    recorded_at: datetime
    effective_date: date
    recorded_by: str
    recorded_role: str
    organisation: str
    data: dict[str, Any]
    sealed: str | None = None
    sealed_fields: tuple[str, ...] = field(default=())
    sealed_changes: tuple[str, ...] = field(default=())
    #: After an upcast that renamed identifying fields: current name -> stored name.
    sealed_names: dict[str, str] | None = None
    #: The aggregate whose stream this is (``Participant``, ``Course``): read models
    #: follow one kind of stream. ``participant_id`` is then the stream's id.
    aggregate: str = "Participant"

    def opened(self, data_key: bytes | None) -> dict[str, Any]:
        """The identifying fields in clear; ``None`` for each when the key is gone."""
        if self.sealed is None:
            return {}
        names = [*self.sealed_fields, *(f"changes.{c}" for c in self.sealed_changes)]
        if data_key is None:
            return dict.fromkeys(names)
        try:
            plain = open_event(data_key, self.participant_id, self.version, self.sealed)
        except SealBrokenError:
            msg = f"sealed fields of event {self.version} of a participant do not belong to it"
            raise ValueError(msg) from None
        secret = _typed_fields(orjson.loads(plain))
        fields = secret["fields"]
        if self.sealed_names is not None:
            fields = {name: fields.get(stored) for name, stored in self.sealed_names.items()}
        opened = dict(fields)
        opened.update({f"changes.{k}": v for k, v in secret["changes"].items()})
        return opened


class _Sealed:
    """Stands in for an identifying field while an upcaster runs on the read side.

    The read side opens sealed fields only when a projection asks (see
    ``EventRecord.opened``), so an upcaster here sees this marker where the
    value would be: it may rename, drop or add identifying fields, never compute
    from their values (the write side, which opens first, could; README: changing
    an event).
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


def _upcast(
    cls: type[Any],
    raw: dict[str, Any],
    stored_version: int,
    originator_id: UUID,
    version: int,
    sealed_fields: tuple[str, ...],
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Upcast the clear state in place; returns the sealed fields' current names."""
    for name in sealed_fields:
        raw[name] = _Sealed(name)
    raw["originator_id"] = originator_id
    raw["originator_version"] = version
    upcast(cls, raw, stored_version)
    del raw["originator_id"], raw["originator_version"]
    names = {k: v.name for k, v in raw.items() if isinstance(v, _Sealed)}
    for name in names:
        del raw[name]
    return tuple(names), names


def decode(
    position: int, originator_id: UUID, version: int, topic: str, state: bytes
) -> EventRecord:
    raw = orjson.loads(state)
    sealed = raw.pop(SEALED, None)
    sealed_fields = tuple(raw.pop(SEALED_FIELDS, ()))
    sealed_changes = tuple(raw.pop(SEALED_CHANGES, ()))
    stored_version = raw.pop(CLASS_VERSION, 1)
    sealed_names = None
    cls = event_class(topic)
    if needs_upcast(cls, stored_version):
        # The upcaster sees what the library's mapper would give it: typed values.
        _typed_fields(raw)
        sealed_fields, sealed_names = _upcast(
            cls, raw, stored_version, originator_id, version, sealed_fields
        )
    timestamp = _typed(raw.pop("timestamp"))
    raw.pop("originator_topic", None)
    effective = _typed(raw.pop("effective_date"))
    recorded_by = raw.pop("recorded_by")
    recorded_role = raw.pop("recorded_role")
    organisation = raw.pop("organisation")
    raw.pop("request_id", None)
    return EventRecord(
        position=position,
        participant_id=originator_id,
        version=version,
        type=topic.rpartition(".")[2],
        recorded_at=timestamp,
        effective_date=effective,
        recorded_by=recorded_by,
        recorded_role=recorded_role,
        organisation=organisation,
        data=_typed_fields(raw),
        sealed=sealed,
        sealed_fields=sealed_fields,
        sealed_changes=sealed_changes,
        sealed_names=sealed_names,
        aggregate=aggregate_of(topic),
    )


def aggregate_of(topic: str) -> str:
    """``domain.course:Course.SessionHeld`` -> ``Course``."""
    return topic.partition(":")[2].partition(".")[0]
