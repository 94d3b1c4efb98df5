"""Which modules an outcome is attributed to: a rule on dates, not the recording order.

An outcome (an exit's destination, a follow-up, an apprenticeship or employment
begun) dated D counts for the modules of the person's enrolment period in which D
lies (the period begins at the intake or re-entry date on or before D) that were
*open on D*: entered on or before D and not ended before D (a stay ending on D, as
every stay does on the exit date, is open on D). If no stay was open on D, the
outcome counts for the modules whose stays ended last before D (a follow-up months
after the exit counts for the modules left at the exit). No stay before D: no
module (the outcome counts only in the total).

Before, an outcome took the modules entered before it was *recorded*: an entry
typed late, or a stay begun after the outcome but recorded before it, changed the
success per module. Read models that attribute outcomes keep a ``Stays`` and ask
it when they build their rows, so a late entry changes the attribution of outcomes
already recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from lotse.projections.records import EventRecord


@dataclass
class Stays:
    """A participant's module stays and enrolment period starts, by date."""

    #: (module, entered, exited or None)
    stays: list[tuple[str, date, date | None]] = field(default_factory=list)
    period_starts: list[date] = field(default_factory=list)

    def follow(self, event: EventRecord) -> None:
        d = event.data
        if event.type in ("Registered", "Reentered"):
            self.period_starts.append(d["intake_date"])
        elif event.type == "ModuleEntered":
            self.stays.append((d["module"], event.effective_date, None))
        elif event.type == "ModuleExited":
            for i in reversed(range(len(self.stays))):
                module, entered, exited = self.stays[i]
                if module == d["module"] and exited is None:
                    self.stays[i] = (module, entered, event.effective_date)
                    break

    def modules_at(self, day: date) -> list[str]:
        """The modules an outcome dated ``day`` counts for (see the module's rule)."""
        starts = [s for s in self.period_starts if s <= day]
        begin = max(starts) if starts else None
        stays = [
            (m, exited)
            for m, entered, exited in self.stays
            if entered <= day and (begin is None or entered >= begin)
        ]
        open_on_day = {m for m, exited in stays if exited is None or exited >= day}
        if open_on_day:
            return sorted(open_on_day)
        ended = [exited for _, exited in stays if exited is not None]
        if not ended:
            return []
        last = max(ended)
        return sorted({m for m, exited in stays if exited == last})
