"""Reading a posted form and saying what is wrong with it, in German, next to the field.

Small helpers for the pages that post their own forms (Kurse, Berichte, Prüfung,
Datenschutz): the text of a field, a German decimal ("4,5") as the request
schema reads it, the form's Idempotency-Key, and the German message of each
field the request schema or the domain refused. Messages come from the one
vocabulary (``domain.labels``) and never repeat what was typed.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from lotse.api.pages.forms import field_errors
from lotse.api.problems import status_for
from lotse.domain.errors import AccessDeniedError, DomainError, VersionConflictError
from lotse.domain.labels import rule_label

#: Longest text a page's form field is read to (the schemas limit each field further).
FIELD_LIMIT = 2000
#: An Idempotency-Key as the JSON API accepts it.
KEY_LIMIT = 255


def form_text(form: Any, name: str, limit: int = FIELD_LIMIT) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def decimal_text(value: str) -> str:
    """A number as people in Germany type it ("4,5"), as the schemas read it ("4.5")."""
    return value.replace(" ", "").replace(",", ".")


def idempotency_key(value: str) -> str | None:
    """The form's key (a hidden field filled when the form was shown): a resubmitted
    form is the same request, and is recorded once."""
    return value[:KEY_LIMIT] if value else None


def validation_messages(error: ValidationError) -> dict[str, str]:
    """The German message per top-level field the request schema refused
    (``forms.field_errors``, for forms whose fields are the schema's own names)."""
    return field_errors(error, lambda _name: True)


def domain_error_message(error: DomainError) -> str:
    """The German text of a refusal of the domain, without the submitted value."""
    return rule_label(error.rule) or rule_label("invalid-input") or "Die Eingabe ist ungültig."


def shown_next_to_field(error: DomainError) -> bool:
    """Whether a form shows the refusal next to its field (422 and 409), or whether it
    is a page of its own (403, 404, a stale page, an outage): the page router's."""
    if isinstance(error, AccessDeniedError | VersionConflictError):
        return False
    return status_for(error) in (400, 409, 422)
