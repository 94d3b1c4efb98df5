"""Verifiable exports: a bundle an auditor takes away and verifies without Lotse.

A bundle is a zip file with

``events.jsonl``
    one event per line, readable and **pseudonymised by default**: every
    identifying field (names, birth date, free text) is left out (null) and
    listed in ``withheld_fields``; participants appear under their random id,
    which only Lotse can link to a person (and, after an erasure, nobody).
    Only an export made explicitly with personal data (``with_identifiers``)
    carries the identifiers decrypted where the key still exists, listed in
    ``erased_fields`` where it was destroyed. A bundle, once written, is out of
    Lotse's reach: a later erasure cannot shred the copies made before it;
``rows.jsonl``
    the same events as stored rows: ``position`` (notification id),
    ``originator_id``, ``originator_version``, ``topic``, ``state`` (base64 of the
    stored bytes, ciphertext included), and ``previous_hash`` / ``chain_hash``
    (hex) around the row;
``chain.bin``
    the link to a signed checkpoint: 32 bytes, the chain hash just before the
    first exported row, then for every log position from the first exported
    row up to the checkpoint a record of 8 bytes position (big-endian) and the
    32-byte row digest (see ``storage.chain``). Digests of other participants'
    rows reveal nothing about them;
``checkpoint.json``
    the signed checkpoint (``storage.checkpoints``);
``manifest.json`` and ``manifest.sig``
    SHA-256 and size of every file, the export's criteria, and an Ed25519
    signature over ``manifest.json`` with the checkpoint key, which vouches for
    the decrypted ``events.jsonl`` that the chain cannot cover.

``verify_bundle`` checks, offline: the manifest signature and every file hash;
the checkpoint signature; every row's digest and both hashes around it; that
linking all digests from the anchor ends at the checkpoint's position with its
chain hash (so every exported row is in the signed chain); and that each event
line belongs to its row.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.postgres import PostgresDatastore

from lotse.domain.classification import identifying_changes, identifying_fields
from lotse.domain.envelope import ENVELOPE_FIELDS
from lotse.storage.chain import CHAIN_TABLE, GENESIS, encode_row, link, row_digest, row_digest_sql
from lotse.storage.checkpoints import Checkpoint, Checkpoints, key_id
from lotse.storage.mapper import ERASED

FORMAT = "lotse-bundle-v1"
RECORD = struct.Struct(">q32s")
FILES = ("events.jsonl", "rows.jsonl", "chain.bin", "checkpoint.json")


class ExportError(Exception):
    """The export cannot be made (e.g. the log fails verification)."""


@dataclass(frozen=True)
class Criteria:
    participant: UUID | None = None
    provider: str | None = None
    municipality: str | None = None
    effective_from: date | None = None
    effective_to: date | None = None
    with_identifiers: bool = False
    """Personal data only when asked for explicitly: bundles outlive erasures."""

    def as_json(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class ExportSummary:
    participants: list[UUID]
    events: int
    checkpoint: Checkpoint


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date | UUID | Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _event_line(position: int, event: Any, with_identifiers: bool) -> dict[str, Any]:
    state = dict(vars(event))
    erased = list(state.pop(ERASED, []))
    data = {k: v for k, v in state.items() if k not in ENVELOPE_FIELDS and not k.startswith("_")}
    withheld: list[str] = []
    if not with_identifiers:
        event_type = type(event).__name__
        for name in identifying_fields(event_type):
            if data.get(name) is not None and name not in erased:
                data[name] = None
                withheld.append(name)
        changes = data.get("changes")
        if isinstance(changes, dict) and isinstance(data.get("corrected_type"), str):
            for name in identifying_changes(data["corrected_type"], changes):
                if changes[name] is None:
                    continue
                changes[name] = None
                withheld.append(f"changes.{name}")
    return {
        "position": position,
        "participant_id": str(event.originator_id),
        "version": event.originator_version,
        "type": type(event).__name__,
        "effective_date": _plain(event.effective_date),
        "recorded_at": _plain(event.timestamp),
        "recorded_by": event.recorded_by,
        "recorded_role": event.recorded_role,
        "organisation": event.organisation,
        "request_id": event.request_id,
        "data": _plain(data),
        "erased_fields": sorted(erased),
        "withheld_fields": sorted(withheld),
    }


class _HashingWriter:
    """Writes a zip member while hashing it, for the manifest."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.size += len(data)
        self.target.write(data)


class Exporter:
    def __init__(
        self,
        datastore: PostgresDatastore,
        mapper: Mapper[Any],
        checkpoints: Checkpoints,
        *,
        events_table: str = "lotse_events",
        schema: str = "public",
    ) -> None:
        self.datastore = datastore
        self.mapper = mapper
        self.checkpoints = checkpoints
        self.events = f'"{schema}"."{events_table}"'
        self.chain = f'"{schema}"."{CHAIN_TABLE}"'

    # ------------------------------------------------------------ selection

    def participants(
        self, criteria: Criteria, current: Callable[[UUID], tuple[str, str] | None]
    ) -> list[UUID]:
        """Participants matching the criteria, by their *current* provider/municipality.

        ``current`` returns a participant's (provider, municipality) or None. The
        stored JSON is only a pre-filter: the participant's own state decides.
        """
        if criteria.participant is not None:
            return [criteria.participant] if current(criteria.participant) else []
        needle = json.dumps(criteria.provider or criteria.municipality).encode()
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT DISTINCT originator_id FROM {self.events} "
                "WHERE position(%s::bytea in state) > 0",
                (needle,),
            )
            candidates = [UUID(str(r["originator_id"])) for r in curs.fetchall()]
        chosen = []
        for pid in candidates:
            where = current(pid)
            if where is None:
                continue
            provider, municipality = where
            if criteria.provider is not None and provider != criteria.provider:
                continue
            if criteria.municipality is not None and municipality != criteria.municipality:
                continue
            chosen.append(pid)
        return sorted(chosen)

    # --------------------------------------------------------------- export

    def export(
        self,
        criteria: Criteria,
        participants: list[UUID],
        target: Path,
        *,
        on_progress: Callable[[int], None] | None = None,
        link_to: Checkpoint | None = None,
    ) -> ExportSummary:
        """Write the bundle; ``link_to`` a given checkpoint (one a witness holds), else the
        earliest that covers the exported events."""
        if self.checkpoints.signing_key is None:
            msg = "the signing key is not configured: the bundle could not be signed"
            raise ExportError(msg)
        rows = self._rows(participants)
        selected: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for row in rows:
            stored = StoredEvent(
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            event = self.mapper.to_domain_event(stored)
            day = getattr(event, "effective_date", None)
            if criteria.effective_from and day is not None and day < criteria.effective_from:
                continue
            if criteria.effective_to and day is not None and day > criteria.effective_to:
                continue
            line = _event_line(row["notification_id"], event, criteria.with_identifiers)
            raw = {
                "position": row["notification_id"],
                "originator_id": str(row["originator_id"]),
                "originator_version": row["originator_version"],
                "topic": row["topic"],
                "state": base64.b64encode(bytes(row["state"])).decode(),
                "previous_hash": bytes(row["previous_hash"] or GENESIS).hex(),
                "chain_hash": bytes(row["chain_hash"]).hex() if row["chain_hash"] else None,
            }
            selected.append((line, raw))
        if not selected:
            msg = "nothing to export: no events match"
            raise ExportError(msg)
        first = selected[0][1]["position"]
        last = selected[-1][1]["position"]
        checkpoint = link_to or self.checkpoints.covering(last) or self.checkpoints.create()
        if checkpoint.position < last:
            msg = "no signed checkpoint covers the exported events"
            raise ExportError(msg)
        members: dict[str, dict[str, Any]] = {}
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            with zf.open("events.jsonl", "w") as f:
                w = _HashingWriter(f)
                for line, _raw in selected:
                    w.write(json.dumps(line, ensure_ascii=False, sort_keys=True).encode() + b"\n")
                members["events.jsonl"] = {"sha256": w.sha.hexdigest(), "bytes": w.size}
            with zf.open("rows.jsonl", "w") as f:
                w = _HashingWriter(f)
                for _line, raw in selected:
                    w.write(json.dumps(raw, sort_keys=True).encode() + b"\n")
                members["rows.jsonl"] = {"sha256": w.sha.hexdigest(), "bytes": w.size}
            with zf.open("chain.bin", "w") as f:
                w = _HashingWriter(f)
                self._write_links(w, first, checkpoint, on_progress)
                members["chain.bin"] = {"sha256": w.sha.hexdigest(), "bytes": w.size}
            checkpoint_bytes = json.dumps(checkpoint.as_json(), sort_keys=True).encode()
            zf.writestr("checkpoint.json", checkpoint_bytes)
            members["checkpoint.json"] = {
                "sha256": hashlib.sha256(checkpoint_bytes).hexdigest(),
                "bytes": len(checkpoint_bytes),
            }
            signing_key = self.checkpoints.signing_key
            assert signing_key is not None
            manifest = {
                "format": FORMAT,
                "created_at": _plain(datetime.now(UTC)),
                "criteria": criteria.as_json(),
                "participants": len(participants),
                "events": len(selected),
                "checkpoint": {"id": checkpoint.id, "position": checkpoint.position},
                "public_key_id": key_id(signing_key.public_key()),
                "files": members,
            }
            manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode()
            zf.writestr("manifest.json", manifest_bytes)
            zf.writestr("manifest.sig", base64.b64encode(signing_key.sign(manifest_bytes)))
        return ExportSummary(participants, len(selected), checkpoint)

    def _rows(self, participants: list[UUID]) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic,"
                " e.state, c.chain_hash,"
                f" (SELECT p.chain_hash FROM {self.chain} p"
                "   WHERE p.notification_id < e.notification_id"
                "   ORDER BY p.notification_id DESC LIMIT 1) AS previous_hash"
                f" FROM {self.events} e LEFT JOIN {self.chain} c"
                " ON c.notification_id = e.notification_id"
                " WHERE e.originator_id = ANY(%s::uuid[]) ORDER BY e.notification_id",
                (participants,),
            )
            return [dict(r) for r in curs.fetchall()]

    def _write_links(
        self,
        out: _HashingWriter,
        first: int,
        checkpoint: Checkpoint,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        """Anchor and digests from ``first`` to the checkpoint, checked as they go."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT chain_hash FROM {self.chain} WHERE notification_id < %s "
                "ORDER BY notification_id DESC LIMIT 1",
                (first,),
            )
            row = curs.fetchone()
            previous = bytes(row["chain_hash"]) if row else GENESIS
            out.write(previous)
            with self.datastore.get_connection() as conn, conn.transaction():
                named = conn.cursor(name="lotse_export_links")
                named.execute(
                    f"SELECT e.notification_id, {row_digest_sql('e')} AS digest,"
                    " c.chain_hash"
                    f" FROM {self.events} e LEFT JOIN {self.chain} c"
                    " ON c.notification_id = e.notification_id"
                    " WHERE e.notification_id BETWEEN %s AND %s ORDER BY e.notification_id",
                    (first, checkpoint.position),
                )
                buffer = io.BytesIO()
                for count, r in enumerate(named, start=1):
                    digest = bytes(r["digest"])
                    previous = link(previous, digest)
                    if r["chain_hash"] is None or previous != bytes(r["chain_hash"]):
                        msg = (
                            f"the log fails verification at position {r['notification_id']}: "
                            "run lotse audit verify"
                        )
                        raise ExportError(msg)
                    buffer.write(RECORD.pack(r["notification_id"], digest))
                    if count % 10_000 == 0:
                        out.write(buffer.getvalue())
                        buffer = io.BytesIO()
                        if on_progress:
                            on_progress(10_000)
                out.write(buffer.getvalue())
                named.close()
        if previous != checkpoint.chain_hash:
            msg = "the log does not lead to the signed checkpoint: run lotse audit verify"
            raise ExportError(msg)


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class BundleReport:
    ok: bool
    reason: str
    events: int = 0
    checkpoint_position: int = 0


def _fail(reason: str) -> BundleReport:
    return BundleReport(False, reason)


def _lines(data: bytes) -> Iterator[dict[str, Any]]:
    for line in data.splitlines():
        if line.strip():
            yield json.loads(line)


def verify_bundle(path: Path, public_key: Ed25519PublicKey) -> BundleReport:
    """Verify a bundle offline; the reason names the first thing that does not hold."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        return _fail(f"not a readable bundle: {type(e).__name__}")
    with zf:
        try:
            return _verify_open_bundle(zf, public_key)
        except (KeyError, ValueError, TypeError, zipfile.BadZipFile, struct.error) as e:
            return _fail(f"the bundle is malformed ({type(e).__name__}: {e})")


def _verify_open_bundle(zf: zipfile.ZipFile, public_key: Ed25519PublicKey) -> BundleReport:
    names = set(zf.namelist())
    expected = {*FILES, "manifest.json", "manifest.sig"}
    if names != expected:
        return _fail(f"the bundle must hold exactly {sorted(expected)}")
    manifest_bytes = zf.read("manifest.json")
    try:
        public_key.verify(base64.b64decode(zf.read("manifest.sig")), manifest_bytes)
    except InvalidSignature:
        return _fail("the manifest signature does not hold for this public key")
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != FORMAT:
        return _fail(f"unknown bundle format, expected {FORMAT}")
    contents = {name: zf.read(name) for name in FILES}
    for name, data in contents.items():
        listed = manifest["files"][name]
        if hashlib.sha256(data).hexdigest() != listed["sha256"] or len(data) != listed["bytes"]:
            return _fail(f"{name} does not match its hash in the manifest")

    checkpoint = Checkpoint.from_json(json.loads(contents["checkpoint.json"]))
    if not checkpoint.signature_holds(public_key):
        return _fail("the checkpoint signature does not hold for this public key")
    if manifest["checkpoint"] != {"id": checkpoint.id, "position": checkpoint.position}:
        return _fail("the manifest names another checkpoint")

    rows = list(_lines(contents["rows.jsonl"]))
    events = list(_lines(contents["events.jsonl"]))
    if not rows or len(rows) != len(events) or manifest["events"] != len(rows):
        return _fail("rows.jsonl and events.jsonl must hold the same events")
    digests: dict[int, tuple[bytes, dict[str, Any]]] = {}
    for row, event in zip(rows, events, strict=True):
        position = int(row["position"])
        encoded = encode_row(
            position,
            UUID(row["originator_id"]),
            int(row["originator_version"]),
            row["topic"],
            base64.b64decode(row["state"], validate=True),
        )
        digests[position] = (row_digest(encoded), row)
        if (
            event["position"] != position
            or event["participant_id"] != row["originator_id"]
            or event["version"] != row["originator_version"]
            or not row["topic"].endswith("." + event["type"])
        ):
            return _fail(f"the event at position {position} does not belong to its stored row")

    chain = contents["chain.bin"]
    previous = chain[:32]
    if len(previous) != 32 or (len(chain) - 32) % RECORD.size:
        return _fail("chain.bin is truncated")
    seen = 0
    position = 0
    for offset in range(32, len(chain), RECORD.size):
        position, digest = RECORD.unpack_from(chain, offset)
        own = digests.get(position)
        if own is not None:
            row_digest_value, row = own
            if digest != row_digest_value:
                return _fail(f"the stored row at position {position} was altered")
            if previous.hex() != row["previous_hash"]:
                return _fail(f"the chain before position {position} does not link")
            seen += 1
        previous = link(previous, digest)
        if own is not None and previous.hex() != own[1]["chain_hash"]:
            return _fail(f"the chain hash at position {position} does not match")
    if seen != len(digests):
        return _fail("some exported rows are not on the chain to the checkpoint")
    if position != checkpoint.position or previous != checkpoint.chain_hash:
        return _fail("the chain does not end at the signed checkpoint")
    return BundleReport(True, "ok", len(rows), checkpoint.position)
