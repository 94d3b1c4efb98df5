"""Is a journey still consistent once an entry is corrected or voided?

A correction or a void changes the past, and every entry recorded after the
changed one was checked against the past as it was. So the journey *as it would
be* is checked again, entry by entry in version order, by the very commands that
recorded the entries (``domain.catalogue``) on a scratch participant: a stay that
would end before it starts, lesson hours billed to F4 after the F4 stay was
corrected away, a date before the intake, a module left open at the exit, each
fails here with the rule the command names. There is no second copy of the rules.

The scratch participant is never saved; the check has no I/O.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from datetime import date
from functools import cache
from typing import Any

from lotse.domain.catalogue import BY_EVENT
from lotse.domain.configuration import Programme
from lotse.domain.envelope import Envelope
from lotse.domain.errors import DomainError, RuleViolationError
from lotse.domain.participant import Participant

#: Command parameters that come from the envelope or the caller, not the event.
_NOT_FROM_EVENT = frozenset({"self", "envelope", "effective_date", "today", "programme"})
#: Rule codes too generic to tell the user anything beyond "the journey breaks".
_GENERIC = frozenset({"invalid-input", "rule-violated", "domain-error"})


@cache
def _arguments(command: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(p for p in inspect.signature(command).parameters if p not in _NOT_FROM_EVENT)


def _envelope(event: Participant.Event) -> Envelope:
    return Envelope(event.recorded_by, event.recorded_role, event.organisation, event.request_id)


def check_journey(
    entries: Mapping[int, Participant.Event],
    programme: Programme,
    today: date,
    *,
    changed: str,
) -> None:
    """Replay ``entries`` (version -> entry) through their commands; raise on the first break.

    ``changed`` names the request field that made the change (``changes`` or
    ``voids_version``); the error names it, the rule that breaks and the entry
    (version and type) where it breaks, never a value.
    """
    ordered = [entries[v] for v in sorted(entries)]
    if not ordered:
        return
    registered = ordered[0]
    assert isinstance(registered, Participant.Registered)
    try:
        scratch = _register(registered, programme, today)
    except DomainError as e:
        raise _broken(e, registered, changed) from None
    for entry in ordered[1:]:
        milestone = BY_EVENT.get(type(entry))
        if milestone is None:  # pragma: no cover - every entry type has its command
            continue
        kwargs = {
            name: getattr(entry, name)
            for name in _arguments(milestone.command)
            if hasattr(entry, name)
        }
        if milestone.needs_programme:
            kwargs["programme"] = programme
        try:
            milestone.command(
                scratch,
                envelope=_envelope(entry),
                effective_date=entry.effective_date,
                today=today,
                **kwargs,
            )
        except DomainError as e:
            raise _broken(e, entry, changed) from None
        triggered = scratch.collect_events()
        if len(triggered) > 1:
            # Only the exit triggers more than its own event: it closes the stays
            # still open. In a recorded journey they were closed before it.
            open_modules = ", ".join(
                e.module for e in triggered if isinstance(e, Participant.ModuleExited)
            )
            msg = (
                f"with this change, module {open_modules} would still be open at the exit "
                f"(entry {entry.originator_version})"
            )
            raise RuleViolationError(msg, field=changed, rule="module-open-at-exit")


def _register(registered: Participant.Registered, programme: Programme, today: date) -> Participant:
    scratch = Participant.register(
        envelope=_envelope(registered),
        today=today,
        programme=programme,
        provider=registered.provider,
        municipality=registered.municipality,
        intake_date=registered.intake_date,
        given_name=registered.given_name or "erased",
        family_name=registered.family_name or "erased",
        birth_date=registered.birth_date or date(registered.birth_year, 1, 1),
        gender=registered.gender,
        nationality=registered.nationality,
        residence_status=registered.residence_status,
        age_exception_reason=registered.age_exception_reason,
        residence_valid_until=registered.residence_valid_until,
        participant_id=registered.originator_id,
    )
    scratch.collect_events()
    return scratch


def _broken(error: DomainError, entry: Participant.Event, changed: str) -> RuleViolationError:
    rule = error.rule if error.rule not in _GENERIC else "journey-inconsistent"
    msg = (
        f"with this change the journey would break a rule at entry {entry.originator_version} "
        f"({type(entry).__name__}): {error.message}"
    )
    return RuleViolationError(msg, field=changed, rule=rule)
