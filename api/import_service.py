"""One import run from start to report, shared by ``lotse import`` and ``POST /imports``.

The run is recorded in ``lotse_imports`` first (state ``queued``), then ``reading``
(rows validated), ``writing`` (participants saved, rows done of total updated every
few hundred rows), and ``done`` with the XLSX report, or ``failed`` with the German
reason why the file could not be read (nothing written then).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from lotse.api.import_files import ImportFile, ImportFileError
from lotse.api.import_report import report_xlsx
from lotse.api.importer import PROGRESS_EVERY, Outcome, check_headers, run_import
from lotse.domain.access import Principal
from lotse.domain.application import Journeys
from lotse.storage.imports import Imports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    run_id: UUID
    outcome: Outcome | None
    report: bytes | None
    error: ImportFileError | None

    @property
    def exit_code(self) -> int:
        """0: every row accepted; 1: some refused (the report says which); 2: unreadable."""
        if self.error is not None or self.outcome is None:
            return 2
        return self.outcome.exit_code


def preflight(participants: Path, milestones: Path | None, *, limit: int) -> None:
    """Raise ImportFileError when the files are no import in the template's format.

    Opens the sheets and reads only their header rows: cheap enough to answer the
    upload with 422 at once rather than with a run that fails a moment later.
    """
    with ImportFile(participants, milestones, limit=limit) as file:
        check_headers(file)


def execute(
    journeys: Journeys,
    imports: Imports,
    run_id: UUID,
    principal: Principal,
    provider: str,
    participants: Path,
    milestones: Path | None,
    *,
    dry_run: bool,
    limit: int,
    on_progress: Callable[[Outcome], None] = lambda _o: None,
) -> Finished:
    last = [0]

    def progress(outcome: Outcome) -> None:
        on_progress(outcome)
        if outcome.rows_done == 0 or outcome.rows_done - last[0] >= PROGRESS_EVERY:
            last[0] = outcome.rows_done
            state = "writing" if outcome.rows_done else "reading"
            imports.progress(run_id, state=state, **outcome.counts())

    imports.progress(run_id, state="reading")
    try:
        with ImportFile(participants, milestones, limit=limit) as file:
            outcome, report = run_import(
                journeys,
                imports,
                principal,
                provider,
                file,
                run_id=run_id,
                dry_run=dry_run,
                on_progress=progress,
                write_report=report_xlsx,
            )
    except ImportFileError as e:
        imports.progress(run_id, state="failed", error=e.message_de)
        return Finished(run_id, None, None, e)
    except Exception:
        log.exception("import %s failed", run_id)  # no cell values: only the run's id
        imports.progress(run_id, state="failed", error="Interner Fehler beim Import.")
        raise
    imports.progress(run_id, state="done", report=report, **outcome.counts())
    return Finished(run_id, outcome, report, None)
