"""CSV and XLSX renderings of a published report document.

German conventions, because the tables go into German reports: semicolon-separated
CSV with decimal commas (UTF-8 with BOM, so spreadsheet programs read the umlauts),
and suppressed cells shown as "." (the official statistics' sign for "secret").
The XLSX has one sheet per table with German headers and a sheet "Herkunft" with
the run's provenance (position, definition and configuration version).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

SUPPRESSED = "."
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROVENANCE_SHEET = "Herkunft"


def _is_decimal_text(value: Any) -> bool:
    if not isinstance(value, str) or not value or value.count(".") != 1:
        return False
    whole, _, fraction = value.lstrip("-").partition(".")
    return whole.isdigit() and fraction.isdigit()


def _cells(table: dict[str, Any]) -> list[list[Any]]:
    hidden = {(r, c) for r, c in table["suppressed"]}
    return [
        [SUPPRESSED if (r, c) in hidden else v for c, v in enumerate(row)]
        for r, row in enumerate(table["rows"])
    ]


def to_csv(document: dict[str, Any], table_name: str) -> bytes:
    table = document["tables"][table_name]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([c["label"] for c in table["columns"]])
    for row in _cells(table):
        writer.writerow(
            [
                ""
                if v is None
                else (v.replace(".", ",") if _is_decimal_text(v) and v != SUPPRESSED else v)
                for v in row
            ]
        )
    return ("\ufeff" + out.getvalue()).encode()


def chain_text(chain: dict[str, Any] | None) -> str:
    """The chain's verification as one line of the provenance sheet."""
    if chain is None or chain["verified"] is None:
        reason = chain.get("skipped") if chain else None
        return f"nicht geprüft ({reason})" if reason else "nicht geprüft"
    start = (
        f" ab signiertem Prüfpunkt {chain['from_checkpoint']}"
        if chain.get("from_checkpoint")
        else " ab dem ersten Ereignis"
    )
    if chain["verified"]:
        return f"bestätigt bis Position {chain['verified_to']}{start} ({chain['checked_at']})"
    problem = chain["problem"]
    return (
        f"NICHT bestätigt: {problem['kind']} an Position {problem['position']}; "
        f"bestätigt bis Position {chain['verified_to']}{start} ({chain['checked_at']})"
    )


def provenance_rows(document: dict[str, Any]) -> list[tuple[str, Any]]:
    run = document["run"]
    p = run["parameters"]
    return [
        ("Bericht", run["kind"]),
        ("Lauf-ID", run["id"]),
        ("Programm", p["programme"]),
        ("Zeitraum", f"{p['period']} ({p['start']} bis {p['end']})"),
        ("Kommune", run["scope"]["municipality"] or "alle"),
        ("Träger", run["scope"]["provider"] or "alle"),
        ("Position im Ereignisprotokoll", run["position"]),
        ("Berechnet aus", "Lesemodellen" if run["source"] == "read_models" else "Replay"),
        ("Berichtsdefinition", run["definition_version"]),
        ("Programmkonfiguration", run["config_version"]),
        ("SHA-256 der Programmdatei", run["config_sha256"]),
        ("Erstellt am (UTC)", run["created_at"]),
        ("Erstellt von", f"{run['created_by']} ({run['created_role']})"),
        ("Hash-Kette geprüft", chain_text(run.get("chain_verified_to"))),
        (
            "Geheimhaltung",
            f"Werte unter {run['threshold']} und Rückrechnungen gesperrt ('.')"
            if run["suppressed"]
            else "keine (ungesperrte Werte)",
        ),
    ]


def to_xlsx(document: dict[str, Any]) -> bytes:
    from decimal import Decimal

    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    default = workbook.active
    if default is not None:
        workbook.remove(default)
    bold = Font(bold=True)
    for name, table in document["tables"].items():
        sheet = workbook.create_sheet(title=name[:31])
        sheet.append([c["label"] for c in table["columns"]])
        for cell in sheet[1]:
            cell.font = bold
        for row in _cells(table):
            sheet.append([Decimal(v) if _is_decimal_text(v) else v for v in row])
        sheet.freeze_panes = "A2"
        for i, column in enumerate(table["columns"], start=1):
            letter = sheet.cell(row=1, column=i).column_letter
            sheet.column_dimensions[letter].width = max(10, min(40, len(column["label"]) + 2))
    sheet = workbook.create_sheet(title=PROVENANCE_SHEET)
    sheet.append(["Angabe", "Wert"])
    for cell in sheet[1]:
        cell.font = bold
    for label, value in provenance_rows(document):
        sheet.append([label, value])
    sheet.column_dimensions["A"].width = 32
    sheet.column_dimensions["B"].width = 70
    # The run's time, not now: the same run renders to the same workbook.
    created = datetime.fromisoformat(document["run"]["created_at"]).replace(tzinfo=None)
    workbook.properties.created = created
    workbook.properties.modified = created
    workbook.properties.creator = "Lotse"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
