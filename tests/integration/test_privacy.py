"""Privacy: encryption at rest, crypto-shredding, restriction, retention, key rotation.

Against real PostgreSQL (embedded or ``DATABASE_URL``). The raw scans read every
column of every table the database holds, so read models added later are covered
by the same assertions.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import io
import uuid
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import MapperDeserialisationError
from fastapi.testclient import TestClient

from lotse.api.cli import main
from lotse.api.privacy_cli import apply_retention, plan_retention, rotate
from lotse.api.routes.participants import request_key
from lotse.api.runtime import Runtime
from lotse.api.schemas import ParticipantCreate
from lotse.api.settings import MASTER_KEY_FILE, Settings
from lotse.api.views import history_entry, participant_public
from lotse.domain.access import Principal, Role
from lotse.storage.keys import MasterKey, MasterKeyError
from lotse.storage.recorder import LotseRecorder
from lotse.storage.rotation import keys_not_under
from tests.builders.api import Auth, registration
from tests.builders.journeys import AMINA
from tests.builders.privacy import (
    CANARY_BIRTH_DATE,
    FAR_FUTURE,
    canary,
    coordinator,
    erase,
    milestone,
    register,
    register_canary,
    wrapped_key,
)
from tests.privacy_scan import read_models_caught_up, scan

PROBLEM = "application/problem+json"


# ------------------------------------------------------------------ the scanner


def test_scanner_finds_a_value_stored_in_clear_in_any_column_type(
    runtime: Runtime, database_url: str
) -> None:
    given, _ = canary()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA scan_probe")
        conn.execute("CREATE TABLE scan_probe.leak (t text, j jsonb, b bytea, a text[], n int)")
        conn.execute(
            "INSERT INTO scan_probe.leak VALUES (%s, %s::jsonb, %s, %s, 1)",
            (
                f"x {given} y",
                f'{{"name": "{given.upper()}"}}',
                b"\x00\x01" + given.encode() + b"\xff",
                ["a", given],
            ),
        )
    try:
        result = scan(database_url, given)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA scan_probe CASCADE")

    assert {str(c) for c in result.found_in} == {
        "scan_probe.leak.t",
        "scan_probe.leak.j",
        "scan_probe.leak.b",
        "scan_probe.leak.a",
    }


# ---------------------------------------------------------------- at rest


def test_canary_is_nowhere_in_clear_in_any_table(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    pid, given, family, employer = register_canary(client, auth)
    read_models = read_models_caught_up(database_url)

    shown = client.get(f"/participants/{pid}", headers=auth()).json()
    findings = {value: scan(database_url, value) for value in (given, family, employer)}
    birth_date = scan(database_url, CANARY_BIRTH_DATE)

    # The values are stored (they decrypt) ...
    assert (shown["given_name"], shown["family_name"]) == (given, family)
    # ... yet no column of any table holds them in clear.
    for value, result in findings.items():
        assert result.found_in == [], f"{value[:9]}... found in {result.found_in}"
    assert birth_date.found_in == []
    assert findings[given].covers("lotse_events", "state")
    assert findings[given].covers("lotse_participant_keys", "wrapped_key")
    # Read models are scanned too, once they have projected the canary's events.
    if read_models is not None:
        assert read_models, "a read model stopped or lags: its tables would prove nothing"
        assert any(c.table.startswith("rm_") for c in findings[given].scanned)


def name_index_entries(settings: Settings, name: str) -> list[bytes]:
    """What the participants read model's blind index stores for ``name`` (if it exists)."""
    if importlib.util.find_spec("lotse.projections.crypto") is None:
        return []
    crypto = importlib.import_module("lotse.projections.crypto")
    entries: list[bytes] = crypto.search_terms(
        crypto.index_key(MasterKey.from_text(settings.master_key)), name
    )
    return entries


# ---------------------------------------------------------------- erasure


def test_erasure_leaves_no_trace_and_keeps_the_statistics(
    client: TestClient, auth: Auth, database_url: str, settings: Settings
) -> None:
    pid, given, family, employer = register_canary(client, auth)
    old_key = wrapped_key(database_url, pid)
    assert old_key is not None
    # Keyed hashes of the names (a read model's search index) are traces as well:
    # with the master key they confirm a guessed name.
    index_entries = name_index_entries(settings, f"{given} {family}")
    if read_models_caught_up(database_url) and index_entries:
        assert all(scan(database_url, entry).found_in for entry in index_entries)

    response = erase(client, coordinator(auth), pid)
    read_models = read_models_caught_up(database_url)

    assert response.status_code == 200, response.text
    assert response.json()["changed"] is True
    assert read_models is not False
    for value in (given, family, employer, CANARY_BIRTH_DATE, old_key, *index_entries):
        assert scan(database_url, value).found_in == []
    state = client.get(f"/participants/{pid}", headers=auth()).json()
    assert state["personal_data_erased"] is True
    assert (state["given_name"], state["family_name"], state["birth_date"]) == (None, None, None)
    assert (state["birth_year"], state["gender"], state["age_at_intake"]) == (1999, "female", 22)
    assert [m["module"] for m in state["open_modules"]] == ["F4"]
    assert state["internship_since"] == "2021-04-01"
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]
    erased = {e["type"]: e["erased_fields"] for e in history}
    assert set(erased["Registered"]) == {"given_name", "family_name", "birth_date"}
    assert erased["EligibilityAssessed"] == ["justification"]
    assert erased["InternshipStarted"] == ["employer_name", "occupation"]
    assert erased["EntryCorrected"] == ["reason", "changes.family_name"]
    assert history[-1]["type"] == "PersonalDataErased"
    assert history[-1]["data"] == {"mode": "shred", "reason_code": "participant_request"}


def test_erasure_leaves_no_hash_of_the_request_bodies_behind(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    # Idempotency-Key claims keep a fingerprint (a hash) of each request body, and the
    # bodies held the identifiers: a guess could be confirmed against it.
    given, family = canary()
    body = registration(given_name=given, family_name=family, birth_date=CANARY_BIRTH_DATE)
    headers = {**auth(), "Idempotency-Key": f"intake-{given}"}
    pid = client.post("/participants", json=body, headers=headers).json()["id"]
    principal = Principal("caseworker-caritas-ahlen", Role.CASEWORKER, "caritas-ahlen")
    claim = request_key(
        principal, "k", "register", "/participants", ParticipantCreate.model_validate(body)
    )
    assert claim is not None
    assert scan(database_url, claim.fingerprint).found_in != []

    assert erase(client, coordinator(auth), pid).status_code == 200

    assert scan(database_url, claim.fingerprint).found_in == []
    # A late retry of the registration must not register the person again.
    retry = client.post("/participants", json=body, headers=headers)
    assert retry.status_code == 422
    assert client.get(f"/participants/{pid}", headers=auth()).status_code == 200


def _export_bytes(pid: str, path: Path) -> bytes:
    """Every file of ``lotse audit export`` for one participant, concatenated."""
    command = ["audit", "export", "--participant", pid, "-o", str(path)]
    assert main([*command, "--with-personal-data", "--purpose", "Art. 15 request"]) == 0
    with zipfile.ZipFile(path) as bundle:
        return b"".join(bundle.read(name) for name in bundle.namelist())


def test_exports_after_erasure_hold_no_trace(
    client: TestClient, auth: Auth, cli_env: None, tmp_path: Path
) -> None:
    pid, given, family, employer = register_canary(client, auth)
    before = _export_bytes(pid, tmp_path / "before.zip")
    assert given.encode() in before  # an auditor's export shows identifiers until erasure

    assert erase(client, coordinator(auth), pid).status_code == 200
    after = _export_bytes(pid, tmp_path / "after.zip")

    for value in (given, family, employer, CANARY_BIRTH_DATE):
        assert value.encode() not in after
    assert pid.encode() in after


def test_second_erasure_changes_nothing_and_says_so(client: TestClient, auth: Auth) -> None:
    pid = register(client, auth)
    first = erase(client, coordinator(auth), pid)

    second = erase(client, coordinator(auth), pid)

    assert second.status_code == 200
    assert second.json()["changed"] is False
    assert second.json()["version"] == first.json()["version"]
    assert "nothing to do" in second.json()["detail"]


def test_destroyed_key_reads_as_erased_in_a_fresh_process(
    client: TestClient, auth: Auth, fresh_runtime: Any
) -> None:
    pid, *_ = register_canary(client, auth)
    assert erase(client, coordinator(auth), pid).status_code == 200
    journeys = fresh_runtime().journeys
    principal = Principal("a", Role.AUDITOR, "*")

    participant = journeys.participant_for_reading(principal, uuid.UUID(pid))
    events = list(journeys.history(uuid.UUID(pid)))

    assert participant.given_name is None
    assert participant.family_name is None
    assert participant.birth_year == 1999
    registered = events[0]
    assert registered.given_name is None  # type: ignore[attr-defined]
    assert set(registered._erased) == {"given_name", "family_name", "birth_date"}  # type: ignore[attr-defined]


def test_an_erasure_made_by_another_process_is_honoured_by_one_that_held_the_key(
    client: TestClient, auth: Auth, fresh_runtime: Any
) -> None:
    # Another API worker, or the retention job, has the key in memory from an
    # earlier read when this process erases: its next read must not decrypt.
    pid, given, family, employer = register_canary(client, auth)
    other = fresh_runtime().journeys
    auditor = Principal("a", Role.AUDITOR, "*")
    before = list(other.history(uuid.UUID(pid)))
    assert before[0].given_name == given  # type: ignore[attr-defined]
    assert other.participant_for_reading(auditor, uuid.UUID(pid)).given_name == given

    assert erase(client, coordinator(auth), pid).status_code == 200
    history = [history_entry(e) for e in other.history(uuid.UUID(pid))]
    state = participant_public(other.participant_for_reading(auditor, uuid.UUID(pid)))

    shown = repr(history) + repr(state)
    for secret in (given, family, employer):
        assert secret not in shown
    assert "given_name" in history[0].erased_fields
    assert state.given_name is None


def test_key_destroyed_without_an_erasure_event_still_reads_as_erased(
    client: TestClient, auth: Auth, database_url: str, fresh_runtime: Any
) -> None:
    # A key lost or destroyed by hand (no PersonalDataErased event) must not
    # turn every read of the participant into an error.
    pid, *_ = register_canary(client, auth)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE lotse_participant_keys SET wrapped_key = NULL, master_key_id = NULL,"
            " destroyed_at = now() WHERE participant_id = %s",
            (pid,),
        )
    journeys = fresh_runtime().journeys
    principal = Principal("caseworker-caritas-ahlen", Role.CASEWORKER, "caritas-ahlen")

    state = participant_public(journeys.participant_for_reading(principal, uuid.UUID(pid)))
    history = [history_entry(e) for e in journeys.history(uuid.UUID(pid))]

    assert state.given_name is None
    assert state.gender == "female"
    assert "given_name" in history[0].erased_fields
    assert history[1].erased_fields == ["justification"]


def register_directly(runtime: Runtime) -> str:
    """Register through the application: as another process would, without an app."""
    principal = Principal("caseworker-caritas-ahlen", Role.CASEWORKER, "caritas-ahlen")
    recorded = runtime.journeys.register(
        principal,
        f"test-{uuid.uuid4().hex[:8]}",
        programme="durchstarten",
        provider="caritas-ahlen",
        intake_date=date(2021, 3, 1),
        **AMINA,
    )
    return str(recorded.participant_id)


# ---------------------------------------------------------------- tampering


def _swap_sealed(database_url: str, first: str, second: str) -> None:
    """Swap the ``_sealed`` ciphertext of two participants' Registered rows, in SQL."""
    with psycopg.connect(database_url) as conn:
        conn.execute("SET session_replication_role = replica")  # an insider skips the guard
        conn.execute(
            "WITH docs AS ("
            "  SELECT originator_id, convert_from(state, 'UTF8')::jsonb AS doc"
            "  FROM lotse_events WHERE originator_version = 1"
            "  AND originator_id = ANY(%(ids)s::uuid[]))"
            " UPDATE lotse_events e SET state = convert_to(jsonb_set("
            "   mine.doc, '{_sealed}', theirs.doc -> '_sealed')::text, 'UTF8')"
            " FROM docs mine, docs theirs"
            " WHERE e.originator_id = mine.originator_id AND e.originator_version = 1"
            " AND theirs.originator_id <> mine.originator_id",
            {"ids": [first, second]},
        )


def test_ciphertext_moved_to_another_participant_fails_loudly(
    client: TestClient, auth: Auth, runtime: Runtime, database_url: str
) -> None:
    victim, victim_given, victim_family, _ = register_canary(client, auth)
    other = register(client, auth, given_name="Other", family_name="Person")

    _swap_sealed(database_url, victim, other)
    response = client.get(f"/participants/{other}", headers=auth())

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["rule"] == "record-integrity"
    assert victim_given not in response.text
    assert victim_family not in response.text
    with pytest.raises(MapperDeserialisationError):
        list(runtime.journeys.history(uuid.UUID(other)))
    history = client.get(f"/participants/{victim}/history", headers=auth())
    assert history.status_code == 500
    assert "Other" not in history.text


def test_ciphertext_moved_to_another_version_of_the_same_participant_fails(
    client: TestClient, auth: Auth, runtime: Runtime, database_url: str
) -> None:
    pid, *_ = register_canary(client, auth)
    with psycopg.connect(database_url) as conn:
        conn.execute("SET session_replication_role = replica")  # an insider skips the guard
        # Registered (version 1) gets the sealed justification of version 2.
        conn.execute(
            "UPDATE lotse_events e SET state = convert_to(jsonb_set("
            "  convert_from(e.state, 'UTF8')::jsonb, '{_sealed}',"
            "  convert_from(s.state, 'UTF8')::jsonb -> '_sealed')::text, 'UTF8')"
            " FROM lotse_events s WHERE e.originator_id = %(id)s AND e.originator_version = 1"
            " AND s.originator_id = %(id)s AND s.originator_version = 2",
            {"id": pid},
        )

    with pytest.raises(MapperDeserialisationError):
        list(runtime.journeys.history(uuid.UUID(pid)))


# ------------------------------------------------------------ who may erase


@pytest.mark.parametrize(
    ("role", "org", "status"),
    [
        ("caseworker", "caritas-ahlen", 403),
        ("coordinator", "koeln", 404),
        ("funder", "*", 403),
        ("auditor", "*", 403),
        ("coordinator", "warendorf", 200),
        ("admin", "*", 200),
    ],
)
def test_only_the_own_coordinator_or_an_admin_may_erase(
    client: TestClient, auth: Auth, database_url: str, role: str, org: str, status: int
) -> None:
    pid = register(client, auth)

    response = erase(client, auth(role, org), pid)

    assert response.status_code == status, response.text
    if status != 200:
        assert response.headers["content-type"] == PROBLEM
    assert (wrapped_key(database_url, pid) is None) == (status == 200)


# --------------------------------------------------------------- restriction


def test_restriction_stops_processing_and_leaves_reading_to_auditors(
    client: TestClient, auth: Auth, database_url: str
) -> None:
    pid = register(client, auth)

    response = erase(client, coordinator(auth), pid, mode="restrict")

    assert response.status_code == 200
    assert response.json()["changed"] is True
    for headers in (auth(), coordinator(auth), auth("admin", "*")):
        refused = client.get(f"/participants/{pid}", headers=headers)
        assert refused.status_code == 403
        assert refused.json()["rule"] == "processing-restricted"
    auditor = auth("auditor", "warendorf")
    state = client.get(f"/participants/{pid}", headers=auditor).json()
    assert (state["restricted"], state["given_name"]) == (True, "Amina")
    assert client.get(f"/participants/{pid}/history", headers=auditor).status_code == 200
    body = {"type": "LanguageLevelAssessed", "effective_date": "2021-03-05", "level": "A1"}
    refused = client.post(f"/participants/{pid}/milestones", json=body, headers=auth())
    assert refused.status_code == 409
    assert refused.json()["rule"] == "processing-restricted"
    assert wrapped_key(database_url, pid) is not None
    again = erase(client, coordinator(auth), pid, mode="restrict")
    assert again.json()["changed"] is False


def test_retention_shreds_a_restricted_participant(
    client: TestClient, auth: Auth, runtime: Runtime, database_url: str
) -> None:
    pid = register(client, auth)
    assert erase(client, coordinator(auth), pid, mode="restrict").status_code == 200

    plan = plan_retention(runtime, date.fromisoformat(FAR_FUTURE))
    outcome = apply_retention(runtime, plan.candidates)

    assert [(str(c.participant_id), c.restricted) for c in plan.candidates] == [(pid, True)]
    assert (outcome.erased, outcome.already_erased, outcome.failed) == (1, 0, [])
    assert wrapped_key(database_url, pid) is None
    state = client.get(f"/participants/{pid}", headers=auth("auditor", "*")).json()
    assert (state["personal_data_erased"], state["restricted"], state["given_name"]) == (
        True,
        False,
        None,
    )
    history = client.get(f"/participants/{pid}/history", headers=auth("auditor", "*")).json()
    last = history["events"][-1]
    assert last["data"] == {"mode": "shred", "reason_code": "retention_expired"}
    assert last["recorded_by"] == {"user": "lotse-retention", "role": "admin"}


# ----------------------------------------------------------------- retention


def _dataset(client: TestClient, auth: Auth) -> dict[str, str]:
    ids = {
        "warendorf": register(client, auth),
        "koeln": register(client, auth, provider="caritas-koeln"),
        "erased": register(client, auth),
        "transferred": register(client, auth),
    }
    assert erase(client, coordinator(auth), ids["erased"]).status_code == 200
    milestone(
        client,
        auth,
        ids["transferred"],
        {"type": "CaseTransferred", "effective_date": "2021-03-05", "to_provider": "caritas-koeln"},
    )
    return ids


def test_retention_lists_nobody_before_the_retention_end(
    client: TestClient, auth: Auth, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _dataset(client, auth)

    code = main(["privacy", "retention", "--today", "2028-06-30"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "retention ends 2028-06-30 (not yet reached)" in out
    assert "due for shredding on 2028-06-30: 0 participant(s)" in out


def test_retention_lists_due_participants_by_programme_and_current_municipality(
    client: TestClient, auth: Auth, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _dataset(client, auth)

    code = main(["privacy", "retention", "--today", "2028-07-01"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "due for shredding on 2028-07-01: 3 participant(s)" in out
    assert "durchstarten / koeln: 2 (0 restricted)" in out
    assert "durchstarten / warendorf: 1 (0 restricted)" in out
    for name in ("warendorf", "koeln", "transferred"):
        assert ids[name] in out
    assert ids["erased"] not in out
    assert "Amina" not in out
    assert "Haidari" not in out


def test_retention_apply_with_a_future_date_needs_explicit_consent(
    client: TestClient, auth: Auth, cli_env: None, database_url: str
) -> None:
    ids = _dataset(client, auth)

    code = main(["privacy", "retention", "--apply", "--today", FAR_FUTURE])

    assert code == 2
    assert wrapped_key(database_url, ids["warendorf"]) is not None


def test_retention_apply_shreds_every_due_participant_and_summarises(
    client: TestClient,
    auth: Auth,
    cli_env: None,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _dataset(client, auth)

    code = main(["privacy", "retention", "--apply", "--today", FAR_FUTURE, "--allow-future-date"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "erased 3, already erased 0, failed 0" in out
    assert "key table scrubbed (VACUUM FULL)" in out
    for pid in ids.values():
        assert wrapped_key(database_url, pid) is None
    state = client.get(f"/participants/{ids['koeln']}", headers=auth("admin", "*")).json()
    assert state["personal_data_erased"] is True
    assert main(["privacy", "retention", "--today", FAR_FUTURE]) == 0
    assert "0 participant(s)" in capsys.readouterr().out


def test_retention_counts_participants_erased_meanwhile_as_already_erased(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    pid = register(client, auth)
    plan = plan_retention(runtime, date.fromisoformat(FAR_FUTURE))
    assert erase(client, coordinator(auth), pid).status_code == 200

    outcome = apply_retention(runtime, plan.candidates)

    assert (outcome.erased, outcome.already_erased, outcome.failed) == (0, 1, [])


def test_retention_reports_a_failure_by_id_and_carries_on(
    client: TestClient, auth: Auth, runtime: Runtime, database_url: str
) -> None:
    pid = register(client, auth)
    plan = plan_retention(runtime, date.fromisoformat(FAR_FUTURE))
    missing = dataclasses.replace(plan.candidates[0], participant_id=uuid.uuid4())
    err = io.StringIO()

    outcome = apply_retention(runtime, [missing, *plan.candidates], err=err)

    assert (outcome.erased, outcome.already_erased, outcome.failed) == (
        1,
        0,
        [missing.participant_id],
    )
    assert err.getvalue() == f"failed: {missing.participant_id}: ParticipantNotFoundError\n"
    assert wrapped_key(database_url, pid) is None


def test_vacuum_after_shredding_removes_the_key_bytes_from_the_table_file(
    client: TestClient, auth: Auth, cli_env: None, database_url: str
) -> None:
    pid = register(client, auth)
    old_key = wrapped_key(database_url, pid)
    assert old_key is not None

    assert (
        main(["privacy", "retention", "--apply", "--today", FAR_FUTURE, "--allow-future-date"]) == 0
    )

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        row = conn.execute(
            "SELECT current_setting('data_directory'),"
            " pg_relation_filepath('lotse_participant_keys')"
        ).fetchone()
    assert row is not None
    table_file = Path(row[0]) / row[1]
    if not table_file.is_file():
        pytest.skip("the server's data directory is not readable from here")
    assert old_key not in table_file.read_bytes()


# ------------------------------------------------------------- key rotation


def _recorder(runtime: Runtime) -> LotseRecorder:
    recorder = runtime.journeys.recorder
    assert isinstance(recorder, LotseRecorder)
    return recorder


def _event_rows(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM lotse_events"
            " ORDER BY originator_id, originator_version"
        ).fetchall()


def _key_rows(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT participant_id, wrapped_key, master_key_id FROM lotse_participant_keys"
            " ORDER BY participant_id"
        ).fetchall()


def _names(runtime: Runtime, pids: list[str]) -> list[tuple[Any, Any]]:
    """Each participant's given name from the history and family name from the state."""
    principal = Principal("a", Role.AUDITOR, "*")
    names = []
    for pid in pids:
        registered = next(iter(runtime.journeys.history(uuid.UUID(pid))))
        state = runtime.journeys.participant_for_reading(principal, uuid.UUID(pid))
        names.append((getattr(registered, "given_name", None), state.family_name))
    return names


def test_rotation_rewraps_every_key_and_changes_nothing_else(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    settings: Settings,
    database_url: str,
    fresh_runtime: Any,
) -> None:
    pids = [register_canary(client, auth)[0] for _ in range(3)]
    erased = register(client, auth)
    assert erase(client, coordinator(auth), erased).status_code == 200
    names_before = _names(fresh_runtime(), pids)
    events_before = _event_rows(database_url)
    old = MasterKey.from_text(settings.master_key)
    new = MasterKey.generate()

    summary = rotate(settings, runtime, new, io.StringIO())

    assert (summary.rewrapped, summary.already_rotated, summary.destroyed) == (3, 0, 1)
    assert _event_rows(database_url) == events_before
    keys = [(uuid.UUID(str(p)), bytes(w), m) for p, w, m in _key_rows(database_url) if w]
    assert len(keys) == 3
    for participant_id, wrapped, key_id in keys:
        assert key_id == new.key_id
        with pytest.raises(MasterKeyError):
            old.unwrap(participant_id, wrapped)
        new.unwrap(participant_id, wrapped)
    assert _names(fresh_runtime(master_key=new.to_text()), pids) == names_before
    assert all(given and family for given, family in names_before)


def test_after_rotation_new_participants_get_keys_under_the_new_master_key(
    client: TestClient, auth: Auth, runtime: Runtime, settings: Settings, database_url: str
) -> None:
    new = MasterKey.generate()
    rotate(settings, runtime, new, io.StringIO())

    pid = register(client, auth)

    key = wrapped_key(database_url, pid)
    assert key is not None
    new.unwrap(uuid.UUID(pid), key)


def test_rotation_cli_leaves_the_environment_key_to_the_operator(
    client: TestClient,
    auth: Auth,
    cli_env: None,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fresh_runtime: Any,
) -> None:
    pid, given, *_ = register_canary(client, auth)
    new = MasterKey.generate()
    key_file = tmp_path / "new.env"
    # What ``lotse privacy new-key > new.env`` writes.
    key_file.write_text(f"LOTSE_MASTER_KEY={new.to_text()}\nLOTSE_SECRET_KEY={'s' * 48}\n")

    code = main(["privacy", "rotate-master-key", "--new-key-file", str(key_file)])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "re-wrapped 1 data key(s)" in out
    assert "set LOTSE_MASTER_KEY" in out
    assert new.to_text() not in out
    journeys = fresh_runtime(master_key=new.to_text()).journeys
    assert next(iter(journeys.history(uuid.UUID(pid)))).given_name == given  # type: ignore[attr-defined]


def test_rotation_in_embedded_mode_replaces_the_key_file(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOTSE_MASTER_KEY", raising=False)
    key_file = settings.data_dir / MASTER_KEY_FILE
    key_file.write_text(settings.master_key)
    register(client, auth)
    embedded = dataclasses.replace(settings, database_url=None)
    new = MasterKey.generate()

    rotate(embedded, runtime, new, io.StringIO())

    assert MasterKey.from_text(key_file.read_text()) == new
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in settings.data_dir.iterdir()) == [MASTER_KEY_FILE]


def test_rotation_in_embedded_mode_finishes_an_interrupted_rotation_first(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOTSE_MASTER_KEY", raising=False)
    (settings.data_dir / MASTER_KEY_FILE).write_text(settings.master_key)
    unfinished = MasterKey.generate()
    pending = settings.data_dir / f"{MASTER_KEY_FILE}.rotating"
    pending.write_text(unfinished.to_text())
    embedded = dataclasses.replace(settings, database_url=None)

    with pytest.raises(MasterKeyError, match="unfinished rotation"):
        rotate(embedded, runtime, MasterKey.generate(), io.StringIO())

    assert MasterKey.from_text(pending.read_text()) == unfinished
    rotate(embedded, runtime, unfinished, io.StringIO())
    assert not pending.exists()
    assert MasterKey.from_text((settings.data_dir / MASTER_KEY_FILE).read_text()) == unfinished


def test_rotation_cli_rejects_a_malformed_new_key(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["privacy", "rotate-master-key", "--new-key", "not-a-key"])

    assert code == 2
    assert "32 random bytes" in capsys.readouterr().err


def test_rotation_refuses_and_changes_nothing_when_a_key_is_under_a_third_master_key(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    settings: Settings,
    database_url: str,
    fresh_runtime: Any,
) -> None:
    register(client, auth)
    register_directly(fresh_runtime(master_key=MasterKey.generate().to_text()))
    before = _key_rows(database_url)

    with pytest.raises(MasterKeyError):
        rotate(settings, runtime, MasterKey.generate(), io.StringIO())

    assert _key_rows(database_url) == before


def test_keys_written_by_a_stale_process_are_reported_and_a_second_run_rewraps_them(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    settings: Settings,
    database_url: str,
    fresh_runtime: Any,
) -> None:
    register(client, auth)
    old_text = settings.master_key
    new = MasterKey.generate()
    # A process that was not stopped still holds the old master key.
    stale = fresh_runtime()
    rotate(settings, runtime, new, io.StringIO())
    late = register_directly(stale)
    report = io.StringIO()

    again = rotate(settings, fresh_runtime(master_key=old_text), new, report)

    assert "warning" not in report.getvalue()
    assert (again.rewrapped, again.already_rotated, again.stragglers) == (1, 1, 0)
    new.unwrap(uuid.UUID(late), wrapped_key(database_url, late) or b"")
    assert {m for _, _, m in _key_rows(database_url)} == {new.key_id}


def test_keys_written_under_the_old_master_key_after_rotation_are_counted(
    client: TestClient, auth: Auth, runtime: Runtime, settings: Settings, fresh_runtime: Any
) -> None:
    register(client, auth)
    stale = fresh_runtime()
    new = MasterKey.generate()
    rotate(settings, runtime, new, io.StringIO())
    assert keys_not_under(_recorder(runtime).keys, new) == 0

    register_directly(stale)

    assert keys_not_under(_recorder(runtime).keys, new) == 1


def test_new_key_prints_a_master_key_and_a_token_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["privacy", "new-key"])

    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    assert code == 0
    MasterKey.from_text(lines["LOTSE_MASTER_KEY"])
    assert len(lines["LOTSE_SECRET_KEY"]) >= 32
