"""Forms built from the request schemas: a new event type gets its form without a template.

``form_fields(model)`` reads a pydantic request model of ``api.schemas`` (the same
one the JSON route validates) and returns one ``FormField`` per field: its German
label (``domain.labels.FIELDS``), the kind of input its type asks for (a choice
list for a vocabulary, a checkbox for a flag, a date, a number with its bounds,
one line or free text), whether it is required, and its default.
``form_values`` turns a posted form back into the values the model validates,
and ``field_errors`` says in German, next to each field, what the validation
refused. The model stays the one source of the rules; the page only translates.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from lotse.api import schemas
from lotse.domain.labels import (
    country_choices,
    field_label,
    input_error_label,
    label,
    value_label,
)

#: Fields a form never shows: the type is the form itself.
NOT_SHOWN = frozenset({"type"})
_GERMAN_DATE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*$")


def _countries() -> tuple[Choice, ...]:
    return tuple(Choice(code, name) for code, name in country_choices())


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    #: The input: ``text``, ``textarea``, ``date``, ``number``, ``checkbox`` or ``select``.
    kind: str
    required: bool
    default: str | None = None
    choices: tuple[Choice, ...] = ()
    minimum: str | None = None
    maximum: str | None = None
    step: str | None = None
    max_length: int | None = None
    hint: str | None = None
    #: The Python type the posted text becomes (int, Decimal, bool, str).
    python_type: type = str


#: Fields whose codes are a vocabulary of ``domain.labels`` but a plain string in the
#: schema (a nationality is any ISO code): a choice list of the German names, so a
#: person picks "Syrien" and never types or reads "SY".
VOCABULARY_CHOICES: dict[str, tuple[Choice, ...]] = {"nationality": _countries()}


class UnsupportedFieldError(TypeError):
    """A request field whose type no form input stands for: give it a page of its own."""


def _unwrap(annotation: Any) -> tuple[Any, list[Any], bool]:
    """(base type, metadata, optional) of an annotation such as ``Annotated[X, ...] | None``."""
    metadata: list[Any] = []
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            base, *extra = get_args(annotation)
            metadata.extend(extra)
            annotation = base
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(members) < len(get_args(annotation))
            if len(members) != 1:
                raise UnsupportedFieldError(str(annotation))
            annotation = members[0]
        else:
            return annotation, metadata, optional


def _is_free_text(metadata: Sequence[Any]) -> bool:
    validators = [getattr(m, "func", None) for m in metadata]
    return schemas._free_text in validators


_BOUNDS = ("ge", "gt", "le", "lt", "max_length", "decimal_places")


def _bounds(metadata: Sequence[Any]) -> dict[str, Any]:
    """Bounds of a field from its constraints, also those of a ``Field`` nested in a union."""
    found: dict[str, Any] = {}
    pending = list(metadata)
    while pending:
        constraint = pending.pop(0)
        if isinstance(constraint, FieldInfo):
            pending.extend(constraint.metadata)
            continue
        for name in _BOUNDS:
            value = getattr(constraint, name, None)
            if value is not None:
                found.setdefault(name, value)
    return found


def _default_text(info: FieldInfo) -> str | None:
    default = info.get_default(call_default_factory=True)
    if default is None or default is PydanticUndefined:
        return None
    if isinstance(default, bool):
        return "1" if default else ""
    if isinstance(default, Enum):
        return str(default.value)
    return str(default)


def form_field(
    name: str, info: FieldInfo, choices: Mapping[str, Sequence[Choice]] | None = None
) -> FormField:
    """The form input of one request field."""
    base, metadata, optional = _unwrap(info.annotation)
    metadata = [*metadata, *info.metadata]
    required = info.is_required() and not optional
    bounds = _bounds(metadata)
    common: dict[str, Any] = {
        "name": name,
        "label": field_label(name),
        "required": required,
        "default": _default_text(info),
    }
    given = (choices or {}).get(name) or VOCABULARY_CHOICES.get(name)
    if given is not None:
        return FormField(kind="select", choices=tuple(given), **common)
    if isinstance(base, type) and issubclass(base, StrEnum):
        options = tuple(Choice(str(m.value), label(m)) for m in base)
        return FormField(kind="select", choices=options, **common)
    if get_origin(base) is Literal:
        options = tuple(Choice(str(v), value_label(str(v))) for v in get_args(base))
        return FormField(kind="select", choices=options, **common)
    if base is bool:
        return FormField(kind="checkbox", python_type=bool, **{**common, "required": False})
    if base is date:
        return FormField(kind="date", hint="TT.MM.JJJJ", **common)
    if base in (int, Decimal, float):
        places = bounds.get("decimal_places")
        step = (
            "1" if base is int else ("0.01" if places is None else str(Decimal(1).scaleb(-places)))
        )
        low = bounds.get("ge", bounds.get("gt"))
        high = bounds.get("le", bounds.get("lt"))
        return FormField(
            kind="number",
            python_type=int if base is int else Decimal,
            minimum=None if low is None else str(low),
            maximum=None if high is None else str(high),
            step=step,
            **common,
        )
    if base is UUID:
        return FormField(kind="text", max_length=36, **common)  # pass choices for a list
    if base is str:
        kind = "textarea" if _is_free_text(metadata) else "text"
        return FormField(kind=kind, max_length=bounds.get("max_length"), **common)
    raise UnsupportedFieldError(f"{name}: {base!r}")


def form_fields(
    model: type[BaseModel],
    *,
    choices: Mapping[str, Sequence[Choice]] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> tuple[FormField, ...]:
    """The form of a request model: one input per field, in the model's order."""
    return tuple(
        form_field(name, info, choices)
        for name, info in model.model_fields.items()
        if name not in NOT_SHOWN | exclude
    )


def _number(text: str, kind: type) -> Any:
    cleaned = text.replace(" ", "").replace(",", ".")
    try:
        return int(cleaned) if kind is int else Decimal(cleaned)
    except (ValueError, InvalidOperation):
        return text  # the model refuses it, naming the field


def _date(text: str) -> str:
    german = _GERMAN_DATE.match(text)
    if german:
        day, month, year = german.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text.strip()


def form_values(fields: Sequence[FormField], form: Mapping[str, Any]) -> dict[str, Any]:
    """The posted form as the model's input: empty fields left out, types converted."""
    values: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f.name)
        text = raw if isinstance(raw, str) else ""
        if f.kind == "checkbox":
            values[f.name] = text in ("1", "on", "true")
        elif not text.strip():
            continue
        elif f.kind == "number":
            values[f.name] = _number(text, f.python_type)
        elif f.kind == "date":
            values[f.name] = _date(text)
        elif f.kind in ("text", "select"):
            values[f.name] = text.strip()
        else:
            values[f.name] = text.replace("\r\n", "\n")
    return values


def submitted(fields: Sequence[FormField], form: Mapping[str, Any]) -> dict[str, str]:
    """What was typed, to show again in the form (escaped by the template)."""
    shown: dict[str, str] = {}
    for f in fields:
        raw = form.get(f.name)
        shown[f.name] = raw if isinstance(raw, str) else ""
    return shown


def field_errors(error: ValidationError, known: Callable[[str], bool]) -> dict[str, str]:
    """German messages by field name; one for the form as a whole under ``""``."""
    errors: dict[str, str] = {}
    for e in error.errors():
        loc = [str(p) for p in e.get("loc", ()) if not isinstance(p, int)]
        name = next((p for p in loc if known(p)), "")
        errors.setdefault(name, input_error_label(str(e.get("type", ""))))
    return errors


def validate(
    model: type[BaseModel], fields: Sequence[FormField], form: Mapping[str, Any], **fixed: Any
) -> tuple[BaseModel | None, dict[str, str]]:
    """The validated request, or the German errors by field."""
    names = {f.name for f in fields}
    try:
        return model.model_validate({**form_values(fields, form), **fixed}), {}
    except ValidationError as e:
        return None, field_errors(e, lambda n: n in names)
