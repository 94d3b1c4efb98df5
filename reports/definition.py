"""What a report is asked for: kind, programme, period and scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lotse.domain.configuration import Configuration
from lotse.reports.cells import TOTAL
from lotse.reports.periods import Period, parse_period

KINDS = ("monitoring", "outcomes", "financial")
#: Bump a kind's version whenever its figures would be computed differently:
#: stored runs record the version they were computed with.
DEFINITION_VERSIONS = {
    # 2: opening stock in the stock identity, every residence status, pooled nationalities
    "monitoring": "monitoring/2",
    "outcomes": "outcomes/1",
    "financial": "financial/2",
}


@dataclass(frozen=True)
class ReportRequest:
    kind: str
    programme: str
    period: Period
    municipality: str | None = None
    """Only this municipality (the caller's scope, or a filter within it)."""
    provider: str | None = None

    def period_arguments(self) -> tuple[Any, ...]:
        """The SQL arguments of the outcome and financial queries, in their order."""
        p = self.period
        return (self.programme, p.start, p.end, self.municipality, self.provider)

    def in_scope(self, row: Mapping[str, Any]) -> bool:
        """Whether a read-model row belongs to this report's programme and scope."""
        return (
            row["programme"] == self.programme
            and (self.municipality is None or row["municipality"] == self.municipality)
            and (self.provider is None or row["provider"] == self.provider)
        )

    def in_period_and_scope(self, row: Mapping[str, Any]) -> bool:
        """In scope, and effective within the period (outcomes, counted units)."""
        return self.period.start <= row["effective_date"] <= self.period.end and self.in_scope(row)

    def parameters(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "programme": self.programme,
            "period": self.period.text,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "municipality": self.municipality,
            "provider": self.provider,
        }

    @classmethod
    def from_parameters(cls, data: dict[str, Any]) -> ReportRequest:
        return cls(
            kind=data["kind"],
            programme=data["programme"],
            period=parse_period(data["period"]),
            municipality=data["municipality"],
            provider=data["provider"],
        )


@dataclass(frozen=True)
class Labels:
    """Display names from the configuration, for the tables."""

    municipalities: dict[str, str]
    providers: dict[str, str]
    provider_municipality: dict[str, str]
    modules: list[str]
    """Per-participant module codes of the programme, in order."""
    nationalities: tuple[str, ...] = ()
    """Nationalities shown on their own; the others pool as ``other`` (none: as observed)."""

    @classmethod
    def of(cls, config: Configuration, programme: str) -> Labels:
        prog = config.programmes[programme]
        return cls(
            municipalities={m.id: m.name for m in config.municipalities.values()},
            providers={p.id: p.name for p in config.providers.values()},
            provider_municipality={p.id: p.municipality for p in config.providers.values()},
            modules=[m.code for m in prog.modules if m.per_participant],
            nationalities=prog.report_nationalities,
        )

    def municipalities_in(self, request: ReportRequest, observed: set[str]) -> list[str]:
        if request.provider is not None:
            own = self.provider_municipality.get(request.provider)
            return [own] if own else sorted(observed)
        if request.municipality is not None:
            return [request.municipality]
        return sorted(set(self.municipalities) | observed)

    def municipality(self, key: str) -> str:
        from lotse.reports.labels import ALL_MUNICIPALITIES

        return ALL_MUNICIPALITIES if key == TOTAL else self.municipalities.get(key, key)
