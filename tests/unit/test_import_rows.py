"""Import parsing without a database: cells to requests, encodings, formulas, limits."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from lotse.api.import_files import (
    Formula,
    ImportFile,
    ImportFileError,
    ImportFileTooLargeError,
    excel_serial_date,
)
from lotse.api.import_report import report_xlsx, template_csv, template_xlsx
from lotse.api.import_rows import (
    RowRefusedError,
    fingerprint,
    milestone_headers,
    milestone_request,
    participant_headers,
    participant_request,
)
from lotse.api.importer import Outcome
from tests.builders.imports import csv_bytes, milestone_rows, participant_row

ENTRY = {"Referenz": "R", "Art": "ModuleEntered", "Förderbaustein": "F1"}


@pytest.mark.parametrize(
    "cell",
    [
        "31.12.2021",
        "2021-12-31",
        44561,
        44561.0,
        "44561",
        datetime(2021, 12, 31),
        date(2021, 12, 31),
    ],
)
def test_dates_german_iso_and_excel_serial(cell: object) -> None:
    body = milestone_request({**ENTRY, "Datum": cell})
    assert body.effective_date == date(2021, 12, 31)


def test_excel_serial_dates_count_from_1899_12_30() -> None:
    assert excel_serial_date(1) == date(1899, 12, 31)
    assert excel_serial_date(44197) == date(2021, 1, 1)


def test_choices_by_german_label_or_code_and_flags_in_words() -> None:
    body = participant_request(
        participant_row("R", Geschlecht="Weiblich", Staatsangehörigkeit="SY"), "caritas-ahlen"
    )
    assert (body.gender.value, body.nationality) == ("female", "SY")
    row = milestone_rows("R")[0]
    assert milestone_request(row).eligible is True
    assert milestone_request({**row, "förderberechtigt": "nein"}).eligible is False
    assert milestone_request({**row, "förderberechtigt": True}).eligible is True


def refusal(row: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(RowRefusedError) as refused:
        milestone_request(row)
    return [(r.column, r.message) for r in refused.value.refusals]


def test_a_formula_is_refused_naming_its_column_never_evaluated() -> None:
    for cell in (Formula("=1+1"), '=HYPERLINK("x")'):
        [(column, message)] = refusal({**ENTRY, "Datum": "01.03.2021", "Förderbaustein": cell})
        assert column == "Förderbaustein"
        assert "Formel" in message


def test_control_characters_are_refused_by_the_api_rule() -> None:
    [(column, message)] = refusal({**ENTRY, "Datum": "01.03.2021", "Förderbaustein": "F\x001"})
    assert column == "Förderbaustein"
    assert "Steuerzeichen" in message


def test_a_cell_of_another_type_s_column_and_a_missing_value_are_named() -> None:
    found = refusal({**ENTRY, "Datum": "01.03.2021", "Dauer in Minuten": 30})
    assert found == [("Dauer in Minuten", "Diese Spalte gehört nicht zu dieser Art von Eintrag.")]
    assert refusal({**ENTRY, "Datum": None}) == [("Datum", "Bitte ausfüllen.")]
    assert refusal({**ENTRY, "Datum": "32.01.2021"})[0][0] == "Datum"
    assert refusal({"Referenz": "R", "Art": "EntryVoided", "Datum": "01.03.2021"})[0][0] == "Art"


def test_a_participant_row_is_refused_by_the_registration_schema() -> None:
    with pytest.raises(RowRefusedError) as refused:
        participant_request(participant_row("R", Geburtsdatum="", Geschlecht="x"), "caritas-ahlen")
    assert {r.column for r in refused.value.refusals} == {"Geburtsdatum", "Geschlecht"}


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8", ";"), ("utf-8-sig", ";"), ("cp1252", ";"), ("utf-8", ","), ("cp1252", ",")],
)
def test_csv_in_the_encodings_and_separators_spreadsheets_write(
    tmp_path: Path, encoding: str, delimiter: str
) -> None:
    path = tmp_path / "t.csv"
    row = participant_row("Ä-1", Vorname="Zoë", Familienname="Weiß, Müller")
    path.write_bytes(
        csv_bytes(participant_headers(), [row], encoding=encoding, delimiter=delimiter)
    )
    with ImportFile(path, limit=10**6) as file:
        [(number, cells)] = list(file.participants.rows())
    assert number == 2
    assert (cells["Referenz"], cells["Vorname"], cells["Familienname"]) == (
        "Ä-1",
        "Zoë",
        "Weiß, Müller",
    )
    assert fingerprint(cells) == fingerprint({k: v for k, v in row.items()})


def test_not_a_spreadsheet_and_too_large_are_refused_before_reading(tmp_path: Path) -> None:
    binary = tmp_path / "bild.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ImportFileError):
        ImportFile(binary, limit=10**6)
    zip_but_not_xlsx = tmp_path / "x.xlsx"
    zip_but_not_xlsx.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ImportFileError):
        ImportFile(zip_but_not_xlsx, limit=10**6)
    big = tmp_path / "gross.xlsx"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: nothing to read, only its size
    with pytest.raises(ImportFileTooLargeError):
        ImportFile(big, limit=20 * 1024 * 1024)


def test_report_cells_that_look_like_formulas_stay_text() -> None:
    lines = iter([("Teilnehmende", 2, "=1+1", "abgelehnt", "-x", "@SUM(A1)")])
    book = openpyxl.load_workbook(io.BytesIO(report_xlsx(lines, Outcome(), False)))
    [cells] = list(book["Zeilen"].iter_rows(min_row=2))
    for cell in (cells[2], cells[4], cells[5]):
        assert cell.data_type == "s"
        assert cell.quotePrefix
    assert cells[2].value == "=1+1"


def test_the_template_rows_validate_and_its_headers_are_unique(tmp_path: Path) -> None:
    assert len(set(milestone_headers())) == len(milestone_headers())
    path = tmp_path / "vorlage.xlsx"
    path.write_bytes(template_xlsx())
    with ImportFile(path, limit=10**6) as file:
        assert file.milestones is not None
        people = [participant_request(r, "caritas-ahlen") for _n, r in file.participants.rows()]
        steps = [milestone_request(r) for _n, r in file.milestones.rows()]
    assert [p.provider for p in people] == ["caritas-ahlen"]
    assert [s.type for s in steps] == ["EligibilityAssessed", "ConsentGiven", "ModuleEntered"]
    assert template_csv("Teilnehmende").startswith("\ufeffReferenz;Programm".encode())
