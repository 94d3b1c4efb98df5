"""Read model ``participants``: who is in the caseload now, and where they stand.

One row per participant. Names are never stored in clear: they are sealed under the
participant's own key (unreadable once the key is destroyed) and searchable only
through a keyed blind index of their words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from lotse.projections.model import Crypto, Projection, Table, age_band
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_participants",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("programme", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("status", "text NOT NULL"),
        ("intake_date", "date NOT NULL"),
        ("exit_date", "date"),
        ("exit_reason", "text"),
        ("exit_destination", "text"),
        ("gender", "text NOT NULL"),
        ("birth_year", "int NOT NULL"),
        ("age_at_intake", "int NOT NULL"),
        ("age_band", "text NOT NULL"),
        ("nationality", "text NOT NULL"),
        ("residence_status", "text NOT NULL"),
        ("residence_valid_until", "date"),
        ("eligible", "boolean"),
        ("target_group", "text"),
        ("consent_withdrawn", "boolean NOT NULL"),
        ("language_level", "text"),
        ("open_modules", "text[] NOT NULL"),
        ("apprenticeship_since", "date"),
        ("employment_since", "date"),
        ("employment_type", "text"),
        ("coaching_contacts", "int NOT NULL"),
        ("coaching_minutes", "int NOT NULL"),
        ("lesson_hours", "numeric NOT NULL"),
        ("corrections", "int NOT NULL"),
        ("personal_data_erased", "boolean NOT NULL"),
        ("restricted", "boolean NOT NULL"),
        ("last_milestone", "text NOT NULL"),
        ("last_effective_date", "date NOT NULL"),
        ("last_recorded_at", "timestamptz NOT NULL"),
        ("version", "int NOT NULL"),
        ("position", "bigint NOT NULL"),
        ("names_sealed", "bytea"),
        ("name_index", "bytea[]"),
        # Accepted, unended referrals as "provider/module", and their providers:
        # what the caseload and the scope checks of other providers read.
        ("referrals", "text[] NOT NULL"),
        ("referred_providers", "text[] NOT NULL"),
        # User ids of the case workers responsible (CaseAssigned): "my caseload".
        ("assignees", "text[] NOT NULL"),
    ),
    primary_key=("participant_id",),
    indexes=(
        "municipality, provider, status, participant_id",
        "provider, status, participant_id",
        "gin:name_index",
        "gin:open_modules",
        "gin:referred_providers",
        "gin:assignees",
    ),
)

COLUMNS = TABLE.column_names
NAME_FIELDS = ("given_name", "family_name")


@dataclass
class Row:
    values: dict[str, Any]
    names: dict[str, Any]
    open_since: dict[str, date]
    #: The names last sealed and indexed, with the sealed value and the index:
    #: AES-GCM and a dozen HMACs per batch that touches the participant are
    #: spared while the names stay the same (live, nearly always).
    sealed: tuple[dict[str, Any], bytes | None, list[bytes]] | None = None
    #: referral id -> (receiving provider, module, accepted), while not ended.
    referrals: dict[str, tuple[str, str, bool]] = field(default_factory=dict)


class Participants(Projection[Row]):
    name = "participants"
    tables = (TABLE,)
    # The state depends on which entry set a field; a corrected entry may change
    # any of them, so refolding is simpler and exact.
    needs_identifiers = True

    def empty(self, participant_id: UUID) -> Row:
        values: dict[str, Any] = dict.fromkeys(COLUMNS)
        values.update(
            participant_id=participant_id,
            consent_withdrawn=False,
            open_modules=[],
            coaching_contacts=0,
            coaching_minutes=0,
            lesson_hours=Decimal(0),
            corrections=0,
            personal_data_erased=False,
            restricted=False,
            referrals=[],
            referred_providers=[],
            assignees=[],
        )
        return Row(values, {}, {})

    def apply(self, state: Row, event: EventRecord, identifiers: dict[str, Any]) -> Row:
        v, d = state.values, event.data
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(state, d, event, identifiers)
        v["open_modules"] = sorted(state.open_since)
        if event.type.startswith("Referral"):
            accepted = sorted((p, m) for p, m, ok in state.referrals.values() if ok)
            v["referrals"] = [f"{p}/{m}" for p, m in accepted]
            v["referred_providers"] = sorted({p for p, _ in accepted})
        v["last_milestone"] = event.type
        if event.type not in ("EntryCorrected", "EntryVoided", "PersonalDataErased"):
            last = v["last_effective_date"]
            v["last_effective_date"] = (
                max(last, event.effective_date) if last else event.effective_date
            )
        v["last_recorded_at"] = event.recorded_at
        v["version"] = event.version
        v["position"] = event.position
        return state

    def rows(self, state: Row, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        if state.values["programme"] is None:
            # The registration was voided (a duplicate): the record counts nowhere,
            # not in the caseload either. Its history and timeline stay readable.
            state.sealed = None
            return {TABLE.name: []}
        v = dict(state.values)
        pid = v["participant_id"]
        names = {k: state.names.get(k) for k in NAME_FIELDS}
        if v["personal_data_erased"] or not any(names.values()):
            v["names_sealed"], v["name_index"] = None, None
            state.sealed = None  # erased names must not live on in memory
        else:
            if state.sealed is None or state.sealed[0] != names:
                words = " ".join(str(n) for n in names.values() if n)
                state.sealed = (names, crypto.seal(pid, names), crypto.index(words))
            _, v["names_sealed"], v["name_index"] = state.sealed
        return {TABLE.name: [TABLE.row_of(v)]}


def _registered(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    v = s.values
    for key in (
        "programme",
        "provider",
        "municipality",
        "intake_date",
        "gender",
        "birth_year",
        "age_at_intake",
        "nationality",
        "residence_status",
    ):
        v[key] = d[key]
    v["age_band"] = age_band(d["age_at_intake"])
    v["residence_valid_until"] = d.get("residence_valid_until")
    v["status"] = "active"
    s.names = {k: ids.get(k) for k in NAME_FIELDS}


def _eligibility(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["eligible"] = d["eligible"]
    s.values["target_group"] = d["target_group"]


def _consent_given(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["consent_withdrawn"] = False


def _consent_withdrawn(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["consent_withdrawn"] = True


def _transferred(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["provider"] = d["to_provider"]
    s.values["municipality"] = d["to_municipality"]


def _referral_made(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.referrals[d["referral_id"]] = (d["provider"], d["module"], False)


def _referral_accepted(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    made = s.referrals.get(d["referral_id"])
    if made is not None:
        s.referrals[d["referral_id"]] = (made[0], made[1], True)


def _referral_ended(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.referrals.pop(d["referral_id"], None)


def _level(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["language_level"] = d["level"]


def _course_completed(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    if d.get("achieved_level"):
        s.values["language_level"] = d["achieved_level"]


def _module_entered(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.open_since[d["module"]] = e.effective_date


def _module_exited(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.open_since.pop(d["module"], None)


def _coaching(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["coaching_contacts"] += 1
    s.values["coaching_minutes"] += d["minutes"]


def _assigned(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["assignees"] = sorted({*s.values["assignees"], d["assignee"]})


def _unassigned(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["assignees"] = [a for a in s.values["assignees"] if a != d["assignee"]]


def _attendance(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["lesson_hours"] += Decimal(d["lesson_hours"])


def _apprenticeship_started(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["apprenticeship_since"] = e.effective_date


def _apprenticeship_ended(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["apprenticeship_since"] = None


def _employment_started(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["employment_since"] = e.effective_date
    s.values["employment_type"] = d["employment_type"]


def _employment_ended(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["employment_since"] = None
    s.values["employment_type"] = None


def _residence(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["residence_status"] = d["status"]
    s.values["residence_valid_until"] = d.get("valid_until")


def _exited(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["status"] = "exited"
    s.values["exit_date"] = e.effective_date
    s.values["exit_reason"] = d["reason"]
    s.values["exit_destination"] = d["destination"]


def _reentered(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    # A new enrolment period: active again, eligibility to be assessed anew.
    s.values.update(
        status="active",
        exit_date=None,
        exit_reason=None,
        exit_destination=None,
        eligible=None,
        target_group=None,
        consent_withdrawn=False,
    )


def _corrected(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    s.values["corrections"] += 1
    # Corrections of the names arrive sealed; the runner refolds for anything else.
    for key in NAME_FIELDS:
        if f"changes.{key}" in ids and ids[f"changes.{key}"] is not None:
            s.names[key] = ids[f"changes.{key}"]


def _erased(s: Row, d: dict[str, Any], e: EventRecord, ids: dict[str, Any]) -> None:
    if d["mode"] == "restrict":
        s.values["restricted"] = True
    else:
        s.values["personal_data_erased"] = True
        s.values["restricted"] = False
        s.names = {}


_HANDLERS = {
    "Registered": _registered,
    "EligibilityAssessed": _eligibility,
    "ConsentGiven": _consent_given,
    "ConsentWithdrawn": _consent_withdrawn,
    "CaseTransferred": _transferred,
    "ReferralMade": _referral_made,
    "ReferralAccepted": _referral_accepted,
    "ReferralEnded": _referral_ended,
    "LanguageLevelAssessed": _level,
    "LanguageCourseCompleted": _course_completed,
    "ModuleEntered": _module_entered,
    "ModuleExited": _module_exited,
    "CoachingContactLogged": _coaching,
    "CaseAssigned": _assigned,
    "CaseUnassigned": _unassigned,
    "CourseAttendanceRecorded": _attendance,
    "ApprenticeshipStarted": _apprenticeship_started,
    "ApprenticeshipAborted": _apprenticeship_ended,
    "ApprenticeshipCompleted": _apprenticeship_ended,
    "EmploymentStarted": _employment_started,
    "EmploymentEnded": _employment_ended,
    "ResidenceStatusChanged": _residence,
    "Exited": _exited,
    "Reentered": _reentered,
    "EntryCorrected": _corrected,
    "PersonalDataErased": _erased,
}


# ------------------------------------------------------------------ queries


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: tuple[date, UUID] | None


async def query_page(
    conn: Any,
    *,
    provider: str | None,
    municipality: str | None,
    status: str | None,
    module: str | None,
    name_terms: list[bytes] | None,
    after: tuple[date, UUID] | None,
    limit: int,
    include_restricted: bool = True,
    with_referrals: bool = False,
    assigned_to: str | None = None,
) -> Page:
    """One page of participants in intake order, by keyset (stable under inserts).

    With ``with_referrals``, ``provider`` also matches the active participants with an
    accepted referral to that provider (their rows carry ``referrals``).
    """
    where, args = [], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if provider is not None and with_referrals:
        # The provider's own caseload and the active participants referred to it;
        # a module filter matches a referred participant only by a referred module
        # (the other open stays are not the provider's to know).
        p = arg(provider)
        if module is None:
            referred = f"referred_providers @> ARRAY[{p}]::text[]"
        else:
            referred = f"referrals @> ARRAY[{p} || '/' || {arg(module)}]::text[]"
        where.append(f"(provider = {p} OR ({referred} AND status = 'active'))")
    elif provider is not None:
        where.append(f"provider = {arg(provider)}")
    if municipality is not None:
        where.append(f"municipality = {arg(municipality)}")
    if status is not None:
        where.append(f"status = {arg(status)}")
    if module is not None:
        where.append(f"open_modules @> ARRAY[{arg(module)}]::text[]")
    if name_terms is not None:
        where.append(f"name_index @> {arg(name_terms)}::bytea[]")
    if assigned_to is not None:
        where.append(f"assignees @> ARRAY[{arg(assigned_to)}]::text[]")
    if not include_restricted:
        where.append("NOT restricted")
    if after is not None:
        where.append(f"(intake_date, participant_id) > ({arg(after[0])}, {arg(after[1])})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT * FROM {TABLE.name} {clause} "
        f"ORDER BY intake_date, participant_id LIMIT {arg(limit + 1)}",
        *args,
    )
    page = [dict(r) for r in rows[:limit]]
    more = len(rows) > limit
    last = page[-1] if page else None
    return Page(page, (last["intake_date"], last["participant_id"]) if more and last else None)


async def query_scope(conn: Any, participant_id: UUID) -> dict[str, Any] | None:
    """What the scope checks need of one participant: placement, status, referrals."""
    row = await conn.fetchrow(
        f"SELECT provider, municipality, status, restricted, referrals FROM {TABLE.name} "
        "WHERE participant_id = $1",
        participant_id,
    )
    return dict(row) if row is not None else None


def referral_pairs(referrals: list[str] | None) -> list[tuple[str, str]]:
    """The ``referrals`` column as (provider, module) pairs."""
    pairs = []
    for item in referrals or ():
        provider, _, module = item.partition("/")
        pairs.append((provider, module))
    return pairs


async def query_placements(conn: Any, participant_ids: list[UUID]) -> dict[UUID, tuple[str, str]]:
    """Each participant's current (provider, municipality), for scope checks."""
    rows = await conn.fetch(
        f"SELECT participant_id, provider, municipality FROM {TABLE.name} "
        "WHERE participant_id = ANY($1::uuid[])",
        participant_ids,
    )
    return {r["participant_id"]: (r["provider"], r["municipality"]) for r in rows}
