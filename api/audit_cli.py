"""``lotse audit ...``: replay, verify, checkpoints, exports, offline bundle verification.

Exit status: 0 when everything holds, 1 when verification finds a problem (the
first position is printed), 2 for usage or configuration errors. Output names
positions, ids and counts; only ``replay`` and ``export`` show personal data, and
both record the read in the read-access log.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from lotse.api.progress import Progress
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role

if TYPE_CHECKING:
    from lotse.api.runtime import Runtime
    from lotse.storage.access_log import AccessLog
    from lotse.storage.checkpoints import Checkpoint, Checkpoints


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = "must be a date, YYYY-MM-DD"
        raise argparse.ArgumentTypeError(msg) from None


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        msg = "must be an ISO 8601 timestamp with time zone, e.g. 2022-07-01T12:00:00Z"
        raise argparse.ArgumentTypeError(msg) from None
    if value.tzinfo is None:
        msg = "needs a time zone, e.g. 2022-07-01T12:00:00Z"
        raise argparse.ArgumentTypeError(msg)
    return value


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        msg = "must be a participant id (UUID)"
        raise argparse.ArgumentTypeError(msg) from None


def add_audit_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="replay, verify, checkpoints, verifiable exports")
    commands = audit.add_subparsers(dest="audit_command", required=True)

    replay = commands.add_parser("replay", help="a participant's state as of a day, as known then")
    replay.add_argument("participant", type=_uuid)
    replay.add_argument("--as-of", type=_date, help="effective on or before this day (YYYY-MM-DD)")
    replay.add_argument("--known-at", type=_timestamp, help="recorded by this time (ISO 8601)")
    replay.add_argument("--history", action="store_true", help="print the history too")
    _who(replay)

    verify = commands.add_parser("verify", help="recompute the hash chain, check checkpoints")
    verify.add_argument("--from-checkpoint", type=int, metavar="ID")
    verify.add_argument(
        "--public-key", help="check checkpoints against this key (default: the configured one)"
    )
    verify.add_argument(
        "--witness",
        type=Path,
        metavar="FILE",
        help="also check every head in this witness file (catches cut-off and recent rewrites)",
    )
    verify.add_argument(
        "--witness-public-key", help="require the witness file to be signed by this key"
    )

    witness = commands.add_parser(
        "witness", help="countersign the newest checkpoint if it extends the witnessed head"
    )
    witness.add_argument(
        "--key", required=True, type=Path, help="the witness's Ed25519 key file (new-signing-key)"
    )
    witness.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="the witness file (appended to)"
    )
    witness.add_argument(
        "--public-key", help="Lotse's checkpoint public key (default: the configured one)"
    )

    commands.add_parser("checkpoint", help="sign the chain's head and store a checkpoint")
    commands.add_parser("public-key", help="print the checkpoint public key (ed25519:base64url)")
    commands.add_parser("new-signing-key", help="print a new LOTSE_AUDIT_SIGNING_KEY")

    export = commands.add_parser("export", help="write a verifiable bundle (zip)")
    scope = export.add_mutually_exclusive_group(required=True)
    scope.add_argument("--participant", type=_uuid)
    scope.add_argument("--provider")
    scope.add_argument("--municipality")
    export.add_argument("--from", dest="effective_from", type=_date, metavar="YYYY-MM-DD")
    export.add_argument("--to", dest="effective_to", type=_date, metavar="YYYY-MM-DD")
    export.add_argument("-o", "--output", required=True, type=Path)
    export.add_argument(
        "--with-personal-data",
        action="store_true",
        help="include names, birth dates and free text (default: pseudonymised); needs "
        "--purpose, and is kept as such in the read-access log",
    )
    export.add_argument(
        "--witnessed",
        type=Path,
        metavar="FILE",
        help="link to the newest checkpoint in this witness file (for verify-bundle --witness)",
    )
    # The default since bundles became pseudonymised; still accepted from scripts.
    export.add_argument("--without-identifiers", action="store_true", help=argparse.SUPPRESS)
    _who(export)

    bundle = commands.add_parser("verify-bundle", help="verify a bundle offline, no database")
    bundle.add_argument("bundle", type=Path)
    bundle.add_argument(
        "--public-key", required=True, help="the public key (ed25519:...), or a file holding it"
    )
    bundle.add_argument(
        "--witness", type=Path, metavar="FILE", help="also require the checkpoint to be witnessed"
    )


def _who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", default=None, help="who reads (default: the OS user)")
    parser.add_argument("--purpose", default=None, help="why; kept in the read-access log")


def run_audit(args: argparse.Namespace) -> int:
    command = args.audit_command
    if command == "new-signing-key":
        from lotse.storage.checkpoints import new_signing_key_text

        print(new_signing_key_text())
        return 0
    if command == "verify-bundle":
        return _verify_bundle(args)
    from lotse.api.runtime import build_runtime
    from lotse.api.settings import load_settings

    runtime = build_runtime(load_settings(), checkpointing=False)
    try:
        if command == "checkpoint":
            return _checkpoint(runtime)
        if command == "public-key":
            return _public_key(runtime)
        if command == "verify":
            return _verify(runtime, args)
        if command == "witness":
            return _witness(runtime, args)
        if command == "replay":
            return _replay(runtime, args)
        if command == "export":
            return _export(runtime, args)
    finally:
        runtime.close()
    return 2


def _checkpoints(runtime: Runtime) -> Checkpoints:
    assert runtime.checkpoints is not None  # build_runtime always wires them
    return runtime.checkpoints


def _access_log(runtime: Runtime) -> AccessLog:
    assert runtime.access_log is not None
    return runtime.access_log


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _checkpoint(runtime: Runtime) -> int:
    from lotse.storage.checkpoints import SigningKeyError

    try:
        c = _checkpoints(runtime).create()
    except SigningKeyError as e:
        return _error(str(e))
    print(f"checkpoint {c.id}: position {c.position}, chain hash {c.chain_hash.hex()}")
    return 0


def _public_key(runtime: Runtime) -> int:
    from lotse.storage.checkpoints import SigningKeyError, key_id, public_key_text

    try:
        key = _checkpoints(runtime).public_key
    except SigningKeyError as e:
        return _error(str(e))
    print(public_key_text(key))
    print(f"key id {key_id(key)}", file=sys.stderr)
    return 0


def _verify(runtime: Runtime, args: argparse.Namespace) -> int:
    from lotse.storage.checkpoints import SigningKeyError, load_public_key
    from lotse.storage.verification import run_verification
    from lotse.storage.witness import WitnessError

    try:
        public_key = (
            load_public_key(args.public_key)
            if args.public_key
            else _checkpoints(runtime).public_key
        )
    except (SigningKeyError, ValueError) as e:
        return _error(str(e))
    witnessed: list[Checkpoint] = []
    if args.witness is not None:
        try:
            witnessed = _witnessed(args.witness, args.witness_public_key)
        except (WitnessError, SigningKeyError, ValueError) as e:
            return _error(f"witness file: {e}")
        if not witnessed:
            return _error("the witness file holds no witnessed checkpoint")
    progress: Progress | None = None

    def total(n: int) -> None:
        nonlocal progress
        progress = Progress(n, "verifying the hash chain")

    def advance(n: int) -> None:
        if progress is not None:
            progress.advance(n)

    report = asyncio.run(
        run_verification(
            runtime.database.url,
            public_key,
            from_checkpoint=args.from_checkpoint,
            on_progress=advance,
            on_total=total,
            witnessed=witnessed,
        )
    )
    if progress is not None:
        progress.close()
    logged, broken_at = _access_log(runtime).verify()
    problem = report.first_problem
    if problem is not None:
        where = f" (checkpoint {problem.checkpoint_id})" if problem.checkpoint_id else ""
        print(f"FAILED at position {problem.position}{where}: {problem.kind}: {problem.detail}")
        if len(report.problems) > 1:
            print(f"({len(report.problems) - 1} more problem(s) after it)")
        return 1
    if broken_at is not None:
        print(f"FAILED: the read-access log does not hold at entry {broken_at}")
        return 1
    replaced = _keys_not_opening(runtime)
    if replaced:
        print(
            f"FAILED: {replaced} participant key(s) do not open with the master key for their "
            "participant: replaced or moved outside Lotse"
        )
        return 1
    print(
        f"OK: {report.verified} events verified after position {report.started_after} "
        f"(head {report.head}), {report.checkpoints_checked} signed checkpoint(s) hold, "
        f"read-access log: {logged} entries hold"
        + (
            f", newest witnessed head (position {max(c.position for c in witnessed)}) holds"
            if witnessed
            else ""
        )
    )
    return 0


def _keys_not_opening(runtime: Runtime) -> int:
    """Live data keys that the master key does not open for their own participant.

    Keys are wrapped with the participant id as associated data, so a key moved
    to another participant, or replaced by anyone without the master key, fails.
    (A key replaced by someone holding the master key opens, but then the
    participant's sealed fields no longer decrypt: the API answers record-integrity.)
    """
    from lotse.storage.keys import MasterKey, MasterKeyError

    keys = runtime.journeys.recorder.keys  # type: ignore[attr-defined]
    master = MasterKey.from_text(runtime.settings.master_key)
    failed = 0
    with keys.datastore.transaction(commit=False) as curs:
        curs.execute(
            f"SELECT participant_id, wrapped_key FROM {keys.table}"  # noqa: S608 - our table name
            " WHERE wrapped_key IS NOT NULL"
        )
        for row in curs:
            try:
                master.unwrap(UUID(str(row["participant_id"])), bytes(row["wrapped_key"]))
            except MasterKeyError:
                failed += 1
    return failed


def _witnessed(path: Path, pinned_text: str | None) -> list[Checkpoint]:
    from lotse.storage.checkpoints import load_public_key
    from lotse.storage.witness import read_witness_file

    pinned = load_public_key(pinned_text) if pinned_text else None
    return [w.checkpoint for w in read_witness_file(path, pinned)]


def _witness(runtime: Runtime, args: argparse.Namespace) -> int:
    import asyncpg

    from lotse.storage.checkpoints import SigningKeyError, load_public_key, signing_key_from_text
    from lotse.storage.witness import (
        WitnessError,
        append,
        check_extends,
        countersign,
        newest,
        read_witness_file,
    )

    try:
        lotse_key = (
            load_public_key(args.public_key)
            if args.public_key
            else _checkpoints(runtime).public_key
        )
        witness_key = signing_key_from_text(args.key.read_text())
        previous = newest(read_witness_file(args.out, witness_key.public_key()))
    except (SigningKeyError, WitnessError, ValueError, OSError) as e:
        return _error(str(e))
    candidate = _checkpoints(runtime).newest()
    if candidate is None:
        return _error("no checkpoint has been signed yet")
    if not candidate.signature_holds(lotse_key):
        print(f"REFUSED checkpoint {candidate.id}: Lotse's signature does not hold")
        return 1
    if previous is not None:
        if previous.checkpoint.message == candidate.message:
            print(f"checkpoint {candidate.id} is already witnessed (position {candidate.position})")
            return 0

        async def extends() -> Any:
            conn = await asyncpg.connect(runtime.database.url)
            try:
                return await check_extends(conn, previous.checkpoint, candidate)
            finally:
                await conn.close()

        problem = asyncio.run(extends())
        if problem is not None:
            print(
                f"REFUSED checkpoint {candidate.id}: it does not extend the witnessed head at "
                f"position {previous.checkpoint.position}: {problem.detail}"
            )
            return 1
    append(args.out, countersign(candidate, witness_key))
    print(
        f"witnessed checkpoint {candidate.id}: position {candidate.position}, "
        f"chain hash {candidate.chain_hash.hex()}"
    )
    return 0


def _reader(args: argparse.Namespace) -> str:
    return str(args.user or f"cli:{getpass.getuser()}")


def _operator(args: argparse.Namespace) -> Principal:
    """Who the command acts as: an auditor of every municipality.

    The operator holds the database anyway; the commands still go through the
    same policy functions as the API, so a narrower CLI role is one line away.
    """
    return Principal(_reader(args), Role.AUDITOR, ALL_ORGANISATIONS)


def _log_reads(runtime: Runtime, args: argparse.Namespace, endpoint: str, ids: list[UUID]) -> None:
    from lotse.storage.access_log import AccessEntry

    now = datetime.now(UTC)
    _access_log(runtime).record_many(
        AccessEntry(
            user=_reader(args),
            role="auditor",
            organisation="cli",
            participant_id=pid,
            endpoint=endpoint,
            purpose=args.purpose,
            outcome=200,
            request_id="cli",
            at=now,
        )
        for pid in ids
    )


def _replay(runtime: Runtime, args: argparse.Namespace) -> int:
    from lotse.api.views import history_entries, participant_public
    from lotse.domain.errors import DomainError
    from lotse.storage.access_log import AccessLogUnavailableError

    journeys = runtime.journeys
    operator = _operator(args)
    try:
        # The same decisions as GET /participants/{id}/state and /history.
        replayed = journeys.state_for_reading(
            operator, args.participant, as_of=args.as_of, known_at=args.known_at
        )
        known: list[Any] = []
        if args.history:
            _, known = journeys.history_for_reading(operator, args.participant, args.known_at)
    except DomainError as e:
        return _error(e.message)
    try:
        _log_reads(runtime, args, "lotse audit replay", [args.participant])
    except AccessLogUnavailableError:
        return _error("the read-access log cannot be written: nothing is shown")
    out: dict[str, Any] = {
        "as_of": args.as_of,
        "known_at": args.known_at,
        "counted_versions": replayed.counted_versions,
        "applied_corrections": replayed.applied_corrections,
        "state": participant_public(replayed.participant).model_dump(mode="json"),
    }
    if args.history:
        shown = history_entries(known, as_of=args.as_of)
        out["history"] = [e.model_dump(mode="json") for e in shown]
    print(json.dumps(out, indent=2, default=str, ensure_ascii=False))
    return 0


def _export(runtime: Runtime, args: argparse.Namespace) -> int:
    from lotse.api.export_bundles import participants_to_export
    from lotse.domain.access import check_may_export
    from lotse.domain.errors import DomainError
    from lotse.storage.access_log import AccessLogUnavailableError
    from lotse.storage.checkpoints import SigningKeyError
    from lotse.storage.export import Criteria, ExportError

    operator = _operator(args)
    try:
        check_may_export(operator)
    except DomainError as e:
        return _error(e.message)
    with_personal_data = bool(args.with_personal_data)
    if with_personal_data and args.without_identifiers:
        return _error("--with-personal-data and --without-identifiers exclude each other")
    if with_personal_data and not args.purpose:
        # A bundle with names outlives every later erasure: say why it is needed.
        return _error("--with-personal-data needs --purpose (kept in the read-access log)")
    criteria = Criteria(
        participant=args.participant,
        provider=args.provider,
        municipality=args.municipality,
        effective_from=args.effective_from,
        effective_to=args.effective_to,
        with_identifiers=with_personal_data,
    )

    exporter, participants = participants_to_export(runtime, operator, criteria)
    if not participants:
        return _error("no participant matches")
    endpoint = (
        "lotse audit export --with-personal-data"
        if with_personal_data
        else "lotse audit export (pseudonymised)"
    )
    # Logged (durably) before the bundle exists: once written, it is disclosed.
    try:
        _log_reads(runtime, args, endpoint, participants)
    except AccessLogUnavailableError:
        return _error("the read-access log cannot be written: nothing was exported")
    progress = Progress(0, "linking to the signed checkpoint")
    link_to = None
    if args.witnessed is not None:
        from lotse.storage.witness import WitnessError, newest, read_witness_file

        try:
            head = newest(read_witness_file(args.witnessed))
        except WitnessError as e:
            return _error(f"witness file: {e}")
        if head is None:
            return _error("the witness file holds no witnessed checkpoint")
        link_to = head.checkpoint
    try:
        summary = exporter.export(
            criteria, participants, args.output, on_progress=progress.advance, link_to=link_to
        )
    except (ExportError, SigningKeyError) as e:
        return _error(str(e))
    progress.close()
    print(
        f"wrote {args.output}: {summary.events} events of {len(summary.participants)} "
        f"participant(s), linked to checkpoint {summary.checkpoint.id} "
        f"at position {summary.checkpoint.position}"
        + ("" if with_personal_data else "; pseudonymised (no names, birth dates or free text)")
    )
    return 0


def _verify_bundle(args: argparse.Namespace) -> int:
    from lotse.storage.checkpoints import SigningKeyError, load_public_key
    from lotse.storage.export import verify_bundle

    try:
        public_key = load_public_key(args.public_key)
    except (SigningKeyError, ValueError) as e:
        return _error(str(e))
    report = verify_bundle(args.bundle, public_key)
    if not report.ok:
        print(f"FAILED: {report.reason}")
        return 1
    if args.witness is not None:
        import zipfile

        from lotse.storage.checkpoints import Checkpoint
        from lotse.storage.witness import WitnessError, read_witness_file

        with zipfile.ZipFile(args.bundle) as zf:
            signed = Checkpoint.from_json(json.loads(zf.read("checkpoint.json")))
        try:
            heads = read_witness_file(args.witness)
        except WitnessError as e:
            return _error(f"witness file: {e}")
        if not any(w.checkpoint.message == signed.message for w in heads):
            print(
                f"FAILED: the bundle's checkpoint (position {signed.position}) is not in the "
                "witness file: export against a witnessed checkpoint, or witness it first"
            )
            return 1
    print(
        f"OK: {report.events} events, each linked to the signed checkpoint "
        f"at position {report.checkpoint_position}"
    )
    return 0
