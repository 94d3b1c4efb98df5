"""Computing, publishing, storing and comparing report runs.

``compute`` takes the figures from the read models at their position, or, when a
position is given, by replaying the log up to it; ``publish_run`` applies
small-cell protection and stores the run; ``changes`` lists what the events
recorded since a run changed in its figures, cell by cell and event by event.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from lotse.domain.access import Principal, may_see_unsuppressed
from lotse.domain.configuration import Configuration
from lotse.domain.errors import DomainError, InvalidInputError
from lotse.reports import course_evidence, financial, monitoring, outcomes
from lotse.reports.cells import (
    Figures,
    cells_from_json,
    cells_json,
    diff_cells,
    key_text,
    publish,
    text_key,
)
from lotse.reports.definition import DEFINITION_VERSIONS, Labels, ReportRequest
from lotse.reports.integrity import ChainCheck, verified_to
from lotse.reports.runs import Run, store
from lotse.reports.snapshots import fetch_all, report_settings, same_snapshot
from lotse.reports.sources import Rows, late_events, read_model_position, replay
from lotse.reports.suppression import DEFAULT_THRESHOLD, suppress
from lotse.storage.log_head import log_head

TABLES = {
    "monitoring": monitoring.TABLES,
    "outcomes": outcomes.TABLES,
    "financial": financial.TABLES,
}


class ReadModelsUnavailableError(DomainError):
    """The read models a report needs are not at one position (HTTP 503)."""

    retry_after = 5


@dataclass
class Computed:
    request: ReportRequest
    position: int
    source: str
    """``read_models`` or ``replay``."""
    figures: Figures


def figures_from_rows(
    request: ReportRequest, rows: Rows, config: Configuration, *, evidence: bool
) -> Figures:
    labels = Labels.of(config, request.programme)
    if request.kind == "monitoring":
        return monitoring.figures(monitoring.groups_from_rows(rows, request), request, labels)
    if request.kind == "outcomes":
        return outcomes.figures(outcomes.groups_from_rows(rows, request), request, labels)
    groups, trail = financial.groups_from_rows(rows, request)
    programme = config.programmes[request.programme]
    result = financial.figures(groups, trail if evidence else None, request, labels, programme)
    courses = course_evidence.from_replayed(rows, request, evidence=evidence)
    course_evidence.add(result, courses, request, labels, programme)
    return result


#: Spare connections a report reads with beside its own (``reports.snapshots``):
#: the monitoring report's three queries each on a connection of its own; the
#: financial report's units grouping on one, the courses' queries on the other.
HELPERS = {"monitoring": 2, "financial": 1}


async def _from_read_models(
    conn: asyncpg.Connection,
    request: ReportRequest,
    config: Configuration,
    *,
    evidence: bool,
    pool: asyncpg.Pool | None = None,
) -> Computed | None:
    labels = Labels.of(config, request.programme)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await report_settings(conn)
        position = await read_model_position(conn, TABLES[request.kind])
        if position is None:
            return None
        if request.kind == "monitoring":
            async with same_snapshot(conn, pool, HELPERS["monitoring"]) as connections:
                groups: Counter[Any] = await monitoring.fetch_groups(connections, request)
            result = monitoring.figures(groups, request, labels)
        elif request.kind == "outcomes":
            args = request.period_arguments()
            records = [
                *await conn.fetch(outcomes.OUTCOMES_SQL, *args),
                *await conn.fetch(outcomes.TRANSITIONS_SQL, *args),
            ]
            groups = Counter({(*tuple(r[:4]), tuple(r[4])): int(r[5]) for r in records})
            result = outcomes.figures(groups, request, labels)
        else:
            args = request.period_arguments()
            # The legacy units' grouping (the longest) beside the courses' queries.
            course_queries = course_evidence.queries(request, evidence=evidence)
            unit_queries = [(financial.GROUPS_SQL, args)]
            if evidence:
                unit_queries.append((financial.EVIDENCE_SQL, args))
            async with same_snapshot(conn, pool, HELPERS["financial"]) as connections:
                found = await fetch_all(connections, [*unit_queries, *course_queries])
            fgroups = financial.groups_from_records(found[0])
            trail: list[Mapping[str, Any]] | None = (
                [dict(r) for r in found[1]] if evidence else None
            )
            programme = config.programmes[request.programme]
            result = financial.figures(fgroups, trail, request, labels, programme)
            courses = course_evidence.rows_of(found[len(unit_queries) :])
            course_evidence.add(result, courses, request, labels, programme)
    return Computed(request, position, "read_models", result)


async def compute(
    conn: asyncpg.Connection,
    request: ReportRequest,
    config: Configuration,
    *,
    position: int | None = None,
    evidence: bool = False,
    replay_fallback: bool = True,
    pool: asyncpg.Pool | None = None,
) -> Computed:
    """At the read models' position, or by replay at ``position`` (or when they disagree).

    ``pool`` lends spare connections to read the read models side by side in the
    report's snapshot (``reports.snapshots``); without it one connection reads all.

    Without ``replay_fallback`` (requests of the API), read models that are not
    available raise ``ReadModelsUnavailableError`` instead of replaying the whole
    log inside the request: a parked read model must not turn every report into
    seconds of work.
    """
    if position is None:
        computed = await _from_read_models(conn, request, config, evidence=evidence, pool=pool)
        if computed is not None:
            return computed
        if not replay_fallback:
            msg = "the report's read models are catching up or stopped: try again later"
            raise ReadModelsUnavailableError(msg, rule="read-models-unavailable")
        position = await log_head(conn)
    elif position > await log_head(conn):
        msg = "position is beyond the last recorded event"
        raise InvalidInputError(msg, field="position")
    rows = await replay(conn, position, TABLES[request.kind])
    return Computed(
        request, position, "replay", figures_from_rows(request, rows, config, evidence=evidence)
    )


def config_provenance(config: Configuration, programme: str) -> tuple[str, str]:
    """The programme's ``config_version`` and the SHA-256 of its file as read now."""
    path = config.directory / "programmes" / f"{programme}.toml"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return config.programmes[programme].config_version, digest


def provenance(run: Run) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "kind": run.kind,
        "parameters": run.parameters,
        "scope": {"municipality": run.scope_municipality, "provider": run.scope_provider},
        "position": run.position,
        "source": run.source,
        "definition_version": run.definition_version,
        "config_version": run.config_version,
        "config_sha256": run.config_sha256,
        "created_at": run.created_at.isoformat(),
        "created_by": run.created_by,
        "created_role": run.created_role,
        "suppressed": run.suppressed,
        "threshold": run.threshold,
        "evidence": run.evidence,
        "chain_verified_to": run.chain,
    }


async def publish_run(
    conn: asyncpg.Connection,
    computed: Computed,
    config: Configuration,
    principal: Principal,
    *,
    suppressed: bool = True,
    threshold: int = DEFAULT_THRESHOLD,
    evidence: bool = False,
    chain_check: ChainCheck | None = None,
    full_chain: bool = False,
) -> Run:
    """Apply small-cell protection, record the chain's state, store the run, return it."""
    request = computed.request
    hidden = suppress(computed.figures, threshold) if suppressed else set()
    version, digest = config_provenance(config, request.programme)
    chain = None if chain_check is None else await chain_check(computed.position, full_chain)
    run = Run(
        id=uuid.uuid4(),
        kind=request.kind,
        parameters=request.parameters(),
        scope_municipality=request.municipality,
        scope_provider=request.provider,
        suppressed=suppressed,
        threshold=threshold,
        evidence=evidence,
        position=computed.position,
        source=computed.source,
        definition_version=DEFINITION_VERSIONS[request.kind],
        config_version=version,
        config_sha256=digest,
        created_at=datetime.now(UTC),
        created_by=principal.user,
        created_role=principal.role.value,
        cells=cells_json(computed.figures.cells),
        document={},
        chain=chain,
        chain_verified_to=verified_to(chain),
    )
    document = {
        "run": provenance(run),
        "suppressed_cells": sorted(key_text(k) for k in hidden),
        "tables": publish(computed.figures, hidden),
    }
    run = Run(**{**run.__dict__, "document": document})
    await store(conn, run)
    return run


async def changes(
    conn: asyncpg.Connection, run: Run, config: Configuration, principal: Principal
) -> dict[str, Any]:
    """What the events recorded after ``run`` changed in its figures, and which events.

    Cells are compared with the same report computed now; each late event is listed
    if applying it changed the figures of the report's period and scope (its
    participant's contribution before and after it, computed by the same folds).
    """
    request = ReportRequest.from_parameters(run.parameters)
    now = await compute(conn, request, config, evidence=False)
    before = cells_from_json(run.cells)
    after = now.figures.cells
    hidden_before = {text_key(k) for k in run.document.get("suppressed_cells", [])}
    hidden_after = suppress(now.figures, run.threshold) if run.suppressed else set()
    cells = []
    for key, old, new in diff_cells(before, after):
        if key in hidden_before and key in hidden_after:
            continue
        cells.append(
            {
                "cell": key_text(key),
                "before": None if key in hidden_before else _number(old),
                "after": None if key in hidden_after else _number(new),
                "difference": None
                if key in hidden_before or key in hidden_after
                else _number(new - old),
            }
        )
    show_ids = may_see_unsuppressed(principal) and not run.suppressed
    events = []
    for late in await late_events(conn, run.position, now.position, TABLES[request.kind]):
        old_cells = figures_from_rows(request, late.before, config, evidence=False).cells
        new_cells = figures_from_rows(request, late.after, config, evidence=False).cells
        delta = diff_cells(old_cells, new_cells)
        if not delta:
            continue
        e = late.event
        entry: dict[str, Any] = {
            "position": e.position,
            "participant_id": str(e.participant_id) if show_ids else None,
            "version": e.version,
            "type": e.type,
            "effective_date": e.effective_date.isoformat(),
            "recorded_at": e.recorded_at.isoformat(),
        }
        if e.type == "EntryCorrected":
            entry["corrects_version"] = e.data["corrects_version"]
            entry["corrected_type"] = e.data["corrected_type"]
        elif e.type == "EntryVoided":
            entry["voids_version"] = e.data["voids_version"]
            entry["voided_type"] = e.data["voided_type"]
        if show_ids:
            entry["cells"] = {key_text(k): _number(new - old) for k, old, new in delta}
        events.append(entry)
    return {
        "run": str(run.id),
        "run_position": run.position,
        "current_position": now.position,
        "changed_cells": cells,
        "events": events,
    }


def _number(value: Any) -> Any:
    return str(value) if not isinstance(value, int) else value
