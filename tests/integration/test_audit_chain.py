"""Tamper evidence on real PostgreSQL: the hash chain, signed checkpoints, verifiable bundles.

Every tampering test changes the database behind Lotse's back with plain SQL, as
someone with database access could, and expects verification to name the
position where it happened.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import zipfile
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from lotse.api.demo import seed
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import Settings
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role
from lotse.domain.vocabulary import ErasureMode
from lotse.storage.chain import GENESIS, chain_rows, encode_row, encode_row_sql, link
from lotse.storage.checkpoints import new_signing_key_text, signing_key_from_text
from lotse.storage.export import Criteria, Exporter, verify_bundle
from lotse.storage.log_head import head_query
from lotse.storage.verification import run_verification
from tests.builders.audit import checkpoints, verify
from tests.builders.journeys import AMINA

ADMIN = Principal("admin", Role.ADMIN, ALL_ORGANISATIONS)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, audit_signing_key=new_signing_key_text())


@pytest.fixture
def seeded(runtime: Runtime) -> Runtime:
    seed(runtime.journeys, 6, batch=2)
    return runtime


def sql(database_url: str, statement: str, *params: Any) -> list[Any]:
    """Run SQL as an insider with superuser rights, who skips the append-only guard."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        cursor = conn.execute(statement, params or None)
        return cursor.fetchall() if cursor.description else []


def head(database_url: str) -> int:
    return int(sql(database_url, head_query())[0][0])


# ------------------------------------------------------------------ the chain


def test_stored_chain_hashes_follow_the_documented_definition(
    seeded: Runtime, database_url: str
) -> None:
    rows = sql(
        database_url,
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM lotse_events ORDER BY notification_id",
    )
    stored = sql(
        database_url, "SELECT notification_id, chain_hash FROM lotse_event_chain ORDER BY 1"
    )

    assert chain_rows(GENESIS, rows) == stored
    assert len(stored) > 50


def test_single_event_saves_are_chained_by_the_same_definition(
    runtime: Runtime, database_url: str
) -> None:
    # One event per save takes the one-statement path, hashed by PostgreSQL.
    seed(runtime.journeys, 2, batch=1)
    for i in range(3):
        runtime.journeys.register(
            ADMIN,
            f"req-{i}",
            programme="durchstarten",
            provider="caritas-ahlen",
            intake_date=date(2021, 3, 1),
            **AMINA,
        )
    seed(runtime.journeys, 2, batch=1, seed_value=5)
    rows = sql(
        database_url,
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM lotse_events ORDER BY notification_id",
    )

    stored = sql(
        database_url, "SELECT notification_id, chain_hash FROM lotse_event_chain ORDER BY 1"
    )

    assert chain_rows(GENESIS, rows) == stored
    assert len(stored) == head(database_url)


def test_postgres_encodes_rows_exactly_like_the_python_reference(
    seeded: Runtime, database_url: str
) -> None:
    rows = sql(
        database_url,
        f"SELECT notification_id, originator_id, originator_version, topic, state, "
        f"{encode_row_sql('e')} FROM lotse_events e ORDER BY notification_id LIMIT 20",
    )

    assert all(encode_row(*row[:5]) == bytes(row[5]) for row in rows)


def test_a_clean_log_verifies_every_event(seeded: Runtime, database_url: str) -> None:
    checkpoints(seeded).create()

    report = verify(seeded)

    assert report.ok, report.problems
    assert report.verified == head(database_url)
    assert report.checkpoints_checked == 1


def test_concurrent_writers_never_fork_the_chain(runtime: Runtime) -> None:
    threads = [
        threading.Thread(target=seed, args=(runtime.journeys, 8), kwargs={"seed_value": i})
        for i in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    report = verify(runtime)

    assert report.ok, report.problems
    assert report.verified > 100


def test_two_processes_writing_in_turn_keep_one_chain(runtime: Runtime, settings: Settings) -> None:
    # Each recorder remembers the head it wrote; the other's writes must be noticed.
    other = build_runtime(settings)
    try:
        for i in range(3):
            seed(runtime.journeys, 2, seed_value=i)
            seed(other.journeys, 2, seed_value=10 + i)
    finally:
        other.close()

    report = verify(runtime)

    assert report.ok, report.problems


def test_events_from_before_the_chain_are_chained_at_start(
    runtime: Runtime, settings: Settings, database_url: str
) -> None:
    seed(runtime.journeys, 3)
    sql(database_url, "TRUNCATE lotse_event_chain")  # as if written before the chain existed

    restarted = build_runtime(settings)
    try:
        report = verify(restarted)
    finally:
        restarted.close()

    assert report.ok, report.problems
    assert report.verified == head(database_url)


def test_erasure_by_key_destruction_keeps_the_chain_intact(seeded: Runtime) -> None:
    checkpoints(seeded).create()
    participant = next(iter(seeded.journeys.recorder.select_notifications(1, 1))).originator_id

    seeded.journeys.erase(
        ADMIN, "req", UUID(str(participant)), mode=ErasureMode.SHRED, reason_code="other"
    )

    assert verify(seeded).ok


# ------------------------------------------------------------------ tampering


def test_an_updated_payload_byte_is_found_at_its_position(
    seeded: Runtime, database_url: str
) -> None:
    sql(
        database_url,
        "UPDATE lotse_events SET state = set_byte(state, 20, get_byte(state, 20) # 1) "
        "WHERE notification_id = 17",
    )

    report = verify(seeded)

    assert report.first_problem is not None
    assert (report.first_problem.position, report.first_problem.kind) == (17, "chain-mismatch")
    assert report.verified == 16


def test_a_deleted_event_is_found_at_its_position(seeded: Runtime, database_url: str) -> None:
    sql(database_url, "DELETE FROM lotse_events WHERE notification_id = 23")

    report = verify(seeded)

    assert report.first_problem is not None
    assert (report.first_problem.position, report.first_problem.kind) == (23, "event-missing")


def test_a_forged_event_is_found_at_its_position(seeded: Runtime, database_url: str) -> None:
    forged_at = head(database_url) + 1
    sql(
        database_url,
        "INSERT INTO lotse_events (originator_id, originator_version, topic, state) "
        "SELECT %s, 1, topic, state FROM lotse_events WHERE notification_id = 1",
        uuid4(),
    )

    report = verify(seeded)

    assert report.first_problem is not None
    assert report.first_problem.position == head(database_url) >= forged_at
    assert report.first_problem.kind == "unchained-event"


def test_two_reordered_events_are_found_at_the_first_of_them(
    seeded: Runtime, database_url: str
) -> None:
    sql(database_url, "UPDATE lotse_events SET notification_id = -30 WHERE notification_id = 30")
    sql(database_url, "UPDATE lotse_events SET notification_id = 30 WHERE notification_id = 31")
    sql(database_url, "UPDATE lotse_events SET notification_id = 31 WHERE notification_id = -30")

    report = verify(seeded)

    assert report.first_problem is not None
    assert (report.first_problem.position, report.first_problem.kind) == (30, "chain-mismatch")


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(
    seeded: Runtime, database_url: str
) -> None:
    checkpoint = checkpoints(seeded).create()
    sql(
        database_url,
        "UPDATE lotse_events SET state = set_byte(state, 20, get_byte(state, 20) # 1) "
        "WHERE notification_id = 12",
    )
    # Recompute every chain hash, as an attacker with database access would.
    rows = sql(
        database_url,
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM lotse_events ORDER BY notification_id",
    )
    for notification_id, chain_hash in chain_rows(GENESIS, rows):
        sql(
            database_url,
            "UPDATE lotse_event_chain SET chain_hash = %s WHERE notification_id = %s",
            chain_hash,
            notification_id,
        )

    report = verify(seeded)

    assert report.first_problem is not None
    assert report.first_problem.kind == "checkpoint-mismatch"
    assert report.first_problem.position == checkpoint.position
    assert report.first_problem.checkpoint_id == checkpoint.id


def test_an_edited_checkpoint_is_found_by_its_signature(seeded: Runtime, database_url: str) -> None:
    first = checkpoints(seeded).create()
    seed(seeded.journeys, 2, seed_value=99)
    second = checkpoints(seeded).create()
    sql(
        database_url,
        "UPDATE lotse_checkpoints SET chain_hash = %s WHERE id = %s",
        bytes(32),
        second.id,
    )

    report = verify(seeded)

    assert report.first_problem is not None
    assert report.first_problem.kind == "checkpoint-signature"
    assert report.first_problem.position == second.position > first.position
    assert report.first_problem.checkpoint_id == second.id


def test_a_checkpoint_signed_with_another_key_does_not_hold(seeded: Runtime) -> None:
    checkpoints(seeded).create()
    other_key = signing_key_from_text(new_signing_key_text()).public_key()

    report = asyncio.run(run_verification(seeded.database.url, other_key))

    assert report.first_problem is not None
    assert report.first_problem.kind == "checkpoint-signature"


def test_verification_from_a_checkpoint_covers_only_what_follows(
    seeded: Runtime, database_url: str
) -> None:
    checkpoint = checkpoints(seeded).create()
    seed(seeded.journeys, 2, seed_value=7)

    report = verify(seeded, from_checkpoint=checkpoint.id)

    assert report.ok, report.problems
    assert report.verified == head(database_url) - checkpoint.position > 0


# ------------------------------------------------------------------ bundles


def export(runtime: Runtime, tmp_path: Path, **criteria: Any) -> Path:
    participant = next(iter(runtime.journeys.recorder.select_notifications(1, 1))).originator_id
    exporter = Exporter(
        runtime.journeys.recorder.datastore, runtime.journeys.mapper, checkpoints(runtime)
    )
    target = tmp_path / "bundle.zip"
    exporter.export(Criteria(**criteria), [UUID(str(participant))], target)
    return target


def rewrite_member(bundle: Path, name: str, change: Any) -> None:
    with zipfile.ZipFile(bundle) as zf:
        contents = {n: zf.read(n) for n in zf.namelist()}
    contents[name] = change(contents[name])
    with zipfile.ZipFile(bundle, "w") as zf:
        for n, data in contents.items():
            zf.writestr(n, data)


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_an_intact_bundle_verifies_offline(seeded: Runtime, tmp_path: Path) -> None:
    bundle = export(seeded, tmp_path)
    public_key = checkpoints(seeded).public_key

    report = verify_bundle(bundle, public_key)  # a file and a key: no database

    assert report.ok, report.reason
    assert report.events > 5


@pytest.mark.parametrize(
    ("member", "offset"),
    [("rows.jsonl", 150), ("events.jsonl", 60), ("chain.bin", 50), ("checkpoint.json", 40)],
)
def test_a_bundle_with_one_altered_byte_fails(
    seeded: Runtime, tmp_path: Path, member: str, offset: int
) -> None:
    bundle = export(seeded, tmp_path)
    rewrite_member(bundle, member, lambda data: flip(data, offset))

    report = verify_bundle(bundle, checkpoints(seeded).public_key)

    assert not report.ok
    assert member in report.reason


def test_a_consistently_forged_row_still_fails_against_the_checkpoint(
    seeded: Runtime, tmp_path: Path
) -> None:
    # Alter a row and fix up the manifest hash too: only the chain can tell.
    bundle = export(seeded, tmp_path)
    with zipfile.ZipFile(bundle) as zf:
        rows = zf.read("rows.jsonl")
    altered = rows.replace(b'"originator_version": 2', b'"originator_version": 3', 1)
    assert altered != rows
    rewrite_member(bundle, "rows.jsonl", lambda _: altered)

    report = verify_bundle(bundle, checkpoints(seeded).public_key)

    assert not report.ok


def test_a_bundle_checked_with_the_wrong_public_key_fails(seeded: Runtime, tmp_path: Path) -> None:
    bundle = export(seeded, tmp_path)
    wrong = signing_key_from_text(new_signing_key_text()).public_key()

    report = verify_bundle(bundle, wrong)

    assert not report.ok
    assert "signature" in report.reason


def test_a_bundle_links_its_rows_to_the_signed_checkpoint(seeded: Runtime, tmp_path: Path) -> None:
    bundle = export(seeded, tmp_path)
    with zipfile.ZipFile(bundle) as zf:
        chain = zf.read("chain.bin")
        checkpoint = json.loads(zf.read("checkpoint.json"))
    previous = chain[:32]
    for offset in range(32, len(chain), 40):
        previous = link(previous, chain[offset + 8 : offset + 40])

    assert previous.hex() == checkpoint["chain_hash"]


def test_an_export_without_identifiers_withholds_names(seeded: Runtime, tmp_path: Path) -> None:
    bundle = export(seeded, tmp_path, with_identifiers=False)

    with zipfile.ZipFile(bundle) as zf:
        first = zf.read("events.jsonl").splitlines()[0]

    assert b'"given_name": null' in first
    assert b'"withheld_fields": ["birth_date", "family_name", "given_name"]' in first
    assert verify_bundle(bundle, checkpoints(seeded).public_key).ok


# ------------------------------------------------------------------ the CLI


@pytest.fixture
def cli_env(seeded: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("DATABASE_URL", seeded.database.url)
    monkeypatch.setenv("LOTSE_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("LOTSE_MASTER_KEY", settings.master_key)
    monkeypatch.setenv("LOTSE_AUDIT_SIGNING_KEY", settings.audit_signing_key)
    monkeypatch.delenv("LOTSE_CHECKPOINT_MINUTES", raising=False)
    return seeded


def test_cli_verify_exits_0_on_a_clean_log_and_1_at_the_tampered_position(
    cli_env: Runtime, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    assert main(["audit", "checkpoint"]) == 0
    assert main(["audit", "verify"]) == 0
    assert "OK:" in capsys.readouterr().out
    sql(
        database_url,
        "UPDATE lotse_events SET state = set_byte(state, 5, get_byte(state, 5) # 1) "
        "WHERE notification_id = 9",
    )

    status = main(["audit", "verify"])

    assert status == 1
    assert "FAILED at position 9" in capsys.readouterr().out


def test_cli_export_and_offline_verify_bundle(
    cli_env: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    bundle = tmp_path / "warendorf.zip"
    assert main(["audit", "public-key"]) == 0
    public_key = capsys.readouterr().out.strip()

    assert main(["audit", "export", "--municipality", "warendorf", "-o", str(bundle)]) == 0
    assert main(["audit", "verify-bundle", str(bundle), "--public-key", public_key]) == 0
    rewrite_member(bundle, "rows.jsonl", lambda data: flip(data, 100))
    assert main(["audit", "verify-bundle", str(bundle), "--public-key", public_key]) == 1
    assert "FAILED: rows.jsonl" in capsys.readouterr().out


def test_cli_replay_prints_the_state_as_of_a_day_and_logs_the_read(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    participant = str(
        next(iter(cli_env.journeys.recorder.select_notifications(1, 1))).originator_id
    )

    status = main(["audit", "replay", participant, "--as-of", "2099-01-01", "--purpose", "test"])

    assert status == 0
    state = json.loads(capsys.readouterr().out)["state"]
    assert state["id"] == participant
    assert cli_env.access_log is not None
    entries = cli_env.access_log.entries_for(UUID(participant))
    assert [(e["endpoint"], e["purpose"]) for e in entries] == [("lotse audit replay", "test")]


def test_cli_replay_with_history_lists_what_was_known_at_the_time(
    cli_env: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    from lotse.api.cli import main

    first = next(iter(cli_env.journeys.recorder.select_notifications(1, 1)))
    participant = str(first.originator_id)
    events = list(cli_env.journeys.history(first.originator_id))
    known_at = events[0].timestamp
    args = ["audit", "replay", participant, "--history", "--purpose", "test"]

    everything = main(args)
    out_all = json.loads(capsys.readouterr().out)
    then = main([*args, "--known-at", known_at.isoformat()])
    out_then = json.loads(capsys.readouterr().out)

    assert (everything, then) == (0, 0)
    assert [e["version"] for e in out_all["history"]] == [e.originator_version for e in events]
    assert [e["version"] for e in out_then["history"]] == [
        e.originator_version for e in events if e.timestamp <= known_at
    ]


def test_course_events_are_chained_and_verified_with_the_participants(
    seeded: Runtime, database_url: str
) -> None:
    from lotse.api.demo_courses import seed_courses

    seed_courses(seeded.journeys)
    checkpoints(seeded).create()

    report = verify(seeded)

    assert report.ok, report.problems
    assert report.verified == head(database_url)
    topics = sql(
        database_url, "SELECT count(*) FROM lotse_events WHERE topic LIKE 'lotse.domain.course:%'"
    )
    assert topics[0][0] > 0
