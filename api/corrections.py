"""A correction's new values, parsed as the corrected entry's own fields.

Which entry is corrected, and whether the caller may see it, the application
decides (``Journeys.entry_to_correct``); here each changed value passes the same
request schema, with the same rules and messages, as when the entry was recorded.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from lotse.api.problems import safe_message
from lotse.api.schemas import MILESTONE_MODELS, ParticipantCreate
from lotse.domain.errors import InvalidInputError
from lotse.domain.participant import known_field_names


def plain(value: Any) -> Any:
    """Enum members become their values, so events hold plain JSON types."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def coerce_changes(entry_type: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate corrected values exactly as the fields of an entry of ``entry_type``."""
    model: type[BaseModel] = (
        ParticipantCreate
        if entry_type == "Registered"
        else MILESTONE_MODELS.get(entry_type, ParticipantCreate)
    )
    coerced: dict[str, Any] = {}
    for name, value in changes.items():
        field = model.model_fields.get(name)
        if field is None or name == "type":
            # An unknown key is submitted data: named only when it is a catalogue field.
            if name in known_field_names():
                msg = f"{name} is not a correctable field of {entry_type}"
                raise InvalidInputError(msg, field=f"changes.{name}")
            msg = f"changes names a field that {entry_type} does not have"
            raise InvalidInputError(msg, field="changes")
        annotation: Any = field.annotation
        if field.metadata:
            annotation = Annotated[(annotation, *field.metadata)]  # type: ignore[valid-type]
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        try:
            coerced[name] = plain(adapter.validate_python(value))
        except ValidationError as e:
            message = safe_message(e.errors()[0])
            raise InvalidInputError(f"changes.{name}: {message}", field=f"changes.{name}") from None
    return coerced
