"""Bulk import from the providers' spreadsheets: template, upload, progress, report.

``POST /imports`` takes the file as multipart (``file``: XLSX with both sheets, or
the participants' CSV; ``milestones``: the milestones' CSV), stores it in a
temporary file (read in chunks, refused with 413 above ``LOTSE_MAX_IMPORT_BYTES``)
and runs the import in a background thread (``api.import_service``): the answer is
202 with the run's id at once, and ``GET /imports/{id}`` tells its progress. A run
and its report belong to the importing provider: anyone else gets 404.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from lotse.api.deps import CurrentUser, RuntimeDep, allowed
from lotse.api.import_files import (
    MILESTONES_SHEET,
    PARTICIPANTS_SHEET,
    ImportFileError,
    copy_limited,
)
from lotse.api.import_report import XLSX_MEDIA_TYPE, template_csv, template_xlsx
from lotse.api.import_service import execute, preflight
from lotse.api.problems import problem, problem_responses
from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, check_may_import, may_read_import, may_write
from lotse.storage.imports import ImportRun, Imports

router = APIRouter(prefix="/imports", tags=["imports"])

PROBLEMS = problem_responses(
    {
        401: "Missing or invalid token",
        403: "The role may not import, or not for this provider",
        404: "No such import, or not the caller's provider's",
        409: "The import is not finished: its report comes when it is done",
        413: "The file is larger than LOTSE_MAX_IMPORT_BYTES",
        422: "The file is not a spreadsheet in the template's format",
    }
)
SHEETS = {"teilnehmende": PARTICIPANTS_SHEET, "meilensteine": MILESTONES_SHEET}


class ImportPublic(BaseModel):
    id: UUID
    provider: str
    dry_run: bool
    state: Literal["queued", "reading", "writing", "done", "failed"] = Field(
        description="failed: the file could not be read (error says why); nothing was written"
    )
    rows_total: int = Field(description="Rows of both sheets; known once the file is read")
    rows_done: int
    written: int = Field(description="Rows written (in a dry run: that would be written)")
    skipped: int = Field(description="Rows imported before, unchanged: not written again")
    refused: int = Field(description="Rows refused; the report names row, column and reason")
    participants_written: int
    error: str | None = Field(description="Why the file could not be read (German)")
    created_at: datetime
    finished_at: datetime | None
    report: str | None = Field(description="Where the XLSX report is, once done")


def _public(run: ImportRun) -> ImportPublic:
    return ImportPublic(
        id=run.id,
        provider=run.provider,
        dry_run=run.dry_run,
        state=run.state,  # type: ignore[arg-type]
        rows_total=run.rows_total,
        rows_done=run.rows_done,
        written=run.written,
        skipped=run.skipped,
        refused=run.refused,
        participants_written=run.participants_written,
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
        report=f"/imports/{run.id}/report" if run.state == "done" else None,
    )


def _imports(runtime: Runtime) -> Imports:
    assert runtime.imports is not None
    return runtime.imports


@router.get(
    "/template",
    responses={
        **problem_responses({422: "Unknown format or sheet"}),
        200: {
            "content": {XLSX_MEDIA_TYPE: {}, "text/csv": {}},
            "description": "The template: XLSX with both sheets, or one sheet as CSV",
        },
    },
)
def import_template(
    format: Annotated[Literal["xlsx", "csv"], Query()] = "xlsx",
    sheet: Annotated[Literal["teilnehmende", "meilensteine"], Query()] = "teilnehmende",
) -> Response:
    """The import template: XLSX with both sheets, or one sheet as CSV (``sheet=``).

    It holds German headers and one example row; no data of anyone.
    """
    if format == "xlsx":
        return Response(
            template_xlsx(),
            media_type=XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": 'attachment; filename="lotse-import-vorlage.xlsx"'},
        )
    name = f"lotse-import-{sheet}.csv"
    return Response(
        template_csv(SHEETS[sheet]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _in_scope(runtime: Runtime, principal: Principal, import_id: UUID) -> ImportRun | None:
    run = _imports(runtime).find(import_id)
    if run is None or not may_read_import(principal, run.provider):
        return None
    return run


def _not_found() -> JSONResponse:
    return problem(404, "no import with this id for your provider", rule="import-not-found")


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportPublic,
    responses=PROBLEMS,
    dependencies=[allowed(check_may_import)],
)
def start_import(
    principal: CurrentUser,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="XLSX (both sheets) or the participants' CSV")],
    milestones: Annotated[UploadFile | None, File(description="The milestones' CSV")] = None,
    provider: Annotated[str | None, Form(max_length=64)] = None,
    dry_run: Annotated[bool, Form()] = False,
) -> Response:
    """Import participants and their milestones from a spreadsheet for the caller's provider.

    Answers 202 at once; ``GET /imports/{id}`` tells the progress, and
    ``/imports/{id}/report`` gives the report (XLSX) when it is done.
    """
    target = provider or principal.organisation
    if not may_write(principal, target):
        return problem(403, "case workers import only for their own provider", field="provider")
    limit = runtime.settings.max_import_bytes
    folder = Path(tempfile.mkdtemp(prefix="lotse-upload-"))
    try:
        paths: list[Path] = []
        for index, upload in enumerate((file, milestones)):
            if upload is None:
                continue
            path = folder / f"part{index}"
            with path.open("wb") as out:
                copy_limited(upload.file, out, limit)
            paths.append(path)
    except ImportFileError as e:
        shutil.rmtree(folder, ignore_errors=True)
        return problem(413, str(e.message_de), rule=e.rule)
    try:
        preflight(paths[0], paths[1] if len(paths) > 1 else None, limit=limit)
    except ImportFileError as e:
        shutil.rmtree(folder, ignore_errors=True)
        return problem(
            422,
            "the file is not a spreadsheet in the import template's format",
            rule=e.rule,
            field="file",
            errors=[{"field": "file", "message": e.message_de}],
        )
    imports = _imports(runtime)
    run_id = imports.start(
        target, principal.user, principal.role.value, principal.organisation, dry_run=dry_run
    )

    def work() -> None:
        try:
            execute(
                runtime.journeys,
                imports,
                run_id,
                principal,
                target,
                paths[0],
                paths[1] if len(paths) > 1 else None,
                dry_run=dry_run,
                limit=limit,
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    threading.Thread(target=work, name=f"import-{run_id}", daemon=True).start()
    run = imports.find(run_id)
    assert run is not None
    return Response(
        _public(run).model_dump_json(),
        status_code=status.HTTP_202_ACCEPTED,
        media_type="application/json",
        headers={"Location": f"/imports/{run_id}"},
    )


@router.get(
    "/{import_id}",
    response_model=ImportPublic,
    responses=PROBLEMS,
    dependencies=[allowed(check_may_import)],
)
def read_import(import_id: UUID, principal: CurrentUser, runtime: RuntimeDep) -> Response:
    """An import's state and progress: rows done of total, written, skipped, refused."""
    run = _in_scope(runtime, principal, import_id)
    if run is None:
        return _not_found()
    return Response(_public(run).model_dump_json(), media_type="application/json")


@router.get(
    "/{import_id}/report",
    responses={
        **PROBLEMS,
        200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "The import report"},
    },
    dependencies=[allowed(check_may_import)],
)
def import_report(import_id: UUID, principal: CurrentUser, runtime: RuntimeDep) -> Response:
    """The import report (XLSX): each row written, skipped or refused, with column and reason."""
    run = _in_scope(runtime, principal, import_id)
    if run is None:
        return _not_found()
    report = _imports(runtime).report(import_id)
    if report is None:
        return problem(409, "the import is not finished yet", rule="import-running")
    return Response(
        report,
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="import-{import_id}.xlsx"'},
    )
