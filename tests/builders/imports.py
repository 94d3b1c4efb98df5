"""Import files as providers write them: XLSX with both sheets, or CSV per sheet.

Rows are dicts by German header (as in the template); cells missing from a row are
left empty. ``participant_row`` and ``milestone_rows`` give a valid participant with
eligibility, consent and module F1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import openpyxl

from lotse.api.import_rows import milestone_headers, participant_headers


def participant_row(reference: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "Referenz": reference,
        "Programm": "durchstarten",
        "Träger": "caritas-ahlen",
        "Aufnahmedatum": "01.03.2021",
        "Vorname": "Jürgen",
        "Familienname": "Weiß-Öztürk",
        "Geburtsdatum": "17.05.2001",
        "Geschlecht": "männlich",
        "Staatsangehörigkeit": "Syrien",
        "Aufenthaltsstatus": "duldung",
    }
    row.update(overrides)
    return row


def milestone_rows(reference: str, *, contacts: int = 0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "Referenz": reference,
            "Art": "Förderberechtigung geprüft",
            "Datum": "02.03.2021",
            "förderberechtigt": "ja",
            "Zielgruppe": "duldung",
        },
        {
            "Referenz": reference,
            "Art": "Einwilligung erteilt",
            "Datum": "2021-03-02",
            "Fassung der Einwilligung": "2020-01",
        },
        {
            "Referenz": reference,
            "Art": "ModuleEntered",
            "Datum": "03.03.2021",
            "Förderbaustein": "F1",
        },
    ]
    for n in range(contacts):
        rows.append(
            {
                "Referenz": reference,
                "Art": "CoachingContactLogged",
                "Datum": f"{4 + n % 24:02d}.03.2021",
                "Dauer in Minuten": 30 + n,
                "Art des Kontakts": "in_person",
            }
        )
    return rows


def _ordered(headers: list[str], rows: Iterable[Mapping[str, Any]]) -> Iterable[list[Any]]:
    for row in rows:
        yield [row.get(h) for h in headers]


def write_xlsx(
    path: Path,
    participants: Iterable[Mapping[str, Any]],
    milestones: Iterable[Mapping[str, Any]] = (),
) -> Path:
    book = openpyxl.Workbook(write_only=True)
    for name, headers, rows in (
        ("Teilnehmende", participant_headers(), participants),
        ("Meilensteine", milestone_headers(), milestones),
    ):
        sheet = book.create_sheet(name)
        sheet.append(headers)
        for values in _ordered(headers, rows):
            sheet.append(values)
    book.save(path)
    return path


def xlsx_bytes(
    participants: Iterable[Mapping[str, Any]], milestones: Iterable[Mapping[str, Any]] = ()
) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(buffer, participants, milestones)  # type: ignore[arg-type]
    return buffer.getvalue()


def csv_bytes(
    headers: list[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ";",
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([["" if v is None else v for v in r] for r in _ordered(headers, rows)])
    return out.getvalue().encode(encoding)


def write_csv(
    folder: Path,
    participants: Iterable[Mapping[str, Any]],
    milestones: Iterable[Mapping[str, Any]] = (),
    **options: Any,
) -> tuple[Path, Path]:
    first, second = folder / "teilnehmende.csv", folder / "meilensteine.csv"
    first.write_bytes(csv_bytes(participant_headers(), participants, **options))
    second.write_bytes(csv_bytes(milestone_headers(), milestones, **options))
    return first, second


def report_rows(report: bytes) -> list[dict[str, Any]]:
    """The lines of an import report (sheet "Zeilen") as dicts by header."""
    book = openpyxl.load_workbook(io.BytesIO(report), read_only=True)
    rows = list(book["Zeilen"].iter_rows(values_only=True))
    headers = [str(h) for h in rows[0]]
    return [dict(zip(headers, r, strict=True)) for r in rows[1:]]
