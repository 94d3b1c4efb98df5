"""The import template's columns and the validation of one row, by the API's own schemas.

The columns are derived from the request schemas (``api.schemas``): the participants'
sheet from ``ParticipantCreate``, the milestones' sheet from the milestone models
of ``IMPORTED`` (one column per field, headed by its German label from
``domain.labels.FIELDS``, as the web forms are). A row is turned into the values the
model validates by ``api.pages.forms`` (German dates, decimal commas, choice labels
or codes), and the model decides, so no rule is written twice. Cells are first made
text: an Excel date or serial number in a date column becomes a date, ``ja``/``nein``
a flag, and a formula or a text starting with ``=`` is refused, never evaluated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from lotse.api.import_files import Cell, Formula, excel_serial_date
from lotse.api.pages.forms import FormField, form_fields, form_values
from lotse.api.schemas import MILESTONE_MODELS, ParticipantCreate
from lotse.domain.labels import EVENT_TYPES, field_label, input_error_label

REFERENCE = "Referenz"
TYPE = "Art"
#: Milestones a provider's list can hold. Corrections, voids and due-list dismissals
#: refer to entries recorded in Lotse, transfers and re-entries to its later life:
#: they are recorded through the API, not imported.
IMPORTED: tuple[str, ...] = (
    "EligibilityAssessed",
    "ConsentGiven",
    "ConsentWithdrawn",
    "LanguageLevelAssessed",
    "ModuleEntered",
    "ModuleExited",
    "CoachingContactLogged",
    "CourseAttendanceRecorded",
    "LanguageCourseStarted",
    "LanguageCourseCompleted",
    "CertificateObtained",
    "InternshipStarted",
    "InternshipEnded",
    "EntryQualificationStarted",
    "EntryQualificationEnded",
    "ApprenticeshipStarted",
    "ApprenticeshipAborted",
    "ApprenticeshipCompleted",
    "EmploymentStarted",
    "EmploymentEnded",
    "ResidenceStatusChanged",
    "Exited",
    "FollowUpRecorded",
)
_TRUE = {"1", "x", "ja", "j", "wahr", "true"}
_FALSE = {"0", "nein", "n", "falsch", "false"}

PARTICIPANT_FIELDS: tuple[FormField, ...] = form_fields(ParticipantCreate)
MILESTONE_FIELDS: dict[str, tuple[FormField, ...]] = {
    name: form_fields(MILESTONE_MODELS[name], exclude=frozenset({"effective_date"}))
    for name in IMPORTED
}
#: The German type label (or the code itself) -> the milestone's code.
_TYPE_BY_TEXT: dict[str, str] = {
    **{EVENT_TYPES.get(n, n).casefold(): n for n in IMPORTED},
    **{n.casefold(): n for n in IMPORTED},
}


def participant_headers() -> list[str]:
    return [REFERENCE, *(f.label for f in PARTICIPANT_FIELDS)]


def milestone_headers() -> list[str]:
    seen: dict[str, None] = {}
    for fields in MILESTONE_FIELDS.values():
        for f in fields:
            seen.setdefault(f.label)
    return [REFERENCE, TYPE, field_label("effective_date"), *seen]


@dataclass(frozen=True)
class Refusal:
    """Why a row was refused: the column (its header) and a German message."""

    column: str
    message: str


class RowRefusedError(Exception):
    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__("; ".join(f"{r.column}: {r.message}" for r in refusals))
        self.refusals = refusals


def fingerprint(values: Mapping[str, Cell]) -> str:
    """A row's identity for re-runs: its cells as text, whatever the file's format."""
    canonical = json.dumps(
        {k: _text(v) for k, v in sorted(values.items()) if k and _text(v)},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Formula):
        return value.text
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return str(Decimal(repr(value)))
    return str(value).strip()


def _date_text(value: Cell) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return excel_serial_date(value).isoformat()
    text = _text(value)
    if text.isdigit() and 1 <= len(text) <= 6:  # an Excel serial number saved as text
        return excel_serial_date(int(text)).isoformat()
    return text


def _choice(f: FormField, text: str) -> str:
    """A choice given by its code or by its German label (as a person would type it)."""
    folded = text.casefold()
    for choice in f.choices:
        if folded in (choice.value.casefold(), choice.label.casefold()):
            return choice.value
    return text


def model_input(
    fields: tuple[FormField, ...], row: Mapping[str, Cell], ignore: frozenset[str]
) -> dict[str, Any]:
    """The row as the request model's input; refuses formulas and cells of other columns."""
    refusals: list[Refusal] = []
    by_label = {f.label: f for f in fields}
    texts: dict[str, str] = {}
    flags: dict[str, Any] = {}
    for header, value in row.items():
        if isinstance(value, Formula) or (isinstance(value, str) and value.startswith("=")):
            refusals.append(
                Refusal(header, "Formeln werden nicht übernommen: bitte den Wert eintragen.")
            )
            continue
        if header in ignore or value is None or not _text(value):
            continue
        f = by_label.get(header)
        if f is None:
            refusals.append(Refusal(header, "Diese Spalte gehört nicht zu dieser Art von Eintrag."))
            continue
        if f.kind == "checkbox":
            if isinstance(value, bool):
                flags[f.name] = value
            else:
                folded = _text(value).casefold()
                flags[f.name] = True if folded in _TRUE else False if folded in _FALSE else folded
        elif f.kind == "date":
            texts[f.name] = _date_text(value)
        elif f.kind == "select":
            texts[f.name] = _choice(f, _text(value))
        elif isinstance(value, str):
            texts[f.name] = value  # not stripped of control characters: the model judges
        else:
            texts[f.name] = _text(value).replace(".", ",") if f.kind == "number" else _text(value)
    if refusals:
        raise RowRefusedError(refusals)
    return {**form_values([f for f in fields if f.kind != "checkbox"], texts), **flags}


def validated(model: type[BaseModel], fields: tuple[FormField, ...], data: dict[str, Any]) -> Any:
    """The request model, or the refusal naming each column in German."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        labels = {f.name: f.label for f in fields}
        refusals = []
        for error in e.errors():
            names = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
            name = next((n for n in names if n in labels), names[0] if names else "")
            refusals.append(
                Refusal(labels.get(name, field_label(name)), input_error_label(str(error["type"])))
            )
        raise RowRefusedError(refusals) from None


def participant_request(row: Mapping[str, Cell], provider: str) -> ParticipantCreate:
    """A participant row as the request ``POST /participants`` validates."""
    data = model_input(PARTICIPANT_FIELDS, row, frozenset({REFERENCE}))
    data.setdefault("provider", provider)
    return validated(ParticipantCreate, PARTICIPANT_FIELDS, data)  # type: ignore[no-any-return]


def milestone_request(row: Mapping[str, Cell]) -> Any:
    """A milestone row as the request ``POST /participants/{id}/milestones`` validates."""
    text = _text(row.get(TYPE))
    name = _TYPE_BY_TEXT.get(text.casefold())
    if name is None:
        message = "Bitte ausfüllen." if not text else "Diese Art von Eintrag wird nicht importiert."
        raise RowRefusedError([Refusal(TYPE, message)])
    fields = MILESTONE_FIELDS[name]
    date_label = field_label("effective_date")
    data = model_input(fields, row, frozenset({REFERENCE, TYPE, date_label}))
    day = row.get(date_label)
    if isinstance(day, Formula):
        raise RowRefusedError([Refusal(date_label, "Formeln werden nicht übernommen.")])
    if day is not None and _text(day):
        data["effective_date"] = form_values(
            [FormField("effective_date", date_label, "date", True)],
            {"effective_date": _date_text(day)},
        )["effective_date"]
    data["type"] = name
    all_fields = (*fields, FormField("effective_date", date_label, "date", True))
    return validated(MILESTONE_MODELS[name], all_fields, data)


def reference_of(row: Mapping[str, Cell]) -> str:
    value = row.get(REFERENCE)
    if isinstance(value, Formula):
        return ""
    return _text(value)
