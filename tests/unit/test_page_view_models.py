"""What the Kurse, Berichte, Prüfung and Datenschutz pages make of the services' answers:
pure functions, no I/O."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

from lotse.api.pages.audit import detail_text, differing, problem_text, value_text
from lotse.api.pages.courses import attendance_entries, display_name, entry_row, pseudonym
from lotse.api.pages.privacy import REASONS, access_rows, access_way
from lotse.api.pages.reports import cell_text, table_views
from lotse.domain.labels import OTHER_VALUES, VERIFICATION_PROBLEMS
from lotse.domain.vocabulary import ResidenceStatus

A = UUID("00000000-0000-4000-8000-00000000000a")
B = UUID("00000000-0000-4000-8000-00000000000b")
C = UUID("00000000-0000-4000-8000-00000000000c")
ROOT = Path(__file__).resolve().parents[2]


def test_every_listed_person_gets_a_mark_and_the_unticked_are_absent() -> None:
    entries = attendance_entries([A, B, C], present={A}, excused={B, A})

    assert entries == [(A, "present"), (B, "excused"), (C, "absent")]


def test_an_error_of_the_attendance_list_is_shown_at_its_row() -> None:
    assert entry_row("entries[2].participant_id") == 2
    assert entry_row("date") is None
    assert entry_row(None) is None


def test_a_name_the_caller_may_not_read_is_a_pseudonym() -> None:
    names = {A: ("Amina", "Haidari"), B: (None, None)}

    assert display_name(A, names) == "Haidari, Amina"
    assert display_name(B, names) == "(Daten gelöscht)"
    assert display_name(C, names) == pseudonym(C)
    assert "Amina" not in pseudonym(A)


def test_report_cells_are_printed_as_the_downloads_print_them() -> None:
    assert cell_text("37.50", hidden=False) == "37,50"
    assert cell_text(3, hidden=True) == "."
    assert cell_text(None, hidden=False) == "–"  # noqa: RUF001
    assert cell_text(12, hidden=False) == "12"


def test_a_table_view_keeps_the_german_headers_and_hides_suppressed_cells() -> None:
    document = {
        "tables": {
            "quartale": {
                "title": "Quartale",
                "columns": [{"key": "quarter", "label": "Quartal"}, {"key": "n", "label": "Zahl"}],
                "rows": [["2021-Q1", None], ["2021-Q2", 7]],
                "suppressed": [[0, 1]],
            }
        }
    }

    [view] = table_views(document)

    assert view["columns"] == ["Quartal", "Zahl"]
    assert view["rows"] == [["2021-Q1", "."], ["2021-Q2", "7"]]
    assert view["suppressed"] is True


def test_audit_values_are_shown_by_their_labels() -> None:
    assert value_text(ResidenceStatus.DULDUNG) == "Duldung (§ 60a AufenthG)"
    assert value_text("duldung") == "Duldung (§ 60a AufenthG)"
    assert value_text(True) == "ja"
    assert value_text(date(2021, 3, 5)) == "05.03.2021"
    assert value_text(datetime(2021, 3, 5, 11, 0, tzinfo=UTC)) == "05.03.2021, 12:00 Uhr"


def test_the_differing_facts_are_named() -> None:
    left = [("Status", "aktiv"), ("Offene Förderbausteine", "keine")]
    right = [("Status", "aktiv"), ("Offene Förderbausteine", "F4")]

    assert differing(left, right) == {"Offene Förderbausteine"}


def test_every_problem_the_verification_reports_has_a_german_text() -> None:
    source = (ROOT / "storage" / "verification.py").read_text()
    kinds = {
        node.args[1].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "Problem"
        and len(node.args) > 1
        and isinstance(node.args[1], ast.Constant)
    }

    assert len(kinds) > 5  # the scan finds them (a broken scan must not pass)
    assert sorted(kinds - set(VERIFICATION_PROBLEMS)) == []
    assert problem_text("chain-mismatch", 17).endswith("(Position 17)")


def test_every_erasure_reason_has_a_german_label() -> None:
    assert set(REASONS) <= set(OTHER_VALUES)


def test_the_access_log_is_shown_in_german() -> None:
    rows = access_rows(
        [
            {
                "at": datetime(2022, 1, 1, tzinfo=UTC),
                "user_id": "u1",
                "role": "caseworker",
                "organisation": "caritas-ahlen",
                "endpoint": "GET /participants/{participant_id}",
                "purpose": None,
                "outcome": 404,
            }
        ],
        {"caritas-ahlen": "Caritas Ahlen"},
    )

    assert rows[0]["role"] == "Fallbegleitung (Coach beim Träger)"
    assert rows[0]["organisation"] == "Caritas Ahlen"
    assert rows[0]["outcome"] == "abgewiesen"


def test_audit_details_name_organisations_and_event_types() -> None:
    names = {"caritas-ahlen": "Caritasverband Ahlen"}

    assert detail_text("provider", "caritas-ahlen", names) == "Caritasverband Ahlen"
    assert detail_text("corrected_type", "ModuleEntered", names) == (
        "Eintritt in einen Förderbaustein"
    )
    assert detail_text("module", "F4", names) == "F4"


def test_the_access_log_says_how_the_data_was_read_without_placeholders() -> None:
    assert access_way("GET /participants/{participant_id}/history") == "Schnittstelle: Verlauf"
    assert access_way("GET /kurse/{course_id}") == "Seite /kurse/…"
    assert access_way("lotse audit export (pseudonymised)") == "Kommandozeile: Prüfpaket"
