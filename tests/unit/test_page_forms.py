"""The web forms come from the event catalogue and the request schemas, in German."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

from lotse.api.pages.forms import form_fields, form_values, validate
from lotse.api.pages.participant import ENTRY_PAGES, readable_names
from lotse.api.schemas import (
    MILESTONE_MODELS,
    ErasureCreate,
    Flag,
    Milestone,
    ParticipantCreate,
)
from lotse.domain.catalogue import MILESTONES
from lotse.domain.configuration import load_configuration
from lotse.domain.labels import FIELDS, OTHER_VALUES, label
from lotse.domain.vocabulary import ContactMode, ErasureMode

RECORDED_BY_FORM = [m.name for m in MILESTONES if m.name not in ENTRY_PAGES]


@pytest.mark.parametrize("milestone", RECORDED_BY_FORM)
def test_every_catalogue_milestone_yields_a_form_with_german_labels(milestone: str) -> None:
    fields = form_fields(MILESTONE_MODELS[milestone])

    assert fields[0].name == "effective_date"
    for f in fields:
        assert f.name in FIELDS, f"{milestone}.{f.name} has no German label"
        assert f.label == FIELDS[f.name]
        for choice in f.choices:
            assert choice.label  # a vocabulary value is shown by its label


@pytest.mark.parametrize("model", [*MILESTONE_MODELS.values(), ParticipantCreate])
def test_every_field_of_every_request_schema_has_a_german_label(model: type) -> None:
    missing = [name for name in model.model_fields if name != "type" and name not in FIELDS]

    assert missing == []


def test_a_new_milestone_type_gets_its_form_without_a_template() -> None:
    class VisitPlannedCreate(Milestone):
        type: Literal["VisitPlanned"]
        mode: ContactMode
        minutes: int = Field(ge=5, le=90)
        confirmed_by_participant: Flag = False

    fields = {f.name: f for f in form_fields(VisitPlannedCreate)}

    assert list(fields) == ["effective_date", "mode", "minutes", "confirmed_by_participant"]
    assert fields["effective_date"].kind == "date"
    assert fields["mode"].kind == "select"
    assert [c.label for c in fields["mode"].choices] == [label(m) for m in ContactMode]
    assert (fields["minutes"].kind, fields["minutes"].minimum, fields["minutes"].maximum) == (
        "number",
        "5",
        "90",
    )
    assert fields["confirmed_by_participant"].kind == "checkbox"


def test_posted_text_becomes_the_values_the_schema_validates() -> None:
    model = MILESTONE_MODELS["EmploymentStarted"]
    fields = form_fields(model)

    body, errors = validate(
        model,
        fields,
        {
            "effective_date": "05.03.2021",
            "employment_type": "svp",
            "hours_per_week": "19,5",
            "occupation": "  Koch  ",
        },
        type="EmploymentStarted",
    )

    assert errors == {}
    assert body is not None
    assert body.model_dump()["hours_per_week"] == pytest.approx(19.5)
    assert body.model_dump()["occupation"] == "Koch"


def test_refused_values_are_explained_in_german_by_field() -> None:
    model = MILESTONE_MODELS["FollowUpRecorded"]
    fields = form_fields(model)

    body, errors = validate(
        model,
        fields,
        {"effective_date": "2021-13-01", "months_after_exit": "99"},
        type="FollowUpRecorded",
    )

    assert body is None
    assert errors == {
        "effective_date": "Bitte ein gültiges Datum angeben (TT.MM.JJJJ).",
        "destination": "Bitte ausfüllen.",
        "months_after_exit": "Die Zahl ist zu groß.",
    }


def test_an_unchecked_box_is_false_and_empty_fields_are_left_out() -> None:
    fields = form_fields(MILESTONE_MODELS["ApprenticeshipCompleted"])

    assert form_values(fields, {"effective_date": ""}) == {"passed_exam": False}


def test_a_fixed_list_of_values_is_offered_by_its_german_labels() -> None:
    fields = {f.name: f for f in form_fields(ErasureCreate)}

    assert fields["reason"].kind == "select"
    assert all(c.label in OTHER_VALUES.values() for c in fields["reason"].choices)
    assert [c.label for c in fields["mode"].choices] == [label(m) for m in ErasureMode]


def test_timeline_texts_show_names_not_organisation_ids_and_modules_with_their_names() -> None:
    readable = readable_names(load_configuration())

    assert readable("aufgenommen beim Träger caritas-ahlen (durchstarten)") == (
        "aufgenommen beim Träger Caritasverband Ahlen (Durchstarten in Ausbildung und Arbeit)"
    )
    assert readable("Eintritt in F1") == "Eintritt in F1 - Coaching"
    assert readable("Eintritt in F41") == "Eintritt in F41"


def test_numbers_on_pages_are_written_the_german_way() -> None:
    from decimal import Decimal

    from lotse.api.pages.rendering import german_number

    assert german_number(Decimal("4.50")) == "4,5"
    assert german_number(Decimal("42")) == "42"
    assert german_number(1234.5) == "1.234,5"
    assert german_number(Decimal("-0.25")) == "-0,25"
    assert german_number(None) == ""
