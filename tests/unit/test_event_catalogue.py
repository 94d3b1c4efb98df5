"""The event catalogue checks itself: every event type has all it needs.

For every persisted participant event class: the command that records it, the
request schema the API accepts for it, the classification of its fields, its
summary in the timeline and its German label. Adding an event type makes these
tests fail until each part exists, instead of failing at run time.
"""

from __future__ import annotations

import inspect

import pytest

from lotse.api.routes.courses import COURSE_MODELS
from lotse.api.routes.users import USER_MODELS
from lotse.api.schemas import (
    DUPLICATE_MODELS,
    MILESTONE_MODELS,
    REFERRAL_MODELS,
    ErasureCreate,
    ParticipantCreate,
)
from lotse.domain import catalogue, labels
from lotse.domain.classification import CLASSIFICATION, event_classes
from lotse.domain.participant import Participant
from lotse.projections.timeline import SUMMARIES

EVENT_TYPES = sorted(event_classes())
#: A participant's events appear in the participant's timeline; a course's do not.
PARTICIPANT_EVENT_TYPES = sorted(
    name for name, cls in event_classes().items() if issubclass(cls, Participant.Event)
)
SCHEMAS = {
    **MILESTONE_MODELS,
    **COURSE_MODELS,
    **REFERRAL_MODELS,
    **USER_MODELS,
    **DUPLICATE_MODELS,
    "Registered": ParticipantCreate,
    "PersonalDataErased": ErasureCreate,
}
#: Request fields that are not arguments of the command: the envelope and dispatch.
NOT_ARGUMENTS = {"type", "effective_date"}


def event_class(name: str) -> type:
    return event_classes()[name]


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_every_event_type_has_its_command(name: str) -> None:
    cls = event_class(name)

    assert (
        cls in catalogue.BY_EVENT
        or cls in catalogue.OWN_COMMANDS
        or cls in catalogue.COURSE_COMMANDS
        or cls in catalogue.USER_COMMANDS
    )


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_every_event_type_has_its_request_schema(name: str) -> None:
    assert name in SCHEMAS


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_every_event_type_has_its_fields_classified(name: str) -> None:
    assert name in CLASSIFICATION


@pytest.mark.parametrize("name", PARTICIPANT_EVENT_TYPES)
def test_every_event_type_has_its_timeline_summary(name: str) -> None:
    assert name in SUMMARIES


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_every_event_type_has_its_german_label(name: str) -> None:
    assert name in labels.EVENT_TYPES


def test_the_api_accepts_exactly_the_catalogued_milestones() -> None:
    assert set(MILESTONE_MODELS) == set(catalogue.milestone_names())


@pytest.mark.parametrize("milestone", catalogue.MILESTONES, ids=lambda m: m.name)
def test_each_milestone_schema_field_is_an_argument_of_its_command(
    milestone: catalogue.Milestone,
) -> None:
    accepted = set(inspect.signature(milestone.command).parameters)
    fields = set(MILESTONE_MODELS[milestone.name].model_fields) - NOT_ARGUMENTS

    assert fields - accepted == set()


def test_an_unknown_milestone_name_is_the_callers_error() -> None:
    from lotse.domain.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as e:
        catalogue.milestone_named("Teleported")

    assert (e.value.field, e.value.rule) == ("type", "unknown-milestone")
