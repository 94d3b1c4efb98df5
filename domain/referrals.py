"""A referral of a participant to another provider for one module.

The provider that leads the case (the participant's ``provider``) may refer the
person to other providers for a module: coaching (F1) at a welfare organisation,
the F4 course at the Volkshochschule. A referral rests on the consent given at the
time; the receiving provider accepts it, and either side ends it. What an accepted
referral lets the receiving provider see and record is decided in ``domain.access``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Referral:
    referral_id: str
    provider: str
    """The receiving provider."""
    module: str
    consent_version: str
    """The consent version the referral rests on (the one in force when it was made)."""
    made_on: date
    accepted_on: date | None = None
    ended_on: date | None = None
    end_reason: str | None = None

    @property
    def ended(self) -> bool:
        return self.ended_on is not None

    @property
    def accepted(self) -> bool:
        """Accepted and not ended: the state in which it grants anything."""
        return self.accepted_on is not None and self.ended_on is None
