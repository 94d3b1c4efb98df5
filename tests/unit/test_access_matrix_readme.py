"""The README shows the access matrix the end-to-end test checks, not an older copy."""

from __future__ import annotations

from pathlib import Path

from tests.access_matrix import MATRIX, OBJECTS_DOC, ROLES, markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_prints_the_access_matrix_as_tested() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- access-matrix:start -->\n") + len("<!-- access-matrix:start -->\n")
    end = text.index("\n<!-- access-matrix:end -->")

    assert text[start:end] == markdown(), "run: python -m tests.access_matrix"


def test_every_row_has_one_status_per_role_and_a_documented_object() -> None:
    for row in MATRIX:
        assert list(row.expected()) == list(ROLES)
        assert row.object in OBJECTS_DOC, row
