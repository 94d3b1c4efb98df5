"""Occupation, instrument and consent language became identifying: old events still work.

The event catalogue is a public schema. Events recorded before these fields were
sealed hold them in clear; they must still load, fold, project and export, while
new events seal the same fields. The old shape is written exactly as the old code
wrote it: through the same mapper, with the old classification of those fields.
"""

from __future__ import annotations

import contextlib
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from fastapi.testclient import TestClient

from lotse.api.cli import main
from lotse.api.runtime import Runtime
from lotse.domain.access import Principal, Role
from lotse.domain.classification import CLASSIFICATION, DataClass
from tests.builders.api import Auth
from tests.builders.privacy import coordinator, erase, milestone, register
from tests.privacy_scan import read_models_caught_up, scan

RECLASSIFIED = {
    "ConsentGiven": ("language",),
    "LanguageLevelAssessed": ("instrument",),
    "InternshipStarted": ("occupation",),
    "EntryQualificationStarted": ("occupation",),
    "ApprenticeshipStarted": ("occupation",),
    "EmploymentStarted": ("occupation",),
}


@contextlib.contextmanager
def old_classification() -> Iterator[None]:
    """While active, the mapper writes these fields in clear, as before they were sealed."""
    old = {
        event_type: {**CLASSIFICATION[event_type], **dict.fromkeys(fields, DataClass.STATISTICAL)}
        for event_type, fields in RECLASSIFIED.items()
    }
    with mock.patch.dict(CLASSIFICATION, old):
        yield


def journey(client: TestClient, auth: Auth, occupation: str, instrument: str) -> str:
    pid = register(client, auth)
    for body in (
        {
            "type": "EligibilityAssessed",
            "effective_date": "2021-03-02",
            "eligible": True,
            "target_group": "duldung",
        },
        {
            "type": "ConsentGiven",
            "effective_date": "2021-03-02",
            "consent_version": "2020-01",
            "language": "ti",
        },
        {
            "type": "LanguageLevelAssessed",
            "effective_date": "2021-03-03",
            "level": "A2",
            "instrument": instrument,
        },
        {"type": "InternshipStarted", "effective_date": "2021-04-01", "occupation": occupation},
    ):
        milestone(client, auth, pid, body)
    return pid


def stored_state(runtime: Runtime, pid: str, version: int) -> dict[str, Any]:
    with runtime.journeys.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        curs.execute(
            "SELECT state FROM lotse_events WHERE originator_id = %s AND originator_version = %s",
            (pid, version),
        )
        row = curs.fetchone()
    assert row is not None
    state: dict[str, Any] = json.loads(bytes(row["state"]))
    return state


def bundle_events(pid: str, path: Path, *extra: str) -> list[dict[str, Any]]:
    assert main(["audit", "export", "--participant", pid, "-o", str(path), *extra]) == 0
    with zipfile.ZipFile(path) as bundle:
        lines = bundle.read("events.jsonl").decode().splitlines()
    return [json.loads(line) for line in lines]


def test_new_events_seal_occupation_instrument_and_consent_language(
    client: TestClient, auth: Auth, runtime: Runtime, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    occupation, instrument = f"Occcanary{tag}", f"Inscanary{tag}"

    pid = journey(client, auth, occupation, instrument)
    caught_up = read_models_caught_up(database_url)
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]

    assert stored_state(runtime, pid, 3)["_sealed_fields"] == ["language"]
    assert "language" not in stored_state(runtime, pid, 3)
    for value in (occupation, instrument):
        assert scan(database_url, value).found_in == []
    assert caught_up is True
    # Shown, decrypted, to those allowed to read the participant.
    assert history[2]["data"]["language"] == "ti"
    assert history[3]["data"]["instrument"] == instrument
    assert history[4]["data"]["occupation"] == occupation


def test_events_stored_with_these_fields_in_clear_still_load_project_and_export(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    database_url: str,
    fresh_runtime: Any,
    cli_env: None,
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:10]
    occupation, instrument = f"Occcanary{tag}", f"Inscanary{tag}"
    with old_classification():
        pid = journey(client, auth, occupation, instrument)
    assert stored_state(runtime, pid, 5)["occupation"] == occupation  # the old shape, in clear
    auditor = Principal("a", Role.AUDITOR, "*")
    other = fresh_runtime().journeys  # another process: nothing decoded in memory

    participant = other.participant_for_reading(auditor, uuid.UUID(pid))
    events = list(other.history(uuid.UUID(pid)))
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    caught_up = read_models_caught_up(database_url)
    timeline = client.get(f"/participants/{pid}/timeline", headers=auth())
    with_ids = bundle_events(
        pid, tmp_path / "with.zip", "--with-personal-data", "--purpose", "Art. 15 request"
    )
    without_ids = bundle_events(pid, tmp_path / "without.zip")  # pseudonymised by default

    assert participant.internship_since is not None
    assert participant.language_level == "A2"
    assert events[4].occupation == occupation  # type: ignore[attr-defined]
    assert events[2].language == "ti"  # type: ignore[attr-defined]
    assert history[4]["data"]["occupation"] == occupation
    assert history[3]["data"]["instrument"] == instrument
    assert caught_up is True
    assert timeline.status_code == 200
    assert len(timeline.json()["entries"]) == 5
    assert occupation not in timeline.text  # summaries carry no identifying values
    assert [c for c in scan(database_url, occupation).found_in if c.table.startswith("rm_")] == []
    assert with_ids[4]["data"]["occupation"] == occupation
    assert without_ids[4]["data"]["occupation"] is None
    assert "occupation" in without_ids[4]["withheld_fields"]


def test_a_correction_of_an_old_clear_occupation_is_sealed(
    client: TestClient, auth: Auth, runtime: Runtime, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    with old_classification():
        pid = journey(client, auth, f"Occcanary{tag}", "telc")
    corrected = f"Corcanary{tag}"

    milestone(
        client,
        auth,
        pid,
        {
            "type": "EntryCorrected",
            "effective_date": "2021-04-02",
            "corrects_version": 5,
            "reason": "falscher Beruf",
            "changes": {"occupation": corrected},
        },
    )
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]

    assert stored_state(runtime, pid, 6)["_sealed_changes"] == ["occupation"]
    assert scan(database_url, corrected).found_in == []
    assert history[5]["data"]["changes"] == {"occupation": corrected}


def test_after_erasure_an_old_clear_occupation_reads_as_erased(
    client: TestClient,
    auth: Auth,
    fresh_runtime: Any,
) -> None:
    tag = uuid.uuid4().hex[:10]
    occupation = f"Occcanary{tag}"
    with old_classification():
        pid = journey(client, auth, occupation, "telc")

    assert erase(client, coordinator(auth), pid).status_code == 200
    history = client.get(f"/participants/{pid}/history", headers=coordinator(auth))
    other = fresh_runtime().journeys.history(uuid.UUID(pid))

    assert history.status_code == 200, history.text
    assert occupation not in history.text
    internship = history.json()["events"][4]
    assert internship["data"]["occupation"] is None
    assert internship["erased_fields"] == ["occupation"]
    assert list(other)[4].occupation is None  # type: ignore[attr-defined]
