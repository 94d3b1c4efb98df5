"""Verifiable export bundles: who may export which participants, and the exporter.

``lotse audit export`` and the Prüfung page ask the same two things here: the
participants a caller may export (by the policy's ``check_may_export`` and each
participant's *current* placement in the caller's scope) and the exporter wired
to the write side's datastore, mapper and signed checkpoints. Each caller logs
the reads before it writes the bundle: once written, it is disclosed.
"""

from __future__ import annotations

from uuid import UUID

from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, check_may_export
from lotse.storage.export import Criteria, Exporter
from lotse.storage.recorder import LotseRecorder


def exporter_for(runtime: Runtime) -> Exporter:
    recorder = runtime.journeys.recorder
    assert isinstance(recorder, LotseRecorder)
    assert runtime.checkpoints is not None  # build_runtime always wires them
    return Exporter(recorder.datastore, runtime.journeys.mapper, runtime.checkpoints)


def participants_to_export(
    runtime: Runtime, principal: Principal, criteria: Criteria
) -> tuple[Exporter, list[UUID]]:
    """The exporter and the participants matching ``criteria`` that the caller may export."""
    check_may_export(principal)
    journeys = runtime.journeys

    def current(pid: UUID) -> tuple[str, str] | None:
        return journeys.placement_in_scope(principal, pid)

    exporter = exporter_for(runtime)
    return exporter, exporter.participants(criteria, current)
