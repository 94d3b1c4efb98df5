"""Tamper evidence on by default, including the tail (issue 9, item 3).

Each test tampers with the database as an insider with superuser rights would
(skipping the append-only guard with ``session_replication_role = replica``) and
expects Lotse to notice: through automatic checkpoints, witnesses kept outside the
database, the checkpoints' coverage of the read-access log and the key table, and
the read path's check of every loaded event against its chain entry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.demo import seed
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role
from lotse.domain.vocabulary import ErasureMode
from lotse.storage.access_log import AccessEntry
from lotse.storage.chain import chain_rows
from lotse.storage.checkpoints import Checkpoint, Checkpointer, Checkpoints, new_signing_key_text
from lotse.storage.log_head import head_query
from lotse.storage.verification import VerificationReport, run_verification
from tests.builders.api import Auth, registration
from tests.builders.journeys import AMINA

ADMIN = Principal("admin", Role.ADMIN, ALL_ORGANISATIONS)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, audit_signing_key=new_signing_key_text(), checkpoint_seconds=1
    )


@pytest.fixture
def cli(runtime: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("DATABASE_URL", runtime.database.url)
    monkeypatch.setenv("LOTSE_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("LOTSE_MASTER_KEY", settings.master_key)
    monkeypatch.setenv("LOTSE_AUDIT_SIGNING_KEY", settings.audit_signing_key)
    return runtime


def checkpoints(runtime: Runtime) -> Checkpoints:
    assert runtime.checkpoints is not None
    return runtime.checkpoints


def verify(runtime: Runtime, witnessed: list[Checkpoint] | None = None) -> VerificationReport:
    return asyncio.run(
        run_verification(
            runtime.database.url, checkpoints(runtime).public_key, witnessed=witnessed or []
        )
    )


def insider(database_url: str, statement: str, *params: Any) -> list[Any]:
    """SQL as a superuser who skips the append-only guard (as only an admin can)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        cursor = conn.execute(statement, params or None)
        return cursor.fetchall() if cursor.description else []


def head(database_url: str) -> int:
    return int(insider(database_url, head_query())[0][0])


def register(runtime: Runtime, residence_status: str = "duldung") -> UUID:
    recorded = runtime.journeys.register(
        ADMIN,
        f"req-{uuid4()}",
        programme="durchstarten",
        provider="caritas-ahlen",
        intake_date=date(2021, 3, 1),
        **{**AMINA, "residence_status": residence_status},
    )
    return UUID(str(recorded.participant_id))


def rewrite_residence_status(database_url: str, participant: UUID, *, rechain: bool) -> int:
    """Change a Registered event's residence status; with ``rechain``, recompute the chain."""
    position = int(
        insider(
            database_url,
            "UPDATE lotse_events SET state = convert_to(jsonb_set("
            " convert_from(state, 'UTF8')::jsonb, '{residence_status}', '\"gestattung\"')::text,"
            " 'UTF8') WHERE originator_id = %s AND originator_version = 1"
            " RETURNING notification_id",
            participant,
        )[0][0]
    )
    if rechain:
        previous = insider(
            database_url,
            "SELECT coalesce((SELECT chain_hash FROM lotse_event_chain WHERE notification_id < %s"
            " ORDER BY notification_id DESC LIMIT 1), decode(repeat('00', 32), 'hex'))",
            position,
        )[0][0]
        rows = insider(
            database_url,
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM lotse_events WHERE notification_id >= %s ORDER BY notification_id",
            position,
        )
        for notification_id, chain_hash in chain_rows(bytes(previous), rows):
            insider(
                database_url,
                "UPDATE lotse_event_chain SET chain_hash = %s WHERE notification_id = %s",
                chain_hash,
                notification_id,
            )
    return position


def wait_for_checkpoint_at(runtime: Runtime, position: int, timeout: float = 20.0) -> Checkpoint:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        newest = checkpoints(runtime).newest()
        if newest is not None and newest.position >= position:
            return newest
        time.sleep(0.1)
    pytest.fail(f"no automatic checkpoint reached position {position} within {timeout} s")


def cut_off_newest(database_url: str, events: int) -> None:
    """Delete the newest events with their chain rows and every checkpoint that names them."""
    cut = head(database_url) - events
    insider(database_url, "DELETE FROM lotse_events WHERE notification_id > %s", cut)
    insider(database_url, "DELETE FROM lotse_event_chain WHERE notification_id > %s", cut)
    insider(database_url, "DELETE FROM lotse_checkpoints WHERE position > %s", cut)


# ------------------------------------------------------------ automatic checkpoints


def test_automatic_checkpoint_catches_a_rewritten_residence_status_with_a_recomputed_chain(
    cli: Runtime, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    seed(cli.journeys, 3, batch=2)
    participant = register(cli)
    seed(cli.journeys, 2, batch=2, seed_value=7)
    wait_for_checkpoint_at(cli, head(database_url))  # nobody ran `lotse audit checkpoint`

    position = rewrite_residence_status(database_url, participant, rechain=True)
    status = main(["audit", "verify"])

    assert status == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert "checkpoint-mismatch" in out
    assert position <= head(database_url)


def test_the_checkpointer_signs_after_writes_and_stays_idle_without_them(
    runtime: Runtime, database_url: str
) -> None:
    seed(runtime.journeys, 1, batch=2)
    first = wait_for_checkpoint_at(runtime, head(database_url))

    time.sleep(2.5)  # more than two intervals without a write
    idle = checkpoints(runtime).newest()
    seed(runtime.journeys, 1, batch=2, seed_value=3)
    second = wait_for_checkpoint_at(runtime, head(database_url))

    assert idle == first
    assert second.id > first.id
    assert second.covers is not None


def test_only_one_process_signs_automatic_checkpoints(runtime: Runtime, database_url: str) -> None:
    # Three more signers on the same database, as three more API workers would run.
    others = [Checkpointer(checkpoints(runtime), 0.2) for _ in range(3)]
    for other in others:
        other.start()
    try:
        seed(runtime.journeys, 1, batch=2)
        wait_for_checkpoint_at(runtime, head(database_url))
        time.sleep(1.5)
    finally:
        for other in others:
            other.stop()

    signed = [c for c in checkpoints(runtime).all() if c.position == head(database_url)]

    assert len(signed) == 1


# --------------------------------------------------------------------- the tail


def test_newest_events_cut_off_with_their_chain_rows_are_found_with_the_witness_file(
    cli: Runtime, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    witness_key, witness_file = tmp_path / "witness.key", tmp_path / "witnessed.jsonl"
    witness_key.write_text(new_signing_key_text())
    seed(cli.journeys, 3, batch=2)
    checkpoints(cli).create()
    seed(cli.journeys, 2, batch=2, seed_value=9)
    checkpoints(cli).create()
    assert main(["audit", "witness", "--key", str(witness_key), "--out", str(witness_file)]) == 0
    cli.close()  # no signer running while the log is cut
    capsys.readouterr()

    cut_off_newest(database_url, 3)
    without_witness = main(["audit", "verify"])
    with_witness = main(["audit", "verify", "--witness", str(witness_file)])

    assert without_witness == 0  # the database alone no longer shows the cut
    assert with_witness == 1
    assert "events were removed" in capsys.readouterr().out


def test_deleting_the_newest_read_access_log_entries_is_found(
    runtime: Runtime, database_url: str
) -> None:
    access_log = runtime.access_log
    assert access_log is not None
    participant = register(runtime)
    access_log.record_many(
        AccessEntry("u", "caseworker", "caritas-ahlen", participant, "GET /x", None, 200, "r", at)
        for at in [datetime.now(UTC)] * 5
    )
    access_log.flush()
    checkpoints(runtime).create()
    assert verify(runtime).ok

    insider(database_url, "DELETE FROM lotse_access_log WHERE id > 3")
    report = verify(runtime)

    assert access_log.verify() == (3, None)  # what remains is a valid chain by itself
    assert [p.kind for p in report.problems] == ["access-log-mismatch"]


# ------------------------------------------------------------------- key table


def test_a_recorded_erasure_verifies_but_a_key_deleted_or_destroyed_outside_lotse_does_not(
    runtime: Runtime, database_url: str
) -> None:
    erased, deleted, destroyed = register(runtime), register(runtime), register(runtime)
    runtime.journeys.erase(ADMIN, "req", erased, mode=ErasureMode.SHRED, reason_code="other")
    checkpoints(runtime).create()
    assert verify(runtime).ok

    insider(database_url, "DELETE FROM lotse_participant_keys WHERE participant_id = %s", deleted)
    insider(
        database_url,
        "UPDATE lotse_participant_keys SET wrapped_key = NULL, master_key_id = NULL,"
        " destroyed_at = now() WHERE participant_id = %s",
        destroyed,
    )
    report = verify(runtime)

    assert sorted(p.kind for p in report.problems) == ["key-destroyed-unrecorded", "keys-mismatch"]


# ------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE lotse_events SET topic = topic",
        "DELETE FROM lotse_events",
        "TRUNCATE lotse_events",
        "UPDATE lotse_event_chain SET chain_hash = chain_hash",
        "DELETE FROM lotse_event_chain",
        "DELETE FROM lotse_checkpoints",
        "TRUNCATE lotse_access_log",
    ],
)
def test_the_append_only_guard_refuses_changes_to_the_log(
    runtime: Runtime, database_url: str, statement: str
) -> None:
    seed(runtime.journeys, 1, batch=2)
    checkpoints(runtime).create()

    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)  # type: ignore[arg-type]

    assert verify(runtime).ok


# ------------------------------------------------------------------ witnesses


def test_a_witness_refuses_a_checkpoint_that_does_not_extend_its_previous_head(
    cli: Runtime, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    witness_key, witness_file = tmp_path / "witness.key", tmp_path / "witnessed.jsonl"
    witness_key.write_text(new_signing_key_text())
    witness = ["audit", "witness", "--key", str(witness_key), "--out", str(witness_file)]
    participant = register(cli)
    seed(cli.journeys, 2, batch=2)
    checkpoints(cli).create()
    assert main(witness) == 0
    seed(cli.journeys, 1, batch=2, seed_value=4)
    checkpoints(cli).create()
    assert main(witness) == 0  # extends the first: accepted

    rewrite_residence_status(database_url, participant, rechain=True)
    seed(cli.journeys, 1, batch=2, seed_value=5)
    checkpoints(cli).create()  # signed over the rewritten chain, as an automatic signer would
    capsys.readouterr()
    status = main(witness)

    assert status == 1
    assert "REFUSED" in capsys.readouterr().out
    assert len(witness_file.read_text().splitlines()) == 2


def test_a_witnessed_line_that_was_edited_is_refused(
    cli: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    witness_key, witness_file = tmp_path / "witness.key", tmp_path / "witnessed.jsonl"
    witness_key.write_text(new_signing_key_text())
    seed(cli.journeys, 1, batch=2)
    checkpoints(cli).create()
    assert main(["audit", "witness", "--key", str(witness_key), "--out", str(witness_file)]) == 0
    line = json.loads(witness_file.read_text())
    line["checkpoint"]["position"] -= 1
    witness_file.write_text(json.dumps(line) + "\n")

    status = main(["audit", "verify", "--witness", str(witness_file)])

    assert status == 2
    assert "witness signature on line 1 does not hold" in capsys.readouterr().err


def test_a_witness_verifies_a_bundle_linked_to_a_witnessed_checkpoint(
    cli: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    witness_key, witness_file = tmp_path / "witness.key", tmp_path / "witnessed.jsonl"
    witness_key.write_text(new_signing_key_text())
    linked, unlinked = tmp_path / "linked.zip", tmp_path / "unlinked.zip"
    seed(cli.journeys, 3, batch=2)
    checkpoints(cli).create()  # an automatic checkpoint nobody witnessed
    seed(cli.journeys, 1, batch=2, seed_value=8)
    checkpoints(cli).create()
    assert main(["audit", "witness", "--key", str(witness_key), "--out", str(witness_file)]) == 0
    capsys.readouterr()
    assert main(["audit", "public-key"]) == 0
    public_key = capsys.readouterr().out.strip()
    export = ["audit", "export", "--municipality", "warendorf", "--without-identifiers"]
    assert main([*export, "-o", str(unlinked)]) == 0
    assert main([*export, "-o", str(linked), "--witnessed", str(witness_file)]) == 0

    verify_bundle = ["audit", "verify-bundle", "--public-key", public_key]
    witnessed = main([*verify_bundle, str(linked), "--witness", str(witness_file)])
    not_witnessed = main([*verify_bundle, str(unlinked), "--witness", str(witness_file)])

    assert (witnessed, not_witnessed) == (0, 1)
    assert "is not in the witness file" in capsys.readouterr().out


# --------------------------------------------------------------- the read path


@pytest.fixture
def fresh_client(runtime: Runtime, settings: Settings) -> Iterator[TestClient]:
    """A client of a second API process: nothing of the first one's memory."""
    second = build_runtime(settings, checkpointing=False)
    with TestClient(create_app(runtime=second)) as c:
        yield c
    second.close()


def test_a_tampered_row_makes_the_api_answer_500_record_integrity(
    client: TestClient,
    fresh_client: TestClient,
    auth: Auth,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = client.post("/participants", json=registration(), headers=auth())
    assert response.status_code == 201
    pid = response.json()["id"]

    rewrite_residence_status(database_url, UUID(pid), rechain=False)
    with caplog.at_level(logging.ERROR):
        state = fresh_client.get(f"/participants/{pid}", headers=auth())
        history = fresh_client.get(f"/participants/{pid}/history", headers=auth())

    for answer in (state, history):
        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["rule"] == "record-integrity"
        assert "gestattung" not in answer.text
    assert "record integrity" in caplog.text
    assert "Haidari" not in caplog.text
    assert "gestattung" not in caplog.text


def test_a_key_moved_from_another_participant_fails_verification(
    cli: Runtime, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    victim, other = register(cli), register(cli)
    checkpoints(cli).create()
    assert main(["audit", "verify"]) == 0

    insider(
        database_url,
        "UPDATE lotse_participant_keys SET wrapped_key = (SELECT wrapped_key"
        " FROM lotse_participant_keys WHERE participant_id = %s) WHERE participant_id = %s",
        other,
        victim,
    )
    status = main(["audit", "verify"])

    assert status == 1
    assert "1 participant key(s) do not open" in capsys.readouterr().out


def test_a_witness_refuses_a_checkpoint_whose_chain_does_not_link_from_its_head(
    cli: Runtime, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    witness_key, witness_file = tmp_path / "witness.key", tmp_path / "witnessed.jsonl"
    witness_key.write_text(new_signing_key_text())
    witness = ["audit", "witness", "--key", str(witness_key), "--out", str(witness_file)]
    seed(cli.journeys, 2, batch=2)
    checkpoints(cli).create()
    assert main(witness) == 0
    participant = register(cli)  # after the witnessed head
    seed(cli.journeys, 1, batch=2, seed_value=4)

    rewrite_residence_status(database_url, participant, rechain=False)
    checkpoints(cli).create()
    capsys.readouterr()
    status = main(witness)

    assert status == 1
    assert "between the witnessed head and the checkpoint" in capsys.readouterr().out


def test_another_process_takes_over_signing_when_the_signer_stops(
    runtime: Runtime, database_url: str
) -> None:
    assert runtime.checkpointer is not None
    runtime.checkpointer.stop()
    signers = [Checkpointer(checkpoints(runtime), 0.2) for _ in range(2)]
    for signer in signers:
        signer.start()
    try:
        seed(runtime.journeys, 1, batch=2)
        wait_for_checkpoint_at(runtime, head(database_url))
        owner = next(s for s in signers if s._owner)
        owner.stop()  # as if that worker shut down (a killed one's session ends too)

        seed(runtime.journeys, 1, batch=2, seed_value=3)
        taken_over = wait_for_checkpoint_at(runtime, head(database_url))
        other_signs = next(s for s in signers if s is not owner)._owner
    finally:
        for signer in signers:
            signer.stop()

    assert taken_over.position == head(database_url)
    assert other_signs
