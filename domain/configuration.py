"""Programme, municipality and provider configuration, read from TOML files.

A programme (its modules, eligibility rules, flat rates, consent texts and
retention) is data, so a successor programme is a new file, not new code. Every
problem found is collected and reported at once, with the file and key, so an
operator can fix a configuration in one go.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from domain.errors import ConfigurationError
from domain.vocabulary import TargetGroup

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


@dataclass(frozen=True)
class Module:
    code: str
    name: str
    per_participant: bool
    excludes_employment_ban: bool = False
    requires_no_regular_school_access: bool = False
    ends: date | None = None


@dataclass(frozen=True)
class FlatRate:
    code: str
    module: str
    unit: str
    amount_eur: Decimal


@dataclass(frozen=True)
class ConsentVersion:
    id: str
    valid_from: date
    languages: tuple[str, ...]


@dataclass(frozen=True)
class EligibilityRules:
    rule_version: str
    min_age: int
    max_age: int
    target_groups: tuple[str, ...]


@dataclass(frozen=True)
class Programme:
    id: str
    name: str
    config_version: str
    funding_start: date
    funding_end: date
    retention_years_after_funding_end: int
    eligibility: EligibilityRules
    modules: tuple[Module, ...]
    flat_rates: tuple[FlatRate, ...]
    consent_versions: tuple[ConsentVersion, ...]

    def module(self, code: str) -> Module | None:
        return next((m for m in self.modules if m.code == code), None)

    def consent_version(self, version_id: str) -> ConsentVersion | None:
        return next((c for c in self.consent_versions if c.id == version_id), None)

    @property
    def retention_end(self) -> date:
        """The day after which records kept for funding law may be shredded."""
        end = self.funding_end
        years = end.year + self.retention_years_after_funding_end
        # 29 February has no counterpart in most years: keep the 28th.
        return end.replace(year=years, day=min(end.day, 28) if end.month == 2 else end.day)


@dataclass(frozen=True)
class Municipality:
    id: str
    name: str


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    municipality: str
    programmes: tuple[str, ...] | None = None
    """The programmes the provider delivers; ``None`` (the key left out) means all."""

    def delivers(self, programme_id: str) -> bool:
        return self.programmes is None or programme_id in self.programmes


@dataclass(frozen=True)
class Configuration:
    programmes: dict[str, Programme]
    municipalities: dict[str, Municipality]
    providers: dict[str, Provider]
    directory: Path = field(default=DEFAULT_CONFIG_DIR)

    def municipality_of(self, provider_id: str) -> str | None:
        provider = self.providers.get(provider_id)
        return provider.municipality if provider else None


class _Reader:
    """Reads typed values from a parsed TOML table, collecting problems."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems

    def get(
        self, table: dict[str, Any], key: str, kind: type, where: str, default: Any = ...
    ) -> Any:
        if key not in table:
            if default is ...:
                self.problems.append(f"{self.source}: {where}{key} is missing")
                return None
            return default
        value = table[key]
        # TOML booleans are ints in Python's eyes; keep them apart.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problems.append(
                f"{self.source}: {where}{key} must be {kind.__name__}, got {type(value).__name__}"
            )
            return None
        return value


def _load_toml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
    except tomllib.TOMLDecodeError as e:
        problems.append(f"{path}: not valid TOML: {e}")
    return {}


def _read_programme(path: Path, problems: list[str]) -> Programme | None:
    data = _load_toml(path, problems)
    if not data:
        return None
    r = _Reader(str(path), problems)
    before = len(problems)
    elig = data.get("eligibility", {})
    eligibility = EligibilityRules(
        rule_version=r.get(elig, "rule_version", str, "eligibility."),
        min_age=r.get(elig, "min_age", int, "eligibility."),
        max_age=r.get(elig, "max_age", int, "eligibility."),
        target_groups=tuple(r.get(elig, "target_groups", list, "eligibility.", [])),
    )
    for group in eligibility.target_groups:
        if group not in TargetGroup.__members__.values():
            problems.append(f"{path}: eligibility.target_groups has unknown group {group!r}")
    if (
        isinstance(eligibility.min_age, int)
        and isinstance(eligibility.max_age, int)
        and eligibility.min_age > eligibility.max_age
    ):
        problems.append(f"{path}: eligibility.min_age is greater than max_age")

    modules = []
    for i, m in enumerate(data.get("modules", [])):
        where = f"modules[{i}]."
        modules.append(
            Module(
                code=r.get(m, "code", str, where),
                name=r.get(m, "name", str, where),
                per_participant=r.get(m, "per_participant", bool, where),
                excludes_employment_ban=r.get(m, "excludes_employment_ban", bool, where, False),
                requires_no_regular_school_access=r.get(
                    m, "requires_no_regular_school_access", bool, where, False
                ),
                ends=r.get(m, "ends", date, where, None),
            )
        )
    codes = [m.code for m in modules]
    if not modules:
        problems.append(f"{path}: at least one [[modules]] entry is required")
    if len(set(codes)) != len(codes):
        problems.append(f"{path}: module codes must be unique")

    flat_rates = []
    for i, fr in enumerate(data.get("flat_rates", [])):
        where = f"flat_rates[{i}]."
        amount_text = r.get(fr, "amount_eur", str, where)
        try:
            amount = Decimal(amount_text) if amount_text is not None else Decimal(0)
        except InvalidOperation:
            problems.append(f"{path}: {where}amount_eur is not a decimal number")
            amount = Decimal(0)
        rate = FlatRate(
            code=r.get(fr, "code", str, where),
            module=r.get(fr, "module", str, where),
            unit=r.get(fr, "unit", str, where),
            amount_eur=amount,
        )
        if rate.module not in codes:
            problems.append(
                f"{path}: {where}module {rate.module!r} is not a module of this programme"
            )
        flat_rates.append(rate)

    consent_versions = []
    for i, cv in enumerate(data.get("consent_versions", [])):
        where = f"consent_versions[{i}]."
        consent_versions.append(
            ConsentVersion(
                id=r.get(cv, "id", str, where),
                valid_from=r.get(cv, "valid_from", date, where),
                languages=tuple(r.get(cv, "languages", list, where, [])),
            )
        )
    if not consent_versions:
        problems.append(f"{path}: at least one [[consent_versions]] entry is required")

    programme = Programme(
        id=r.get(data, "id", str, ""),
        name=r.get(data, "name", str, ""),
        config_version=r.get(data, "config_version", str, ""),
        funding_start=r.get(data, "funding_start", date, ""),
        funding_end=r.get(data, "funding_end", date, ""),
        retention_years_after_funding_end=r.get(data, "retention_years_after_funding_end", int, ""),
        eligibility=eligibility,
        modules=tuple(modules),
        flat_rates=tuple(flat_rates),
        consent_versions=tuple(consent_versions),
    )
    if programme.id is not None and programme.id != path.stem:
        problems.append(f"{path}: id {programme.id!r} must match the file name {path.stem!r}")
    return programme if len(problems) == before else None


def _programmes_of(value: list[Any] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)


def load_configuration(directory: Path | str | None = None) -> Configuration:
    """Read and validate the configuration directory; raise with every problem found."""
    root = Path(directory) if directory else DEFAULT_CONFIG_DIR
    problems: list[str] = []
    if not root.is_dir():
        raise ConfigurationError([f"{root}: configuration directory not found"])

    programmes: dict[str, Programme] = {}
    programme_files = sorted((root / "programmes").glob("*.toml"))
    if not programme_files:
        problems.append(f"{root / 'programmes'}: no programme files (*.toml)")
    for path in programme_files:
        programme = _read_programme(path, problems)
        if programme is not None:
            programmes[programme.id] = programme

    org_path = root / "organisations.toml"
    data = _load_toml(org_path, problems)
    r = _Reader(str(org_path), problems)
    municipalities: dict[str, Municipality] = {}
    for i, m in enumerate(data.get("municipalities", [])):
        mun = Municipality(
            id=r.get(m, "id", str, f"municipalities[{i}]."),
            name=r.get(m, "name", str, f"municipalities[{i}]."),
        )
        if mun.id in municipalities:
            problems.append(f"{org_path}: municipality {mun.id!r} is defined twice")
        municipalities[mun.id] = mun
    providers: dict[str, Provider] = {}
    for i, p in enumerate(data.get("providers", [])):
        prov = Provider(
            id=r.get(p, "id", str, f"providers[{i}]."),
            name=r.get(p, "name", str, f"providers[{i}]."),
            municipality=r.get(p, "municipality", str, f"providers[{i}]."),
            programmes=_programmes_of(r.get(p, "programmes", list, f"providers[{i}].", None)),
        )
        for programme_id in prov.programmes or ():
            if programme_id not in programmes:
                problems.append(
                    f"{org_path}: provider {prov.id!r} names unknown programme {programme_id!r}"
                )
        if prov.id in providers or prov.id in municipalities:
            problems.append(f"{org_path}: organisation id {prov.id!r} is used twice")
        if prov.municipality not in municipalities:
            problems.append(
                f"{org_path}: provider {prov.id!r} names unknown municipality {prov.municipality!r}"
            )
        providers[prov.id] = prov
    if data and not municipalities:
        problems.append(f"{org_path}: at least one [[municipalities]] entry is required")

    if problems:
        raise ConfigurationError(problems)
    return Configuration(
        programmes=programmes, municipalities=municipalities, providers=providers, directory=root
    )
