"""Every code a person reads has its German label in ``domain.labels``.

The checks are generated from the code itself (the event classes, the vocabulary
enums, the rule codes raised anywhere), so a new event type, value or rule without
its German text fails here rather than showing a raw code on a page.
"""

from __future__ import annotations

import ast
import inspect
from enum import StrEnum
from pathlib import Path

import pytest

from lotse.api.problems import problem
from lotse.domain import labels, vocabulary
from lotse.domain.access import Role
from lotse.domain.classification import event_classes
from lotse.domain.course import AttendanceStatus, CourseStatus, CourseType, ReasonCode

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("domain", "storage", "projections", "reports", "api")


def event_types() -> list[str]:
    return sorted(event_classes())


def vocabularies() -> list[type[StrEnum]]:
    found = [
        cls
        for cls in vars(vocabulary).values()
        if inspect.isclass(cls) and issubclass(cls, StrEnum) and cls is not StrEnum
    ]
    # The course's own codes (type, status, attendance, reasons) are shown on the pages too.
    return [*found, Role, AttendanceStatus, CourseStatus, CourseType, ReasonCode]


def rule_codes() -> set[str]:
    """Rule codes in the source: ``rule="..."`` arguments and ``rule = "..."`` attributes."""
    codes: set[str] = set()
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.keyword) and node.arg == "rule":
                    value = node.value
                elif isinstance(node, ast.Assign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    if not any(isinstance(t, ast.Name) and t.id == "rule" for t in targets):
                        continue
                    value = node.value  # type: ignore[assignment]
                else:
                    continue
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    codes.add(value.value)
    return codes


@pytest.mark.parametrize("event_type", event_types())
def test_every_event_type_has_a_german_label(event_type: str) -> None:
    assert event_type in labels.EVENT_TYPES


def test_labels_name_no_event_type_that_does_not_exist() -> None:
    assert set(labels.EVENT_TYPES) == set(event_types())


@pytest.mark.parametrize("enum", vocabularies(), ids=lambda e: e.__name__)
def test_every_vocabulary_value_has_a_german_label(enum: type[StrEnum]) -> None:
    missing = [value.value for value in enum if value not in labels.VOCABULARY.get(enum, {})]

    assert missing == []
    assert all(labels.label(value) != value.value or value.value.isupper() for value in enum)


def test_every_rule_code_raised_anywhere_has_a_german_label() -> None:
    codes = rule_codes()

    assert len(codes) > 20  # the scan finds the rules (a broken scan must not pass)
    assert sorted(codes - set(labels.RULES)) == []


def test_a_problem_carries_german_title_and_detail_beside_the_english_ones() -> None:
    response = problem(409, "module F4 is already open", rule="module-already-open", field="module")

    body = response.body.decode()
    assert '"title":"Rule violated"' in body
    assert '"title_de":"Regel verletzt"' in body
    assert '"detail_de":"Dieser Förderbaustein ist bereits offen. (Feld: module)"' in body


def test_a_problem_without_a_known_rule_gets_the_status_in_german() -> None:
    response = problem(401, "a bearer token is required")

    assert '"detail_de":"Anmeldung erforderlich."' in response.body.decode()
