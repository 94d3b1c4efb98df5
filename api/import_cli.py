"""``lotse import FILE [MILESTONES.csv] --provider P [--dry-run]`` and ``lotse import template``.

Runs the same import as ``POST /imports`` (``api.import_service``), in this process,
as a case worker of the provider (``lotse-import``): the access policy then allows
exactly what that provider's own people may do. A progress bar goes to stderr, the
XLSX report to ``--report`` (default: next to the file, ``.bericht.xlsx``), and the
run is recorded, so ``GET /imports/{id}`` and its report show it too. Exit codes:
0 when every row was accepted, 1 when some were refused, 2 when the file cannot be
read (or is too large: ``LOTSE_MAX_IMPORT_BYTES``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lotse.api.import_files import MILESTONES_SHEET, PARTICIPANTS_SHEET
from lotse.api.import_report import template_csv, template_xlsx
from lotse.api.importer import Outcome
from lotse.api.progress import Progress
from lotse.api.settings import load_settings
from lotse.domain.access import Principal, Role

IMPORT_USER = "lotse-import"


def add_import_parser(sub: Any) -> None:
    p = sub.add_parser(
        "import",
        help="import participants and milestones from a spreadsheet (or: import template)",
        description="lotse import FILE [MILESTONES.csv] --provider P [--dry-run]; "
        "lotse import template [--format xlsx|csv] [--out DIR]",
    )
    p.add_argument("files", nargs="+", help="XLSX, or the participants' CSV [and milestones' CSV]")
    p.add_argument("--provider", help="the provider the rows are imported for")
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    p.add_argument("--report", type=Path, help="where to write the XLSX report")
    p.add_argument("--format", choices=("xlsx", "csv"), default="xlsx", help="of the template")
    p.add_argument("--out", type=Path, default=Path(), help="folder for the template")


def _template(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    if args.format == "xlsx":
        written = [args.out / "lotse-import-vorlage.xlsx"]
        written[0].write_bytes(template_xlsx())
    else:
        written = []
        for sheet in (PARTICIPANTS_SHEET, MILESTONES_SHEET):
            path = args.out / f"lotse-import-{sheet.lower()}.csv"
            path.write_bytes(template_csv(sheet))
            written.append(path)
    for path in written:
        print(path)
    return 0


def run_import_command(args: argparse.Namespace) -> int:
    if args.files[0] == "template":
        return _template(args)
    if not args.provider:
        print("error: --provider is required", file=sys.stderr)
        return 2
    if len(args.files) > 2:
        print(
            "error: give one XLSX file, or a participants' CSV and a milestones' CSV",
            file=sys.stderr,
        )
        return 2
    paths = [Path(f) for f in args.files]
    for path in paths:
        if not path.is_file():
            print(f"error: {path} is not a file", file=sys.stderr)
            return 2
    from lotse.api.import_service import execute
    from lotse.api.runtime import build_runtime

    settings = load_settings()
    if settings.max_import_bytes < max(p.stat().st_size for p in paths):
        limit_mb = settings.max_import_bytes // (1024 * 1024)
        print(
            f"Fehler: Die Datei ist größer als {limit_mb} MB und wird nicht gelesen.",
            file=sys.stderr,
        )
        return 2
    runtime = build_runtime(settings, checkpointing=False)
    try:
        if runtime.configuration.municipality_of(args.provider) is None:
            print(f"error: {args.provider} is not a configured provider", file=sys.stderr)
            return 2
        assert runtime.imports is not None
        principal = Principal(IMPORT_USER, Role.CASEWORKER, args.provider)
        run_id = runtime.imports.start(
            args.provider, IMPORT_USER, principal.role.value, args.provider, dry_run=args.dry_run
        )
        bar: list[Progress] = []

        def progress(outcome: Outcome) -> None:
            if not bar and outcome.rows_total:
                bar.append(
                    Progress(outcome.rows_total, "Import" if not args.dry_run else "Probelauf")
                )
            if bar:
                bar[0].advance(outcome.rows_done - bar[0].done)

        finished = execute(
            runtime.journeys,
            runtime.imports,
            run_id,
            principal,
            args.provider,
            paths[0],
            paths[1] if len(paths) > 1 else None,
            dry_run=args.dry_run,
            limit=settings.max_import_bytes,
            on_progress=progress,
        )
        if bar:
            bar[0].close()
    finally:
        runtime.close()
    if finished.error is not None:
        print(f"Fehler: {finished.error.message_de}", file=sys.stderr)
        return 2
    assert finished.outcome is not None
    assert finished.report is not None
    report = args.report or paths[0].with_suffix(".bericht.xlsx")
    report.write_bytes(finished.report)
    o = finished.outcome
    verb = "würden geschrieben" if args.dry_run else "geschrieben"
    print(
        f"Import {run_id}{' (Probelauf)' if args.dry_run else ''}: {o.rows_total} Zeilen, "
        f"{o.written} {verb}, {o.skipped} übersprungen, {o.refused} abgelehnt; "
        f"{o.participants_written} Teilnehmende {verb}. Bericht: {report}"
    )
    return finished.exit_code
