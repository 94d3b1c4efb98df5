"""Reading the providers' spreadsheets: XLSX streamed, CSV in the encodings Excel writes.

Rows are yielded one at a time as (row number, header -> cell) so that memory stays
flat in the file's size: XLSX through openpyxl's ``read_only`` mode, CSV line by
line. Cells come back as text, a ``datetime``/``date``, a number or a ``Formula``
marker: a formula is never evaluated (openpyxl reads it without ``data_only``, so
no cached result stands in for it) and the importer refuses it.

CSV: UTF-8 with or without BOM, else Windows-1252 (what Excel writes as "CSV"
on German systems); separated by semicolons (Excel's German default) or commas,
decided from the header line. A CSV file holds one sheet; the milestones come in
a second file (``lotse import TEILNEHMENDE.csv MEILENSTEINE.csv``, or the multipart
field ``milestones``).
"""

from __future__ import annotations

import codecs
import csv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

#: The default largest import file (bytes); ``LOTSE_MAX_IMPORT_BYTES`` overrides it.
DEFAULT_MAX_IMPORT_BYTES = 20 * 1024 * 1024
PARTICIPANTS_SHEET = "Teilnehmende"
MILESTONES_SHEET = "Meilensteine"
_EXCEL_EPOCH = date(1899, 12, 30)
_XLSX_MAGIC = b"PK\x03\x04"
_SAMPLE = 64 * 1024


class ImportFileError(Exception):
    """The file cannot be read as an import file (exit code 2, HTTP 422/413)."""

    def __init__(self, message_de: str, *, rule: str = "import-file-unreadable") -> None:
        super().__init__(message_de)
        self.message_de = message_de
        self.rule = rule


class ImportFileTooLargeError(ImportFileError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Die Datei ist größer als {limit // (1024 * 1024)} MB und wird nicht gelesen.",
            rule="import-file-too-large",
        )


@dataclass(frozen=True)
class Formula:
    """A cell that holds a formula: kept as its text, never evaluated."""

    text: str


Cell = str | int | float | date | datetime | bool | Formula | None


def check_size(path: Path, limit: int) -> None:
    """Refuse a file above ``limit`` bytes from its size alone, before reading any of it."""
    if path.stat().st_size > limit:
        raise ImportFileTooLargeError(limit)


def excel_serial_date(number: float) -> date:
    """Excel's serial day number (1900 date system, as Excel on Windows writes it)."""
    return _EXCEL_EPOCH + timedelta(days=int(number))


def _is_xlsx(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == _XLSX_MAGIC


def _encoding(path: Path) -> str:
    """``utf-8-sig`` when the whole file decodes as UTF-8, else Windows-1252."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            if b"\x00" in chunk:
                msg = "Die Datei ist keine Tabelle (CSV oder XLSX): sie enthält Binärdaten."
                raise ImportFileError(msg)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "cp1252"
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (";", ",", "\t")}
    return max(counts, key=lambda d: counts[d])


class Sheet:
    """One table of an import file: its headers and its rows, streamed."""

    def __init__(self, name: str, headers: list[str], rows: Iterator[tuple[int, list[Cell]]]):
        self.name = name
        self.headers = headers
        self._rows = rows

    def rows(self) -> Iterator[tuple[int, dict[str, Cell]]]:
        """(row number as the spreadsheet program shows it, header -> cell); empty rows skipped."""
        for number, cells in self._rows:
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
                continue
            yield number, dict(zip(self.headers, cells, strict=False))


def _header(cells: list[Any]) -> list[str]:
    return [str(c).strip() if c is not None else "" for c in cells]


def _csv_sheet(path: Path, name: str) -> tuple[Sheet, IO[str]]:
    encoding = _encoding(path)
    text = path.open(encoding=encoding, newline="")
    first = text.readline()
    if not first.strip():
        text.close()
        msg = f"Die Datei {path.name} hat keine Kopfzeile."
        raise ImportFileError(msg)
    delimiter = _delimiter(first)
    headers = _header(next(csv.reader([first], delimiter=delimiter)))
    reader = csv.reader(text, delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        try:
            for index, cells in enumerate(reader, start=2):
                yield index, [c if c != "" else None for c in cells]
        except csv.Error:
            msg = f"Die Datei {path.name} ist keine lesbare CSV-Datei."
            raise ImportFileError(msg) from None

    return Sheet(name, headers, rows()), text


class ImportFile:
    """An opened import file: the participants' sheet and, if given, the milestones'."""

    def __init__(self, participants: Path, milestones: Path | None = None, *, limit: int):
        self._closing: list[Any] = []
        for path in (participants, milestones):
            if path is not None:
                check_size(path, limit)
        try:
            if _is_xlsx(participants):
                self.participants, self.milestones = self._open_xlsx(participants)
                if milestones is not None:
                    msg = "Eine XLSX-Datei enthält beide Blätter: bitte nur sie angeben."
                    raise ImportFileError(msg)
            else:
                self.participants = self._open_csv(participants, PARTICIPANTS_SHEET)
                self.milestones = (
                    self._open_csv(milestones, MILESTONES_SHEET) if milestones else None
                )
        except BaseException:
            self.close()
            raise

    def _open_csv(self, path: Path, name: str) -> Sheet:
        if _is_xlsx(path):
            msg = "CSV und XLSX lassen sich nicht mischen: bitte eine XLSX-Datei allein angeben."
            raise ImportFileError(msg)
        sheet, handle = _csv_sheet(path, name)
        self._closing.append(handle)
        return sheet

    def _open_xlsx(self, path: Path) -> tuple[Sheet, Sheet | None]:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        # A file object, not the path: openpyxl judges a path by its extension, and an
        # upload is stored under a name of its own.
        handle = path.open("rb")
        self._closing.append(handle)
        try:
            # read_only streams the sheet; without data_only a formula stays a formula.
            book = openpyxl.load_workbook(handle, read_only=True, data_only=False)
        except (
            zipfile.BadZipFile,
            InvalidFileException,
            KeyError,
            OSError,
            ValueError,
            TypeError,
        ) as e:
            msg = "Die Datei ist keine lesbare XLSX-Datei."
            raise ImportFileError(msg) from e
        self._closing.insert(0, book)
        names = {n.strip().casefold(): n for n in book.sheetnames}
        found = names.get(PARTICIPANTS_SHEET.casefold())
        if found is None:
            msg = f"Das Blatt „{PARTICIPANTS_SHEET}“ fehlt (siehe Vorlage)."
            raise ImportFileError(msg)
        other = names.get(MILESTONES_SHEET.casefold())
        return (
            self._xlsx_sheet(book[found], PARTICIPANTS_SHEET),
            self._xlsx_sheet(book[other], MILESTONES_SHEET) if other else None,
        )

    @staticmethod
    def _xlsx_sheet(worksheet: Any, name: str) -> Sheet:
        rows = worksheet.iter_rows()
        try:
            first = next(rows)
        except StopIteration:
            return Sheet(name, [], iter(()))
        headers = _header([c.value for c in first])

        def cells() -> Iterator[tuple[int, list[Cell]]]:
            for index, row in enumerate(rows, start=2):
                values: list[Cell] = []
                for c in row:
                    value = c.value
                    if getattr(c, "data_type", None) == "f" or (
                        isinstance(value, str) and value.startswith("=")
                    ):
                        values.append(Formula(str(value)))
                    else:
                        values.append(value)
                yield index, values

        return Sheet(name, headers, cells())

    def close(self) -> None:
        for handle in self._closing:
            handle.close()
        self._closing.clear()

    def __enter__(self) -> ImportFile:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def copy_limited(source: IO[bytes], target: IO[bytes], limit: int) -> int:
    """Copy an upload to a file in chunks; refuse as soon as it exceeds ``limit``."""
    size = 0
    while chunk := source.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            raise ImportFileTooLargeError(limit)
        target.write(chunk)
    return size


__all__ = [
    "DEFAULT_MAX_IMPORT_BYTES",
    "MILESTONES_SHEET",
    "PARTICIPANTS_SHEET",
    "Cell",
    "Formula",
    "ImportFile",
    "ImportFileError",
    "ImportFileTooLargeError",
    "Sheet",
    "check_size",
    "copy_limited",
    "excel_serial_date",
]
