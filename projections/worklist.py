"""Read model ``worklist``: what is due for whom (Wiedervorlage).

The fold keeps, per participant, the dates the programme's deadlines start from
(a permit's expiry, the exit, an apprenticeship abort, the last coaching contact,
the consent given, the entry into a module, the earliest possible birthday) and
whether the item they start is open or done, and by which event. It knows no
lead time: the due dates are computed when the list is read, from the programme's
``[worklist]`` rules (``domain.configuration.WorklistRules``). So a changed lead
time applies without a rebuild, items that depend on "today" (no contact for N
days, the age limit, a superseded consent) need no daily job, and the fold stays
pure.

Kinds and what closes them (the state ``done`` names the event):

- ``residence_expiry``: an expiry recorded with the status (registration, or
  ``ResidenceStatusChanged``); due ``residence_expiry_lead_days`` before it. Done by
  a later ``ResidenceStatusChanged`` with another expiry (or none), or the ``Exited``.
- ``follow_up_due``: the exit; due ``follow_up_months`` after it. Done by
  ``FollowUpRecorded``, or by ``Reentered`` (the person is back in the programme).
- ``apprenticeship_abort_notice``: ``ApprenticeshipAborted`` (§ 60c (5) AufenthG);
  due ``apprenticeship_abort_notice_days`` after it. Done by a
  ``ResidenceStatusChanged`` on or after the abort (the foreigners' office acted).
- ``module_closed_by_programme``: a stay in a module the programme closes (the
  module's ``ends``) that was open on that day; due on it. Done by ``ModuleExited``.
- ``no_contact``: while a module is open, the last coaching contact (or the entry,
  if later); due ``no_contact_days`` after it. A contact moves it on.
- ``consent_superseded``: the consent version given; due when a newer version is
  in force (from its ``valid_from``). A consent in the new version ends it.
- ``age_limit``: the earliest day the participant may have reached
  ``eligibility.max_age`` + 1, derived from the birth year and the age at intake
  that the read models already hold in clear, never from the sealed birth date
  (an exact birthday would reveal it). Ends with the exit.

A dismissal (``WorklistItemDismissed``) names the kind and the due date the list
showed; the item with that kind and due date is then ``dismissed`` (with the
reason and by whom). Restricted or erased participants have no items: their data
is not processed any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from lotse.projections.model import Crypto, Projection, Table
from lotse.projections.records import EventRecord

TABLE = Table(
    name="rm_worklist",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        # Where the participant is now and who is responsible, kept here so that a
        # provider's list is read by index without a join (the caseload's scope).
        ("programme", "text NOT NULL"),
        ("provider", "text NOT NULL"),
        ("municipality", "text NOT NULL"),
        ("assignees", "text[] NOT NULL"),
        ("kind", "text NOT NULL"),
        # Tells items of one kind apart: the version of the entry that opened it.
        ("subject", "text NOT NULL"),
        ("anchor", "date NOT NULL"),
        # The module (module_closed_by_programme) or consent version (consent_superseded).
        ("detail", "text"),
        ("state", "text NOT NULL"),
        ("done_by", "text"),
        ("done_version", "int"),
        ("done_date", "date"),
    ),
    primary_key=("participant_id", "kind", "subject"),
    indexes=("provider, state", "municipality, state", "gin:assignees"),
)

DISMISSALS = Table(
    name="rm_worklist_dismissals",
    columns=(
        ("participant_id", "uuid NOT NULL"),
        ("version", "int NOT NULL"),
        ("kind", "text NOT NULL"),
        ("due_date", "date NOT NULL"),
        ("reason", "text NOT NULL"),
        ("dismissed_by", "text NOT NULL"),
        ("dismissed_on", "date NOT NULL"),
    ),
    primary_key=("participant_id", "version"),
    indexes=("participant_id, kind, due_date",),
)

#: Kinds whose rows the fold opens and closes; the others it derives on ``rows``.
STORED = ("residence_expiry", "follow_up_due", "apprenticeship_abort_notice")


@dataclass
class Due:
    participant_id: UUID
    registered: bool = False
    placement: dict[str, Any] = field(default_factory=dict)
    assignees: list[str] = field(default_factory=list)
    active: bool = False
    erased: bool = False
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: module -> (entered, version of the entry) while open.
    open_since: dict[str, tuple[date, int]] = field(default_factory=dict)
    last_contact: date | None = None
    consent: tuple[str, date] | None = None
    born_earliest: date | None = None
    dismissals: list[tuple[Any, ...]] = field(default_factory=list)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def earliest_birth_date(birth_year: int, age_at_intake: int, intake_date: date) -> date:
    """The earliest birth date that fits the birth year and the age at intake."""
    by_age = _years_before(intake_date, age_at_intake + 1) + timedelta(days=1)
    return max(date(birth_year, 1, 1), by_age)


class Worklist(Projection[Due]):
    name = "worklist"
    tables = (TABLE, DISMISSALS)

    def empty(self, participant_id: UUID) -> Due:
        return Due(participant_id)

    @staticmethod
    def _open(s: Due, kind: str, event: EventRecord, anchor: date, detail: Any = None) -> None:
        s.items[(kind, str(event.version))] = {
            "participant_id": s.participant_id,
            "kind": kind,
            "subject": str(event.version),
            "anchor": anchor,
            "detail": detail,
            "state": "open",
            "done_by": None,
            "done_version": None,
            "done_date": None,
        }

    @staticmethod
    def _close(s: Due, kind: str, event: EventRecord, when: Any = None) -> None:
        for (k, _), item in s.items.items():
            if k == kind and item["state"] == "open" and (when is None or when(item)):
                s.items[(k, item["subject"])] = {
                    **item,
                    "state": "done",
                    "done_by": event.type,
                    "done_version": event.version,
                    "done_date": event.effective_date,
                }

    def apply(self, state: Due, event: EventRecord, identifiers: dict[str, Any]) -> Due:
        s, d, t = state, event.data, event.type
        if t == "Registered":
            s.registered = True
            s.placement = {
                "programme": d["programme"],
                "provider": d["provider"],
                "municipality": d["municipality"],
            }
            s.active = True
            s.born_earliest = earliest_birth_date(
                d["birth_year"], d["age_at_intake"], d["intake_date"]
            )
            if d.get("residence_valid_until") is not None:
                self._open(s, "residence_expiry", event, d["residence_valid_until"])
        elif t == "ResidenceStatusChanged":
            expiry = d.get("valid_until")
            kept = any(
                k == "residence_expiry" and i["state"] == "open" and i["anchor"] == expiry
                for (k, _), i in s.items.items()
            )
            self._close(s, "residence_expiry", event, lambda i: i["anchor"] != expiry)
            if expiry is not None and not kept:
                self._open(s, "residence_expiry", event, expiry)
            self._close(
                s,
                "apprenticeship_abort_notice",
                event,
                lambda i: i["anchor"] <= event.effective_date,
            )
        elif t == "CaseTransferred":
            s.placement = {
                **s.placement,
                "provider": d["to_provider"],
                "municipality": d["to_municipality"],
            }
        elif t == "CaseAssigned":
            s.assignees = sorted({*s.assignees, d["assignee"]})
        elif t == "CaseUnassigned":
            s.assignees = [a for a in s.assignees if a != d["assignee"]]
        elif t == "ApprenticeshipAborted":
            self._open(s, "apprenticeship_abort_notice", event, event.effective_date)
        elif t == "ModuleEntered":
            s.open_since[d["module"]] = (event.effective_date, event.version)
            self._open(s, "module_closed_by_programme", event, event.effective_date, d["module"])
        elif t == "ModuleExited":
            s.open_since.pop(d["module"], None)
            self._close(
                s, "module_closed_by_programme", event, lambda i: i["detail"] == d["module"]
            )
        elif t == "CoachingContactLogged":
            if s.last_contact is None or event.effective_date > s.last_contact:
                s.last_contact = event.effective_date
        elif t == "ConsentGiven":
            s.consent = (d["consent_version"], event.effective_date)
        elif t == "ConsentWithdrawn":
            s.consent = None
        elif t == "Exited":
            s.active = False
            self._close(s, "residence_expiry", event)
            self._open(s, "follow_up_due", event, event.effective_date)
        elif t == "FollowUpRecorded":
            self._close(s, "follow_up_due", event)
        elif t == "Reentered":
            s.active = True
            s.consent = None  # the new period needs its own consent
            self._close(s, "follow_up_due", event)
        elif t == "WorklistItemDismissed":
            s.dismissals.append(
                (
                    s.participant_id,
                    event.version,
                    d["kind"],
                    d["due_date"],
                    d["reason"],
                    event.recorded_by,
                    event.effective_date,
                )
            )
        elif t == "PersonalDataErased":
            s.erased = True
        return s

    def rows(self, state: Due, crypto: Crypto) -> dict[str, list[tuple[Any, ...]]]:
        s = state
        if not s.registered or s.erased:
            # A voided registration counts nowhere; a restricted or erased
            # participant's data is no longer processed.
            return {TABLE.name: [], DISMISSALS.name: []}
        where = {**s.placement, "assignees": s.assignees}
        rows = [TABLE.row_of({**i, **where}) for i in s.items.values()]
        derived: list[tuple[str, date, Any]] = []
        if s.active and s.open_since:
            since = min(day for day, _ in s.open_since.values())
            last = max(since, s.last_contact) if s.last_contact else since
            derived.append(("no_contact", last, None))
        if s.active and s.born_earliest is not None:
            derived.append(("age_limit", s.born_earliest, None))
        if s.active and s.consent is not None:
            derived.append(("consent_superseded", s.consent[1], s.consent[0]))
        for kind, anchor, detail in derived:
            item = {
                "participant_id": s.participant_id,
                "kind": kind,
                "subject": "",
                "anchor": anchor,
                "detail": detail,
                "state": "open",
                "done_by": None,
                "done_version": None,
                "done_date": None,
            }
            rows.append(TABLE.row_of({**item, **where}))
        return {TABLE.name: rows, DISMISSALS.name: list(s.dismissals)}


# ------------------------------------------------------------------ queries

#: The due date of each kind, from the stored anchor and the programme's rules
#: ($-parameters named in ``_RULE_ARGS``); NULL when the row is not (yet) an item.
#: ``m`` is the row of the module's configured end (module_closed_by_programme).
_DUE_DATE = """
CASE w.kind
  WHEN 'residence_expiry' THEN w.anchor - $lead_days::int
  WHEN 'follow_up_due' THEN (w.anchor + make_interval(months => $follow_up_months::int))::date
  WHEN 'apprenticeship_abort_notice' THEN w.anchor + $abort_days::int
  WHEN 'no_contact' THEN w.anchor + $no_contact_days::int
  WHEN 'age_limit' THEN (w.anchor + make_interval(years => $age_limit_years::int))::date
  WHEN 'consent_superseded' THEN CASE
    WHEN $consent_version::text IS NULL OR w.detail = $consent_version::text THEN NULL
    ELSE greatest(w.anchor, $consent_from::date) END
  WHEN 'module_closed_by_programme' THEN CASE
    WHEN w.anchor <= m.ends AND (w.state = 'open' OR w.done_date > m.ends) THEN m.ends END
END
"""
_RULE_ARGS = (
    "lead_days",
    "follow_up_months",
    "abort_days",
    "no_contact_days",
    "age_limit_years",
    "consent_version",
    "consent_from",
)


@dataclass(frozen=True)
class Rules:
    """The parameters of one programme's rules, for ``query_items``."""

    programme: str
    lead_days: int
    follow_up_months: int
    abort_days: int
    no_contact_days: int
    age_limit_years: int
    consent_version: str | None
    consent_from: date | None
    module_codes: list[str]
    module_ends: list[date]


@dataclass(frozen=True)
class Scope:
    """Whose items: the filters the access policy derived for the caller."""

    provider: str | None
    municipality: str | None
    #: The kinds a provider sees of participants referred to it (for the referred modules).
    referred_kinds: frozenset[str] = frozenset()


async def query_items(
    conn: Any,
    rules: Rules,
    scope: Scope,
    *,
    until: date,
    kinds: list[str] | None,
    states: list[str],
    assigned_to: str | None,
    limit: int,
    participant: UUID | None = None,
) -> list[dict[str, Any]]:
    """Items of one programme due on or before ``until`` (overdue ones included)."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    due = _DUE_DATE
    for name in _RULE_ARGS:
        due = due.replace(f"${name}", arg(getattr(rules, name)))
    ends = (
        f"unnest({arg(rules.module_codes)}::text[], {arg(rules.module_ends)}::date[])"
        " AS m(code, ends)"
    )
    where = [
        f"w.programme = {arg(rules.programme)}",
        # Stays of modules the programme does not close are no items: left out early.
        "(w.kind <> 'module_closed_by_programme' OR m.code IS NOT NULL)",
    ]
    if "done" not in states:
        # Open and dismissed items are rows still open: done ones need no due date.
        where.append("w.state = 'open'")
    if scope.municipality is not None:
        where.append(f"w.municipality = {arg(scope.municipality)}")
    if kinds is not None:
        where.append(f"w.kind = ANY({arg(kinds)}::text[])")
    if assigned_to is not None:
        where.append(f"w.assignees @> ARRAY[{arg(assigned_to)}]::text[]")
    if participant is not None:
        where.append(f"w.participant_id = {arg(participant)}")
    columns = (
        "w.participant_id, w.kind, w.detail, w.state, w.done_by, w.done_version, w.done_date,"
        f" w.provider, w.municipality, w.assignees, ({due}) AS due_date"
    )
    source = (
        f"FROM {TABLE.name} w LEFT JOIN {ends}"
        " ON w.kind = 'module_closed_by_programme' AND m.code = w.detail"
    )
    if scope.provider is None:
        selected = f"SELECT {columns} {source} WHERE {' AND '.join(where)}"
    else:
        p = arg(scope.provider)
        selected = f"SELECT {columns} {source} WHERE w.provider = {p} AND {' AND '.join(where)}"
        if scope.referred_kinds:
            # The participants referred to the provider: only the referred modules' kinds.
            selected += (
                f" UNION ALL SELECT {columns} {source}"
                " JOIN rm_participants r ON r.participant_id = w.participant_id"
                f" WHERE r.referred_providers @> ARRAY[{p}]::text[] AND r.status = 'active'"
                f" AND w.provider <> {p} AND w.kind = ANY({arg(sorted(scope.referred_kinds))})"
                f" AND r.referrals @> ARRAY[{p} || '/' || w.detail]::text[]"
                f" AND {' AND '.join(where)}"
            )
    shown = "CASE WHEN i.state = 'open' AND d.version IS NOT NULL THEN 'dismissed' ELSE i.state END"
    sql = f"""
WITH items AS ({selected}), dismissed AS (
  SELECT DISTINCT ON (participant_id, kind, due_date)
         participant_id, kind, due_date, reason, dismissed_by, version, dismissed_on
  FROM {DISMISSALS.name}
  ORDER BY participant_id, kind, due_date, version DESC
)
SELECT i.*, d.reason AS dismissed_reason, d.dismissed_by, d.version AS dismissed_version,
       d.dismissed_on, {shown} AS shown_state
FROM items i
LEFT JOIN dismissed d USING (participant_id, kind, due_date)
WHERE i.due_date IS NOT NULL AND i.due_date <= {arg(until)}
  AND {shown} = ANY({arg(states)}::text[])
ORDER BY i.due_date, i.participant_id, i.kind
LIMIT {arg(limit)}
"""
    return [dict(r) for r in await conn.fetch(sql, *args)]


async def count_overdue(
    conn: Any, rules: Rules, municipality: str | None, on: date
) -> dict[tuple[str, str], int]:
    """(provider, municipality) -> items of one programme overdue on ``on``: due
    before it, and neither done nor dismissed before it (the data quality report).

    Items the fold derives anew (no contact, age limit, consent) exist only as they
    stand now, so for a past day these count as the due list shows them today.
    """
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    due = _DUE_DATE
    for name in _RULE_ARGS:
        due = due.replace(f"${name}", arg(getattr(rules, name)))
    ends = (
        f"unnest({arg(rules.module_codes)}::text[], {arg(rules.module_ends)}::date[])"
        " AS m(code, ends)"
    )
    day = arg(on)
    where = [
        f"w.programme = {arg(rules.programme)}",
        "(w.kind <> 'module_closed_by_programme' OR m.code IS NOT NULL)",
        f"(w.state = 'open' OR w.done_date >= {day})",
    ]
    if municipality is not None:
        where.append(f"w.municipality = {arg(municipality)}")
    sql = f"""
WITH items AS (
  SELECT w.participant_id, w.kind, w.provider, w.municipality, ({due}) AS due_date
  FROM {TABLE.name} w LEFT JOIN {ends}
    ON w.kind = 'module_closed_by_programme' AND m.code = w.detail
  WHERE {" AND ".join(where)}
)
SELECT i.provider, i.municipality, count(*) AS overdue
FROM items i
WHERE i.due_date < {day}
  AND NOT EXISTS (
    SELECT 1 FROM {DISMISSALS.name} d
    WHERE d.participant_id = i.participant_id AND d.kind = i.kind
      AND d.due_date = i.due_date AND d.dismissed_on < {day})
GROUP BY i.provider, i.municipality
"""
    return {(r["provider"], r["municipality"]): r["overdue"] for r in await conn.fetch(sql, *args)}
