"""The import's spreadsheets: the template to fill in and the report of a run (XLSX, CSV).

Both are written with openpyxl's ``write_only`` mode, row by row. Every text cell is
written as text: one that starts with ``=``, ``+``, ``-`` or ``@`` gets Excel's
quote prefix, so a spreadsheet program shows it and never runs it as a formula
(CSV injection). The report holds no cell values of the file, only sheet, row,
reference, result, column and the German reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from lotse.api.import_files import MILESTONES_SHEET, PARTICIPANTS_SHEET
from lotse.api.import_rows import milestone_headers, participant_headers
from lotse.api.importer import Outcome

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
REPORT_HEADERS = ["Blatt", "Zeile", "Referenz", "Ergebnis", "Spalte", "Grund"]
#: One example row per sheet (header -> value), written in the template under the headers.
TEMPLATE_EXAMPLE: dict[str, list[dict[str, str]]] = {
    PARTICIPANTS_SHEET: [
        {
            "Referenz": "A-2021-001",
            "Programm": "durchstarten",
            "Träger": "caritas-ahlen",
            "Aufnahmedatum": "01.03.2021",
            "Vorname": "Amina",
            "Familienname": "Haidari",
            "Geburtsdatum": "17.05.2001",
            "Geschlecht": "weiblich",
            "Staatsangehörigkeit": "Afghanistan",
            "Aufenthaltsstatus": "Duldung (§ 60a AufenthG)",
            "Aufenthaltsstatus gültig bis": "30.06.2021",
        }
    ],
    MILESTONES_SHEET: [
        {
            "Referenz": "A-2021-001",
            "Art": "Förderberechtigung geprüft",
            "Datum": "02.03.2021",
            "förderberechtigt": "ja",
            "Zielgruppe": "duldung",
        },
        {
            "Referenz": "A-2021-001",
            "Art": "ConsentGiven",
            "Datum": "02.03.2021",
            "Fassung der Einwilligung": "2020-01",
        },
        {
            "Referenz": "A-2021-001",
            "Art": "Eintritt in einen Förderbaustein",
            "Datum": "03.03.2021",
            "Förderbaustein": "F1",
        },
    ],
}


def _example(sheet: str, headers: list[str]) -> list[list[str]]:
    return [[row.get(h, "") for h in headers] for row in TEMPLATE_EXAMPLE[sheet]]


def _cell(sheet: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        # A reference from a CSV file may hold control characters XLSX cannot store.
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # text, never a formula, whatever it starts with
        if value.startswith(_FORMULA_START):
            cell.quotePrefix = True
    return cell


def _xlsx(sheets: Iterable[tuple[str, list[str], Iterable[Iterable[Any]]]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    for name, headers, rows in sheets:
        sheet = book.create_sheet(name)
        sheet.append([_cell(sheet, h) for h in headers])
        for row in rows:
            sheet.append([_cell(sheet, v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_xlsx() -> bytes:
    """The template: both sheets with their German headers and one example row each."""
    return _xlsx(
        [
            (
                PARTICIPANTS_SHEET,
                participant_headers(),
                _example(PARTICIPANTS_SHEET, participant_headers()),
            ),
            (
                MILESTONES_SHEET,
                milestone_headers(),
                _example(MILESTONES_SHEET, milestone_headers()),
            ),
        ]
    )


def template_csv(sheet: str) -> bytes:
    """One sheet of the template as Excel writes CSV in Germany: ``;``, UTF-8 with BOM."""
    headers = participant_headers() if sheet == PARTICIPANTS_SHEET else milestone_headers()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(_example(sheet, headers))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def report_xlsx(
    lines: Iterator[tuple[str, int, str, str, str, str]], outcome: Outcome, dry_run: bool
) -> bytes:
    summary: list[list[Any]] = [
        ["Probelauf (nichts geschrieben)" if dry_run else "Import", ""],
        ["Zeilen insgesamt", outcome.rows_total],
        [
            "Zeilen geschrieben" if not dry_run else "Zeilen, die geschrieben würden",
            outcome.written,
        ],
        ["Zeilen übersprungen (bereits importiert)", outcome.skipped],
        ["Zeilen abgelehnt", outcome.refused],
        [
            "Teilnehmende geschrieben" if not dry_run else "Teilnehmende, die geschrieben würden",
            outcome.participants_written,
        ],
    ]
    return _xlsx([("Übersicht", ["Angabe", "Wert"], summary), ("Zeilen", REPORT_HEADERS, lines)])
