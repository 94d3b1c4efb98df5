"""Which characters and values a command accepts, without a database.

The domain is the last guard: the CLI and the demo call it without HTTP, so a NUL
must be refused there as well as in the request models.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from lotse.api.schemas import (
    MILESTONE_MODELS,
    ErasureCreate,
    ParticipantCreate,
)
from lotse.domain.configuration import PlausibleDates, Programme, load_configuration
from lotse.domain.envelope import Envelope
from lotse.domain.errors import ConfigurationError, InvalidInputError
from lotse.domain.text import check_event_text, refusal
from tests.builders.api import registration
from tests.builders.journeys import on, ready_for_modules, register

#: Refused in every string field.
ALWAYS_REFUSED = {
    "NUL": "\x00",
    "C0 escape": "\x1b",
    "DEL": "\x7f",
    "C1 control": "\x85",
    "C1 CSI": "\x9b",
    "lone surrogate": "\ud800",
    "noncharacter U+FFFE": "\ufffe",
    "noncharacter U+FFFF": "\uffff",
    "noncharacter U+FDD0": "\ufdd0",
}
#: Refused in one-line fields (names, codes, occupations), accepted in free text.
LINE_ONLY = {
    "tab": "\t",
    "newline": "\n",
    "carriage return": "\r",
    "right-to-left override": "\u202e",
    "isolate": "\u2066",
    "line separator": "\u2028",
    "byte order mark": "\ufeff",
}


# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize("char", ALWAYS_REFUSED.values(), ids=ALWAYS_REFUSED.keys())
def test_controls_surrogates_and_noncharacters_are_refused_in_every_kind_of_text(
    char: str,
) -> None:
    value = f"Ko{char}ch"

    assert refusal(value, free_text=False) is not None
    assert refusal(value, free_text=True) is not None


@pytest.mark.parametrize("char", LINE_ONLY.values(), ids=LINE_ONLY.keys())
def test_line_breaks_and_bidi_controls_are_free_text_only(char: str) -> None:
    value = f"erste Zeile{char}zweite"

    assert refusal(value, free_text=False) is not None
    assert refusal(value, free_text=True) is None


@pytest.mark.parametrize(
    "value",
    [
        "Amina Haidari",
        "Zoë Müller-Lüdenscheidt",
        "\u0645\u062d\u0645\u062f",  # Arabic script
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with ZWNJ
        "Ngũgĩ wa Thiong\u2019o",
        "\u200fRTL mark",
        "Fachkraft für Lagerlogistik (m/w/d)",
        "😀 Emoji",
    ],
)
def test_names_in_any_script_with_the_marks_scripts_need_are_accepted(value: str) -> None:
    assert refusal(value, free_text=False) is None


def test_the_refusal_never_repeats_the_value() -> None:
    value = "Zyxcanary\x00"

    reason = refusal(value, free_text=False)

    assert reason is not None
    assert "Zyxcanary" not in reason


# ---------------------------------------------------------- the domain guard


def test_domain_refuses_a_nul_in_an_occupation_without_http(programme: Programme) -> None:
    p = ready_for_modules(programme)
    version = p.version

    with pytest.raises(InvalidInputError) as e:
        p.start_apprenticeship(**on(10), occupation="Ko\x00ch")

    assert e.value.field == "occupation"
    assert e.value.rule == "invalid-characters"
    assert "Ko" not in e.value.message
    assert p.version == version
    assert p.apprenticeship_since is None


@pytest.mark.parametrize("field", ["given_name", "family_name"])
def test_domain_refuses_a_control_character_in_a_sealed_name(
    programme: Programme, field: str
) -> None:
    with pytest.raises(InvalidInputError) as e:
        register(programme, **{field: "Ami\x07na"})

    assert e.value.field == field


def test_domain_refuses_a_line_break_in_a_name_but_keeps_it_in_a_justification(
    programme: Programme,
) -> None:
    with pytest.raises(InvalidInputError):
        register(programme, family_name="Haidari\nEvil")
    p = register(programme)

    p.assess_eligibility(
        **on(1),
        programme=programme,
        eligible=True,
        target_group="duldung",
        justification="Gespräch am 2.3.:\n\t- Duldung liegt vor\r\n- Ausweis fehlt",
    )

    assert p.eligible is True


def test_domain_refuses_a_control_character_inside_a_correction(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(InvalidInputError) as e:
        p.correct_entry(
            **on(3),
            programme=programme,
            corrects_version=1,
            reason="typo",
            changes={"family_name": "Hai\x00dari"},
        )

    assert e.value.field == "changes.family_name"


def test_domain_refuses_a_control_character_in_the_envelope(programme: Programme) -> None:
    # A user id comes from a token made on the command line, not from a request body.
    envelope = Envelope("coach\x00-1", "caseworker", "caritas-ahlen", "req-1")

    with pytest.raises(InvalidInputError) as e:
        register(programme, envelope=envelope)

    assert e.value.field == "recorded_by"


def test_guard_walks_nested_values_and_keys_without_naming_unknown_keys() -> None:
    with pytest.raises(InvalidInputError) as nested:
        check_event_text("X", {"items": [{"note": "ok"}, {"note": "bad\x00"}]})
    with pytest.raises(InvalidInputError) as key:
        check_event_text("X", {"items": {"Zyx\x00canary": 1}})

    assert nested.value.field == "items.note"
    assert key.value.field == "items"
    assert "Zyx" not in key.value.message


def test_correction_with_an_unknown_key_does_not_repeat_it(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(InvalidInputError) as e:
        p.correct_entry(
            **on(3),
            programme=programme,
            corrects_version=1,
            reason="typo",
            changes={"Zyxcanary": "x"},
        )

    assert e.value.field == "changes"
    assert "Zyxcanary" not in e.value.message


def test_country_code_with_a_trailing_newline_is_refused(programme: Programme) -> None:
    with pytest.raises(InvalidInputError) as e:
        register(programme, nationality="AF\n")

    assert e.value.field == "nationality"


# ------------------------------------------------------------ plausible dates


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("intake_date", date(1, 1, 1)),
        ("intake_date", date(2019, 12, 31)),
        ("birth_date", date(1, 1, 1)),
        ("birth_date", date(1899, 12, 31)),
    ],
)
def test_registration_dates_outside_the_programmes_plausible_range_are_invalid(
    programme: Programme, field: str, value: date
) -> None:
    with pytest.raises(InvalidInputError) as e:
        register(programme, **{field: value}, age_exception_reason="Ausnahme")

    assert e.value.field == field
    assert e.value.rule == "date-implausible"


def test_a_correction_cannot_move_the_intake_to_year_one(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(InvalidInputError) as e:
        p.correct_entry(
            **on(3),
            programme=programme,
            corrects_version=1,
            reason="typo",
            changes={"intake_date": date(1, 1, 1)},
        )

    assert e.value.rule == "date-implausible"


def test_a_correction_cannot_move_a_milestone_to_year_one(programme: Programme) -> None:
    p = ready_for_modules(programme)

    with pytest.raises(InvalidInputError) as e:
        p.correct_entry(
            **on(3),
            programme=programme,
            corrects_version=2,
            reason="typo",
            changes={"effective_date": date(1, 1, 1)},
        )

    assert e.value.field == "changes.effective_date"
    assert e.value.rule == "date-implausible"


def test_residence_permit_valid_for_centuries_is_invalid(programme: Programme) -> None:
    p = register(programme)

    with pytest.raises(InvalidInputError) as e:
        p.change_residence_status(
            **on(5),
            programme=programme,
            status="ausbildungsduldung_60c",
            valid_until=date(9999, 1, 1),
        )
    p.change_residence_status(
        **on(5),
        programme=programme,
        status="ausbildungsduldung_60c",
        valid_until=date(2024, 3, 1),
    )

    assert e.value.field == "valid_until"
    assert e.value.rule == "date-implausible"
    assert p.residence_valid_until == date(2024, 3, 1)


def test_plausible_range_comes_from_the_programme_file(programme: Programme) -> None:
    later = dataclasses.replace(
        programme, plausible_dates=PlausibleDates(earliest_intake_date=date(2021, 6, 1))
    )

    with pytest.raises(InvalidInputError) as e:
        register(later, intake_date=date(2021, 3, 1))

    assert programme.earliest_intake_date == date(2020, 1, 1)
    assert e.value.field == "intake_date"


def test_configuration_refuses_an_implausible_range(tmp_path: Path) -> None:
    source = Path(load_configuration().directory)
    target = tmp_path / "config"
    (target / "programmes").mkdir(parents=True)
    (target / "organisations.toml").write_text((source / "organisations.toml").read_text())
    text = (source / "programmes" / "durchstarten.toml").read_text()
    text = text.replace("earliest_birth_date = 1900-01-01", "earliest_birth_date = 0001-01-01")
    text = text.replace("max_validity_years = 10", "max_validity_years = 0")
    (target / "programmes" / "durchstarten.toml").write_text(text)

    with pytest.raises(ConfigurationError) as e:
        load_configuration(target)

    problems = "\n".join(e.value.problems)
    assert "plausible_dates.earliest_birth_date" in problems
    assert "plausible_dates.max_validity_years" in problems


# ------------------------------------------------------------ request models


def _milestone(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "effective_date": "2021-04-01", **fields}


@pytest.mark.parametrize("minutes", [True, "10", 10.0, "ten"])
def test_minutes_must_be_a_json_integer(minutes: Any) -> None:
    body = _milestone("CoachingContactLogged", minutes=minutes, mode="in_person")

    with pytest.raises(ValidationError) as e:
        MILESTONE_MODELS["CoachingContactLogged"].model_validate(body)

    assert e.value.errors()[0]["loc"] == ("minutes",)


@pytest.mark.parametrize(
    ("kind", "field", "value", "extra"),
    [
        ("CoachingContactLogged", "confirmed_by_participant", 1, {"minutes": 5, "mode": "phone"}),
        (
            "CoachingContactLogged",
            "confirmed_by_participant",
            "true",
            {"minutes": 5, "mode": "phone"},
        ),
        ("CourseAttendanceRecorded", "lesson_hours", "2.5", {"module": "F4"}),
        ("CourseAttendanceRecorded", "lesson_hours", True, {"module": "F4"}),
        ("FollowUpRecorded", "months_after_exit", "6", {"destination": "apprenticeship"}),
        ("ResidenceStatusChanged", "valid_until", 20240301, {"status": "duldung"}),
        ("ResidenceStatusChanged", "valid_until", "2024-03-01T00:00:00", {"status": "duldung"}),
    ],
)
def test_numbers_booleans_and_dates_are_not_coerced(
    kind: str, field: str, value: Any, extra: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError) as e:
        MILESTONE_MODELS[kind].model_validate(_milestone(kind, **{field: value, **extra}))

    assert e.value.errors()[0]["loc"] == (field,)


def test_numbers_and_iso_dates_are_still_accepted() -> None:
    attendance = MILESTONE_MODELS["CourseAttendanceRecorded"].model_validate(
        _milestone("CourseAttendanceRecorded", module="F4", lesson_hours=2.5)
    )
    contact = MILESTONE_MODELS["CoachingContactLogged"].model_validate(
        _milestone("CoachingContactLogged", minutes=10, mode="phone", confirmed_by_participant=True)
    )

    assert attendance.lesson_hours == Decimal("2.5")  # type: ignore[attr-defined]
    assert attendance.effective_date == date(2021, 4, 1)
    assert contact.minutes == 10  # type: ignore[attr-defined]


def test_request_models_refuse_a_nul_in_every_string_field() -> None:
    body = registration(age_exception_reason="x")
    for field in ("programme", "provider", "given_name", "family_name", "age_exception_reason"):
        with pytest.raises(ValidationError) as e:
            ParticipantCreate.model_validate({**body, field: "A\x00b"})
        assert e.value.errors()[0]["loc"] == (field,)
        assert e.value.errors()[0]["type"] == "invalid_characters"


def _unguarded_strings(schema: Any, path: str, found: list[str]) -> None:
    """Paths of ``str`` schemas not wrapped in an after-validator (the character rule)."""
    if isinstance(schema, list):
        for item in schema:
            _unguarded_strings(item, path, found)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind == "str":
        found.append(path)
        return
    if kind == "function-after" and schema.get("schema", {}).get("type") == "str":
        return
    if kind == "literal":
        return
    for key, value in schema.items():
        if key == "fields" and isinstance(value, dict):
            for name, field in value.items():
                _unguarded_strings(field, f"{path}.{name}", found)
        elif key != "serialization":
            _unguarded_strings(value, path, found)


def test_every_request_string_field_has_the_character_rule() -> None:
    # A field typed plain ``str`` would let control characters through: the rule
    # lives in the types (Line, FreeText, Name, Code, CountryCode) of api/schemas.py.
    models = [ParticipantCreate, ErasureCreate, *MILESTONE_MODELS.values()]
    unguarded: list[str] = []
    for model in models:
        _unguarded_strings(model.__pydantic_core_schema__, model.__name__, unguarded)

    # ``changes`` keys and values are checked per corrected field (and by the domain).
    assert unguarded == ["EntryCorrectedCreate.changes"]
