"""``lotse privacy ...``: new keys, retention (shredding when records may go), key rotation.

Every command prints participant ids and counts only, never names: its output ends
up in terminals, shell histories and tickets.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import secrets
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO
from uuid import UUID

from lotse.api.progress import Progress
from lotse.api.runtime import Runtime, build_runtime
from lotse.api.settings import MASTER_KEY_FILE, Settings, load_settings
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role
from lotse.domain.application import programme_today
from lotse.domain.configuration import Programme
from lotse.domain.vocabulary import ErasureMode
from lotse.storage.key_scrub import KeyScrubber, ScrubOutcome
from lotse.storage.keys import MasterKey, MasterKeyError
from lotse.storage.recorder import LotseRecorder
from lotse.storage.retention import RetentionCandidate, due_for_shredding
from lotse.storage.rotation import RotationSummary, keys_not_under, rotate_master_key

#: The system principal that records shredding at retention end.
RETENTION_PRINCIPAL = Principal("lotse-retention", Role.ADMIN, ALL_ORGANISATIONS)
RETENTION_REASON = "retention_expired"


# ------------------------------------------------------------------ retention


@dataclass(frozen=True)
class RetentionPlan:
    today: date
    programmes: list[Programme]
    """Every configured programme, with its retention end."""
    candidates: list[RetentionCandidate]
    """Participants of programmes whose retention end has passed, key not yet destroyed."""

    def due(self, programme: Programme) -> bool:
        return programme.retention_end < self.today


@dataclass
class RetentionOutcome:
    erased: int = 0
    already_erased: int = 0
    failed: list[UUID] = field(default_factory=list)


def _recorder(runtime: Runtime) -> LotseRecorder:
    recorder = runtime.journeys.recorder
    assert isinstance(recorder, LotseRecorder)
    return recorder


def plan_retention(runtime: Runtime, today: date) -> RetentionPlan:
    """Who is due for shredding on ``today`` (restricted participants included)."""
    programmes = sorted(runtime.configuration.programmes.values(), key=lambda p: p.id)
    due = [p.id for p in programmes if p.retention_end < today]
    return RetentionPlan(today, programmes, due_for_shredding(_recorder(runtime), due))


def apply_retention(
    runtime: Runtime,
    candidates: Sequence[RetentionCandidate],
    *,
    on_progress: Callable[[int], None] = lambda _n: None,
    err: TextIO = sys.stderr,
) -> RetentionOutcome:
    """Shred each candidate, as the retention system user; one failure stops no other."""
    outcome = RetentionOutcome()
    run_id = f"retention-{uuid.uuid4().hex[:12]}"
    for candidate in candidates:
        try:
            _, changed = runtime.journeys.erase(
                RETENTION_PRINCIPAL,
                f"{run_id}-{candidate.participant_id}",
                candidate.participant_id,
                mode=ErasureMode.SHRED,
                reason_code=RETENTION_REASON,
            )
        except Exception as e:  # counted and reported: one failure stops no other
            # The type only: messages of unexpected errors may carry stored values.
            print(f"failed: {candidate.participant_id}: {type(e).__name__}", file=err)
            outcome.failed.append(candidate.participant_id)
        else:
            if changed:
                outcome.erased += 1
            else:
                outcome.already_erased += 1
        on_progress(1)
    return outcome


def print_plan(plan: RetentionPlan, out: TextIO) -> None:
    for programme in plan.programmes:
        state = "passed" if plan.due(programme) else "not yet reached"
        print(
            f"programme {programme.id}: retention ends {programme.retention_end} ({state})",
            file=out,
        )
    print(
        f"due for shredding on {plan.today}: {len(plan.candidates)} participant(s)",
        file=out,
    )
    groups = itertools.groupby(plan.candidates, key=lambda c: (c.programme, c.municipality))
    for (programme_id, municipality), members in groups:
        group = list(members)
        restricted = sum(1 for c in group if c.restricted)
        print(
            f"  {programme_id} / {municipality}: {len(group)} ({restricted} restricted)",
            file=out,
        )
        for c in group:
            print(f"    {c.participant_id}{'  restricted' if c.restricted else ''}", file=out)


def _retention(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    real_today = programme_today()
    today = args.today or real_today
    if args.apply and today > real_today and not args.allow_future_date:
        print(
            "error: --today is in the future: shredding is irreversible, so --apply with a "
            "future date also needs --allow-future-date",
            file=err,
        )
        return 2
    runtime = build_runtime(load_settings(), checkpointing=False)
    try:
        plan = plan_retention(runtime, today)
        print_plan(plan, out)
        if not args.apply:
            if plan.candidates:
                print("nothing changed: run with --apply to shred them", file=out)
            return 0
        progress = Progress(len(plan.candidates), "shredding", stream=err)
        outcome = apply_retention(runtime, plan.candidates, on_progress=progress.advance, err=err)
        progress.close()
        print(
            f"erased {outcome.erased}, already erased {outcome.already_erased}, "
            f"failed {len(outcome.failed)}",
            file=out,
        )
        scrubbed = _scrub(runtime, out) if outcome.erased else True
        return 1 if outcome.failed or not scrubbed else 0
    finally:
        runtime.close()


#: How long the CLI waits for older transactions before the key table scrub gives up.
SCRUB_WAIT_SECONDS = 60.0


def scrub_key_table(runtime: Runtime, wait_seconds: float = SCRUB_WAIT_SECONDS) -> ScrubOutcome:
    recorder = _recorder(runtime)
    return KeyScrubber(recorder.datastore, recorder.datastore.schema).scrub(wait_seconds)


def _scrub(runtime: Runtime, out: TextIO, wait_seconds: float = SCRUB_WAIT_SECONDS) -> bool:
    """Rewrite the key table (VACUUM FULL) so old row versions with keys are gone."""
    outcome = scrub_key_table(runtime, wait_seconds)
    if outcome.done:
        print(
            "key table scrubbed (VACUUM FULL): no old row version with a destroyed or "
            "re-wrapped key is left in its files",
            file=out,
        )
    else:
        print(
            f"key table NOT scrubbed yet ({outcome.why_not}): old row versions with keys may "
            "remain in its files; run lotse privacy scrub once those transactions ended",
            file=out,
        )
    return outcome.done


# ------------------------------------------------------------------- rotation


def write_key_file_atomically(path: Path, key: MasterKey) -> None:
    """Write ``path`` so that it holds either the old or the new key, never a torn one."""
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.to_text())
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def rotate(settings: Settings, runtime: Runtime, new: MasterKey, out: TextIO) -> RotationSummary:
    """Re-wrap every data key; in embedded mode also replace the ``master.key`` file."""
    key_file = settings.data_dir / MASTER_KEY_FILE
    # The embedded mode reads its key from the data directory unless the
    # environment gives one; only then is the file ours to replace.
    owns_file = settings.embedded and not settings.master_key_given
    backup = key_file.with_name(MASTER_KEY_FILE + ".rotating")
    if owns_file:
        if backup.exists() and MasterKey.from_text(backup.read_text()) != new:
            # An earlier run stopped after its commit: that key may be the only one
            # that opens the data keys now. Never overwrite or delete it.
            msg = (
                f"{backup} holds the key of an unfinished rotation: finish it first with "
                f"--new-key-file {backup}"
            )
            raise MasterKeyError(msg)
        # Keep the new key on disk before the database depends on it, so a crash
        # between the commit and the file swap cannot lose the only copy.
        write_key_file_atomically(backup, new)
    recorder = _recorder(runtime)
    try:
        summary = rotate_master_key(recorder.keys, new)
    except BaseException:
        if owns_file:
            backup.unlink(missing_ok=True)
        raise
    print(
        f"re-wrapped {summary.rewrapped} data key(s) under master key {summary.new_master_key_id}"
        f" ({summary.already_rotated} already under it, {summary.destroyed} destroyed by erasure);"
        " nothing else changed",
        file=out,
    )
    stragglers = keys_not_under(recorder.keys, new)
    if stragglers:
        # Keys written meanwhile by a process still holding the old master key: a second
        # run, with the old key still configured, re-wraps exactly those.
        again = f"--new-key-file {backup}" if owns_file else "the same new key"
        print(
            f"warning: {stragglers} data key(s) were written meanwhile under another master key "
            "by a process that is still running: stop every Lotse process and run this command "
            f"again with {again}, the old key still configured",
            file=out,
        )
    elif owns_file:
        # The key file first: from the commit on, only the new key opens the data keys.
        write_key_file_atomically(key_file, new)
        backup.unlink(missing_ok=True)
        print(f"replaced {key_file}", file=out)
    else:
        print(
            "now set LOTSE_MASTER_KEY to the new key for every Lotse process (API and "
            "projector) and restart them: the old key no longer opens any data key",
            file=out,
        )
    print(
        "the participants read model's name search index is keyed by the master key: "
        "rebuild it (lotse projections rebuild participants)",
        file=out,
    )
    # The old wrappings survive in dead row versions until the table is rewritten.
    # They open only with the old master key; retire that key (and its copies) too.
    scrubbed = _scrub(runtime, out)
    return dataclasses.replace(summary, stragglers=stragglers, scrubbed=scrubbed)


def _read_new_key(args: argparse.Namespace) -> MasterKey:
    """The key itself, or the ``LOTSE_MASTER_KEY=`` line of ``lotse privacy new-key``'s output."""
    if args.new_key_file is not None:
        text = sys.stdin.read() if args.new_key_file == "-" else Path(args.new_key_file).read_text()
    else:
        text = args.new_key
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "LOTSE_MASTER_KEY" and value:
            text = value
            break
    return MasterKey.from_text(text)


def _rotate_master_key(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        new = _read_new_key(args)
    except (MasterKeyError, OSError) as e:
        print(f"error: new key: {e}", file=err)
        return 2
    settings = load_settings()
    runtime = build_runtime(settings)
    try:
        summary = rotate(settings, runtime, new, out)
    except MasterKeyError as e:
        print(f"error: {e}", file=err)
        return 1
    finally:
        runtime.close()
    return 1 if summary.stragglers or not summary.scrubbed else 0


# ---------------------------------------------------------------------- scrub


def _scrub_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Scrub the key table now; with ``--wal`` also end the WAL's window (see the README)."""
    runtime = build_runtime(load_settings())
    try:
        recorder = _recorder(runtime)
        scrubber = KeyScrubber(recorder.datastore, recorder.datastore.schema)
        if scrubber.drop_key_statistics():
            print(
                "dropped planner statistics of the key column gathered before this version "
                "(a superuser should now run VACUUM (FULL) pg_catalog.pg_statistic)",
                file=out,
            )
        done = _scrub(runtime, out, args.wait)
        if done and args.wal:
            done = _end_wal_window(recorder, out, err)
        return 0 if done else 1
    finally:
        runtime.close()


def _end_wal_window(recorder: LotseRecorder, out: TextIO, err: TextIO) -> bool:
    """Checkpoint and switch to a new WAL segment, so the old segments can go.

    WAL segments hold the pages as they were before the erasure (full-page images)
    until they are removed or recycled at a checkpoint after them. Needs a
    superuser (or pg_checkpoint and EXECUTE on pg_switch_wal).
    """
    import psycopg

    try:
        with recorder.datastore.get_connection() as conn:
            conn.execute("CHECKPOINT")
            conn.execute("SELECT pg_switch_wal()")
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print(
            "error: CHECKPOINT / pg_switch_wal() need a superuser (or pg_checkpoint and "
            "EXECUTE on pg_switch_wal): ask the database administrator to run them",
            file=err,
        )
        return False
    print(
        "checkpoint done and WAL switched: segments from before are removed or recycled "
        "unless kept by wal_keep_size, a replication slot or archiving (see the README)",
        file=out,
    )
    return True


# ----------------------------------------------------------------------- keys


def _new_key(out: TextIO, err: TextIO) -> int:
    print(f"LOTSE_MASTER_KEY={MasterKey.generate().to_text()}", file=out)
    print(f"LOTSE_SECRET_KEY={secrets.token_urlsafe(48)}", file=out)
    print(
        "keep both secret; store the master key apart from database backups "
        "(a backup plus its master key opens every participant's identifiers)",
        file=err,
    )
    return 0


# ---------------------------------------------------------------- the parser


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = "must be a date as YYYY-MM-DD"
        raise argparse.ArgumentTypeError(msg) from None


def add_privacy_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``privacy`` and its commands to the ``lotse`` parser."""
    privacy = sub.add_parser("privacy", help="keys, retention and master key rotation")
    commands = privacy.add_subparsers(dest="privacy_command", required=True)
    commands.add_parser("new-key", help="print a fresh master key and token secret")

    retention = commands.add_parser(
        "retention", help="list participants due for shredding at retention end"
    )
    retention.add_argument("--apply", action="store_true", help="shred them (irreversible)")
    retention.add_argument(
        "--today", type=_iso_date, default=None, help="the date to judge by (YYYY-MM-DD)"
    )
    retention.add_argument(
        "--allow-future-date",
        action="store_true",
        help="allow --apply with a --today after the real date",
    )

    rotation = commands.add_parser(
        "rotate-master-key", help="re-wrap every data key under a new master key"
    )
    source = rotation.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--new-key", help="the new key, as --new-key=KEY (it may begin with -; visible in ps)"
    )
    source.add_argument("--new-key-file", help="file holding the new key, or - for stdin")

    scrub = commands.add_parser(
        "scrub", help="remove old row versions holding destroyed or re-wrapped keys"
    )
    scrub.add_argument(
        "--wait",
        type=float,
        default=SCRUB_WAIT_SECONDS,
        help="seconds to wait for older transactions (default %(default)s)",
    )
    scrub.add_argument(
        "--wal",
        action="store_true",
        help="then CHECKPOINT and switch the WAL segment (needs a superuser)",
    )


def run_privacy(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    if args.privacy_command == "new-key":
        return _new_key(out, err)
    if args.privacy_command == "retention":
        return _retention(args, out, err)
    if args.privacy_command == "rotate-master-key":
        return _rotate_master_key(args, out, err)
    if args.privacy_command == "scrub":
        return _scrub_command(args, out, err)
    return 2
