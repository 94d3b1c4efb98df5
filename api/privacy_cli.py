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

from api.progress import Progress
from api.runtime import Runtime, build_runtime
from api.settings import MASTER_KEY_FILE, Settings, load_settings
from domain.access import ALL_ORGANISATIONS, Principal, Role
from domain.application import programme_today
from domain.configuration import Programme
from domain.vocabulary import ErasureMode
from storage.keys import MasterKey, MasterKeyError
from storage.recorder import LotseRecorder
from storage.retention import RetentionCandidate, due_for_shredding, vacuum_keys
from storage.rotation import RotationSummary, keys_not_under, rotate_master_key

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
        if outcome.erased:
            _vacuum(runtime, out)
        return 1 if outcome.failed else 0
    finally:
        runtime.close()


def _vacuum(runtime: Runtime, out: TextIO) -> None:
    if vacuum_keys(_recorder(runtime)):
        print("VACUUM of the key table done: the old row versions with the keys are gone", file=out)
    else:
        print(
            "VACUUM of the key table ran, but transactions older than the change were still "
            "running, so old row versions may remain: run VACUUM lotse_participant_keys later",
            file=out,
        )


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
    owns_file = settings.embedded and not os.environ.get("LOTSE_MASTER_KEY")
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
    # The old wrappings survive in dead row versions until VACUUM reclaims them.
    _vacuum(runtime, out)
    return dataclasses.replace(summary, stragglers=stragglers)


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
    return 1 if summary.stragglers else 0


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
    return 2
