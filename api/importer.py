"""The bulk import: validate every row, then write each participant whole, once.

Two passes, memory flat in the file's size. The first streams both sheets, validates
each row by the API's request schemas (``api.import_rows``) and keeps the result in
a temporary SQLite file on disk, keyed by the provider's reference. The second takes
one participant at a time with its milestones (by date, then row) and hands them to
``Journeys.import_participant``: the same domain checks and commands as the API,
one save, one transaction, with the reference and the fingerprint of the rows
claimed as a request key in that transaction. So a participant is written whole
or not at all, and a re-run writes nothing twice; a row changed since is reported,
never applied. A dry run goes through the same checks and saves nothing.

What a run did is kept row by row (written, skipped, refused with the column and a
German reason) and rendered as the XLSX report (``api.import_report``). Messages
never contain a cell's value: they name the sheet, row and column.
"""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError

from lotse.api.corrections import plain
from lotse.api.import_files import (
    MILESTONES_SHEET,
    PARTICIPANTS_SHEET,
    ImportFile,
    ImportFileError,
    Sheet,
)
from lotse.api.import_rows import (
    REFERENCE,
    Refusal,
    RowRefusedError,
    fingerprint,
    milestone_headers,
    milestone_request,
    participant_headers,
    participant_request,
    reference_of,
)
from lotse.api.pages.forms_input import domain_error_message
from lotse.domain.access import Principal
from lotse.domain.application import ImportRefusedError, Journeys, RequestKey
from lotse.domain.errors import DomainError
from lotse.domain.labels import field_label
from lotse.storage.imports import Imports

WRITTEN = "geschrieben"
WOULD_WRITE = "würde geschrieben (Probelauf)"
SKIPPED = "übersprungen (bereits importiert)"
REFUSED = "abgelehnt"
#: Participants written at once (threads; each holds one database connection at a time).
IMPORT_THREADS = 4
#: How often (rows) the API's progress row is updated.
PROGRESS_EVERY = 500


@dataclass
class Outcome:
    """What a run did: counts by row, and the participants written."""

    rows_total: int = 0
    rows_done: int = 0
    written: int = 0
    skipped: int = 0
    refused: int = 0
    participants_written: int = 0
    participants_refused: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.refused else 0

    def counts(self) -> dict[str, int]:
        return {
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "written": self.written,
            "skipped": self.skipped,
            "refused": self.refused,
            "participants_written": self.participants_written,
        }


@dataclass
class _Spill:
    """The validated rows, on disk: participants, milestones, and the report's lines."""

    db: sqlite3.Connection
    path: Path
    outcome: Outcome = field(default_factory=Outcome)

    def report_line(
        self, sheet: str, row: int, reference: str, result: str, column: str, message: str
    ) -> None:
        self.db.execute(
            "INSERT INTO report VALUES (?, ?, ?, ?, ?, ?)",
            (sheet, row, reference, result, column, message),
        )

    def report_lines(self) -> Iterator[tuple[str, int, str, str, str, str]]:
        yield from self.db.execute("SELECT * FROM report ORDER BY sheet DESC, row")


def _open_spill(directory: str | None) -> _Spill:
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by ``run_import``
        prefix="lotse-import-", suffix=".sqlite", dir=directory, delete=False
    )
    handle.close()
    db = sqlite3.connect(handle.name)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE p (reference TEXT, row INTEGER, fp TEXT, payload BLOB, refusal BLOB)")
    db.execute(
        "CREATE TABLE m (reference TEXT, row INTEGER, fp TEXT, day TEXT, payload BLOB,"
        " refusal BLOB)"
    )
    db.execute(
        "CREATE TABLE report (sheet TEXT, row INTEGER, reference TEXT, result TEXT,"
        " col TEXT, message TEXT)"
    )
    return _Spill(db, Path(handle.name))


def _check_headers(sheet: Sheet, expected: list[str]) -> None:
    """A sheet's header row matches the template: the reference column, no unknown column."""
    if REFERENCE not in sheet.headers:
        msg = f"Im Blatt „{sheet.name}“ fehlt die Spalte „{REFERENCE}“ (siehe Vorlage)."
        raise ImportFileError(msg, rule="import-file-columns")
    unknown = [h for h in sheet.headers if h and h not in expected]
    if unknown:
        # The header text is the provider's own: it may be named, it is not personal data.
        msg = (
            f"Im Blatt „{sheet.name}“ ist die Spalte „{unknown[0][:60]}“ unbekannt (siehe Vorlage)."
        )
        raise ImportFileError(msg, rule="import-file-columns")


def check_headers(file: ImportFile) -> None:
    """Both sheets' header rows match the template (ImportFileError otherwise).

    Run before an upload is accepted, so that a file that is no import at all is
    refused at once (422) instead of becoming a failed run.
    """
    _check_headers(file.participants, participant_headers())
    if file.milestones is not None:
        _check_headers(file.milestones, milestone_headers())


def _refusal_blob(refusals: list[Refusal]) -> bytes:
    return pickle.dumps([(r.column, r.message) for r in refusals])


def _read(file: ImportFile, spill: _Spill, provider: str) -> None:
    """First pass: every row validated by the request schemas, kept on disk."""
    _check_headers(file.participants, participant_headers())
    for number, row in file.participants.rows():
        reference = reference_of(row)
        payload = refusal = None
        try:
            request = participant_request(row, provider)
            payload = pickle.dumps(request.model_dump())
        except RowRefusedError as e:
            refusal = _refusal_blob(e.refusals)
        spill.db.execute(
            "INSERT INTO p VALUES (?, ?, ?, ?, ?)",
            (reference, number, fingerprint(row), payload, refusal),
        )
        spill.outcome.rows_total += 1
    if file.milestones is None:
        return
    _check_headers(file.milestones, milestone_headers())
    for number, row in file.milestones.rows():
        reference = reference_of(row)
        payload = refusal = None
        day = ""
        try:
            body = milestone_request(row)
            data = {
                k: plain(v) for k, v in body.model_dump(exclude={"type", "effective_date"}).items()
            }
            day = body.effective_date.isoformat()
            payload = pickle.dumps((body.type, body.effective_date, data))
        except RowRefusedError as e:
            refusal = _refusal_blob(e.refusals)
        spill.db.execute(
            "INSERT INTO m VALUES (?, ?, ?, ?, ?, ?)",
            (reference, number, fingerprint(row), day, payload, refusal),
        )
        spill.outcome.rows_total += 1
    spill.db.execute("CREATE INDEX m_reference ON m (reference, day, row)")
    spill.db.execute("CREATE INDEX p_reference ON p (reference)")


@dataclass
class _Participant:
    reference: str
    row: int
    fp: str
    payload: bytes | None
    refusal: bytes | None
    #: (row, fingerprint, payload, refusal) of its milestones, by date then row.
    milestones: list[tuple[int, str, bytes | None, bytes | None]]


@dataclass(frozen=True)
class _Prepared:
    """A participant whose rows all passed the schemas: what ``import_participant`` takes."""

    participant: _Participant
    why: str
    key: RequestKey
    fingerprints: list[str]
    programme: str
    provider: str
    details: dict[str, Any]
    milestones: list[tuple[str, Any, dict[str, Any]]]


@dataclass(frozen=True)
class _Written:
    """What the database said: written, skipped, changed since, or refused by the domain."""

    kind: str
    participant_id: str = ""
    known: set[str] = field(default_factory=set)
    index: int | None = None
    error: DomainError | None = None


def _with(rows: int) -> str:
    return f"mit {rows - 1} Meilenstein(en)"


class _Run:
    def __init__(
        self,
        journeys: Journeys,
        imports: Imports,
        principal: Principal,
        provider: str,
        request_id: str,
        *,
        dry_run: bool,
        spill: _Spill,
        on_progress: Callable[[Outcome], None],
    ) -> None:
        self.journeys = journeys
        self.imports = imports
        self.principal = principal
        self.provider = provider
        self.request_id = request_id
        self.dry_run = dry_run
        self.spill = spill
        self.outcome = spill.outcome
        self.on_progress = on_progress

    def participants(self) -> Iterator[_Participant]:
        db = self.spill.db
        for reference, row, fp, payload, refusal in db.execute(
            "SELECT reference, row, fp, payload, refusal FROM p ORDER BY row"
        ):
            milestones = db.execute(
                "SELECT row, fp, payload, refusal FROM m WHERE reference = ? ORDER BY day, row",
                (reference,),
            ).fetchall()
            yield _Participant(reference, row, fp, payload, refusal, milestones)

    # ------------------------------------------------------------ outcomes

    def _line(
        self, sheet: str, row: int, reference: str, result: str, column: str = "", message: str = ""
    ) -> None:
        self.spill.report_line(sheet, row, reference, result, column, message)

    def _done(self, rows: int) -> None:
        self.outcome.rows_done += rows
        self.on_progress(self.outcome)

    def _refuse_all(
        self, p: _Participant, own: list[tuple[str, int, str, str]], why_others: str
    ) -> None:
        """Refuse the participant and every row of it: its own reasons, the others' pointer."""
        named = {(sheet, row) for sheet, row, _c, _m in own}
        for sheet, row, column, message in own:
            self._line(sheet, row, p.reference, REFUSED, column, message)
        if (PARTICIPANTS_SHEET, p.row) not in named:
            self._line(PARTICIPANTS_SHEET, p.row, p.reference, REFUSED, "", why_others)
        for row, _fp, _payload, _refusal in p.milestones:
            if (MILESTONES_SHEET, row) not in named:
                self._line(MILESTONES_SHEET, row, p.reference, REFUSED, "", why_others)
        rows = 1 + len(p.milestones)
        self.outcome.refused += rows
        self.outcome.participants_refused += 1
        self._done(rows)

    def prepare(self, p: _Participant, duplicate_references: set[str]) -> _Prepared | None:
        """The participant ready to write, or None when a row of it was refused (reported)."""
        why = (
            "Nicht übernommen, weil eine Zeile dieser Person abgelehnt wurde "
            f"(Referenz in Zeile {p.row})."
        )
        own: list[tuple[str, int, str, str]] = []
        if not p.reference:
            own.append((PARTICIPANTS_SHEET, p.row, REFERENCE, "Bitte ausfüllen."))
        elif p.reference in duplicate_references:
            message = "Diese Referenz steht mehrfach im Blatt „Teilnehmende“."
            own.append((PARTICIPANTS_SHEET, p.row, REFERENCE, message))
        if p.refusal is not None:
            own += [(PARTICIPANTS_SHEET, p.row, c, m) for c, m in pickle.loads(p.refusal)]  # noqa: S301 - our own temp file
        details: dict[str, Any] = pickle.loads(p.payload) if p.payload else {}  # noqa: S301
        if details and details.get("provider") != self.provider:
            message = "Die Zeile gehört zu einem anderen Träger als dem, für den importiert wird."
            own.append((PARTICIPANTS_SHEET, p.row, field_label("provider"), message))
        seen: dict[str, int] = {}
        for row, fp, _payload, refusal in p.milestones:
            if refusal is not None:
                own += [(MILESTONES_SHEET, row, c, m) for c, m in pickle.loads(refusal)]  # noqa: S301
            if fp in seen:
                message = f"Doppelte Zeile: dieselben Angaben wie Zeile {seen[fp]}."
                own.append((MILESTONES_SHEET, row, "", message))
            seen.setdefault(fp, row)
        if own:
            self._refuse_all(p, own, why)
            return None
        fingerprints = sorted([p.fp, *(fp for _r, fp, _p, _f in p.milestones)])
        key = RequestKey(
            scope=f"import:{self.provider}",
            key=hashlib.sha256(p.reference.encode()).hexdigest(),
            fingerprint=hashlib.sha256("".join(fingerprints).encode()).hexdigest(),
            operation="import",
        )
        programme = str(details.pop("programme"))
        provider = str(details.pop("provider"))
        milestones = [pickle.loads(payload or b"") for _r, _fp, payload, _f in p.milestones]  # noqa: S301
        return _Prepared(
            p,
            why,
            key,
            fingerprints,
            programme,
            provider,
            {k: plain(v) for k, v in details.items()},
            milestones,
        )

    def write(self, prepared: _Prepared) -> _Written:
        """In a worker thread: the database's part of one participant, nothing reported."""
        p = prepared.participant
        stored = self.imports.imported(self.provider, p.reference)
        log = self.journeys.request_log
        found = log.find(prepared.key.scope, prepared.key.key) if log is not None else None
        if stored is not None or found is not None:
            if found is not None and found[0] == prepared.key.fingerprint:
                return _Written("skipped")
            return _Written("changed", known=set(stored[1]) if stored else set())
        try:
            recorded = self.journeys.import_participant(
                self.principal,
                self.request_id,
                programme=prepared.programme,
                provider=prepared.provider,
                details=prepared.details,
                milestones=prepared.milestones,
                request_key=prepared.key,
                save=not self.dry_run,
            )
        except ImportRefusedError as e:
            return _Written("refused", index=e.index, error=e.error)
        except DomainError as e:
            return _Written("refused", error=e)
        except IntegrityError:
            # A concurrent run claimed the same reference first: it wrote the participant.
            return _Written("skipped")
        if not self.dry_run:
            self.imports.remember(
                self.provider, p.reference, recorded.participant_id, prepared.fingerprints
            )
        return _Written("written", participant_id=str(recorded.participant_id))

    def record(self, prepared: _Prepared, written: _Written) -> None:
        """In the main thread: the report's lines and the counts of one participant."""
        p = prepared.participant
        rows = 1 + len(p.milestones)
        if written.kind == "skipped":
            self._line(PARTICIPANTS_SHEET, p.row, p.reference, SKIPPED, "", _with(rows))
            self.outcome.skipped += rows
            self._done(rows)
        elif written.kind == "changed":
            self._changed(p, written.known)
        elif written.kind == "refused":
            assert written.error is not None
            if written.index is not None:
                row = p.milestones[written.index][0]
                reason = (
                    MILESTONES_SHEET,
                    row,
                    _column(written.error),
                    domain_error_message(written.error),
                )
            else:
                reason = (
                    PARTICIPANTS_SHEET,
                    p.row,
                    _column(written.error),
                    domain_error_message(written.error),
                )
            self._refuse_all(p, [reason], prepared.why)
        else:
            result = WOULD_WRITE if self.dry_run else WRITTEN
            message = _with(rows) + ("" if self.dry_run else f"; Id {written.participant_id}")
            self._line(PARTICIPANTS_SHEET, p.row, p.reference, result, "", message)
            self.outcome.written += rows
            self.outcome.participants_written += 1
            self._done(rows)

    def _changed(self, p: _Participant, known: set[str]) -> None:
        """Imported before, rows differ now: unchanged rows skipped, the others reported."""
        rows = [(PARTICIPANTS_SHEET, p.row, p.fp)] + [
            (MILESTONES_SHEET, row, fp) for row, fp, _p, _f in p.milestones
        ]
        changed = (
            "Seit dem ersten Import geändert oder neu: nicht übernommen "
            "(bitte in Lotse erfassen oder korrigieren)."
        )
        for sheet, row, fp in rows:
            if fp in known:
                self._line(sheet, row, p.reference, SKIPPED)
                self.outcome.skipped += 1
            else:
                self._line(sheet, row, p.reference, REFUSED, "", changed)
                self.outcome.refused += 1
        self._done(len(rows))

    def orphans(self) -> None:
        """Milestone rows whose reference has no row in the participants' sheet."""
        for row, reference in self.spill.db.execute(
            "SELECT row, reference FROM m"
            " WHERE reference NOT IN (SELECT reference FROM p) ORDER BY row"
        ):
            message = (
                "Bitte ausfüllen."
                if not reference
                else "Keine Zeile mit dieser Referenz im Blatt „Teilnehmende“."
            )
            self._line(MILESTONES_SHEET, row, reference, REFUSED, REFERENCE, message)
            self.outcome.refused += 1
            self._done(1)


def _column(error: DomainError) -> str:
    if not error.field:
        return ""
    name = error.field.rpartition(".")[2]
    return field_label(name)


def run_import(
    journeys: Journeys,
    imports: Imports,
    principal: Principal,
    provider: str,
    file: ImportFile,
    *,
    run_id: Any,
    dry_run: bool,
    on_progress: Callable[[Outcome], None] = lambda _o: None,
    write_report: Callable[[Iterator[tuple[str, int, str, str, str, str]], Outcome, bool], bytes],
    temp_dir: str | None = None,
    threads: int = IMPORT_THREADS,
) -> tuple[Outcome, bytes]:
    """Import a file for ``provider``; the outcome and the XLSX report."""
    spill = _open_spill(temp_dir)
    try:
        _read(file, spill, provider)
        on_progress(spill.outcome)
        run = _Run(
            journeys,
            imports,
            principal,
            provider,
            f"import-{run_id}",
            dry_run=dry_run,
            spill=spill,
            on_progress=on_progress,
        )
        duplicates = {
            r
            for (r,) in spill.db.execute(
                "SELECT reference FROM p WHERE reference != ''"
                " GROUP BY reference HAVING count(*) > 1"
            )
        }
        # Participants are independent: a few threads overlap their round trips to
        # the database. Results are reported in the file's order, a window at a time.
        window: deque[tuple[_Prepared, Future[_Written]]] = deque()
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="import") as pool:
            for participant in run.participants():
                prepared = run.prepare(participant, duplicates)
                if prepared is None:
                    continue
                window.append((prepared, pool.submit(run.write, prepared)))
                if len(window) >= 4 * threads:
                    done, future = window.popleft()
                    run.record(done, future.result())
            while window:
                done, future = window.popleft()
                run.record(done, future.result())
        run.orphans()
        report = write_report(spill.report_lines(), spill.outcome, dry_run)
        return spill.outcome, report
    finally:
        spill.db.close()
        spill.path.unlink(missing_ok=True)
