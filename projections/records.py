"""Stored events as the read side sees them: decoded fast, decrypted where needed.

Projections run over millions of events, so this path avoids the domain event
objects: rows are decoded with orjson into plain dicts, typed values (dates,
decimals) are converted once, and sealed identifying fields are opened only when
a projection asks for them (the names, for search).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.mapper import SEALED, SEALED_CHANGES, SEALED_FIELDS, associated_data

ENVELOPE = ("effective_date", "recorded_by", "recorded_role", "organisation", "request_id")
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

    def opened(self, data_key: bytes | None) -> dict[str, Any]:
        """The identifying fields in clear; ``None`` for each when the key is gone."""
        if self.sealed is None:
            return {}
        names = [*self.sealed_fields, *(f"changes.{c}" for c in self.sealed_changes)]
        if data_key is None:
            return dict.fromkeys(names)
        blob = base64.b64decode(self.sealed)
        try:
            plain = AESGCM(data_key).decrypt(
                blob[:12], blob[12:], associated_data(self.participant_id, self.version)
            )
        except InvalidTag:
            msg = f"sealed fields of event {self.version} of a participant do not belong to it"
            raise ValueError(msg) from None
        secret = _typed_fields(orjson.loads(plain))
        opened = dict(secret["fields"])
        opened.update({f"changes.{k}": v for k, v in secret["changes"].items()})
        return opened


def decode(
    position: int, originator_id: UUID, version: int, topic: str, state: bytes
) -> EventRecord:
    raw = orjson.loads(state)
    sealed = raw.pop(SEALED, None)
    sealed_fields = tuple(raw.pop(SEALED_FIELDS, ()))
    sealed_changes = tuple(raw.pop(SEALED_CHANGES, ()))
    timestamp = datetime.fromisoformat(raw.pop("timestamp")["_data_"])
    raw.pop("originator_topic", None)
    raw.pop("class_version", None)
    effective = date.fromisoformat(raw.pop("effective_date")["_data_"])
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
    )
