"""Problem details name the field and the rule, never what was submitted."""

from __future__ import annotations

from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from lotse.api.problems import field_path, safe_message

KNOWN = {"changes", "given_name", "effective_date", "participant_id"}.__contains__


def first_error(model: type[BaseModel] | TypeAdapter[object], value: object) -> dict[str, object]:
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    with pytest.raises(ValidationError) as e:
        adapter.validate_python(value)
    return dict(e.value.errors()[0])


def test_uuid_errors_do_not_quote_the_submitted_characters() -> None:
    error = first_error(TypeAdapter(UUID), "Zyxcanary")

    message = safe_message(error)

    assert "found" in str(error["msg"])  # pydantic's own message quotes a character
    assert message == "Input should be a valid UUID"


def test_a_message_that_contains_the_input_is_replaced() -> None:
    error = {"type": "value_error", "msg": "Value error, Zyxcanary is bad", "input": "Zyxcanary"}

    assert safe_message(error) == "invalid value"


def test_unknown_keys_in_a_location_are_not_repeated() -> None:
    class Body(BaseModel):
        model_config = ConfigDict(extra="forbid")
        changes: dict[str, int]

    extra = first_error(Body, {"changes": {}, "Zyxcanary": 1})
    nested = first_error(Body, {"changes": {"Zyxcanary": "x"}})

    assert field_path(("body", *extra["loc"]), KNOWN) == "*"  # type: ignore[misc]
    assert field_path(("body", *nested["loc"]), KNOWN) == "changes.*"  # type: ignore[misc]


def test_known_fields_list_indexes_and_milestone_tags_stay_readable() -> None:
    assert field_path(("body", "InternshipStarted", "effective_date"), KNOWN) == "effective_date"
    assert field_path(("body", "changes", 2), KNOWN) == "changes.2"
    assert field_path(("path", "participant_id"), KNOWN) == "participant_id"
    assert field_path(("body",), KNOWN) == "body"
