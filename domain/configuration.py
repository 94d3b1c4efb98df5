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

from lotse.domain.errors import ConfigurationError
from lotse.domain.vocabulary import TargetGroup

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"


@dataclass(frozen=True)
class Module:
    code: str
    name: str
    per_participant: bool
    excludes_employment_ban: bool = False
    requires_no_regular_school_access: bool = False
    ends: date | None = None
    held_in_courses: bool = False
    """Delivered as courses (``domain.course``): sessions and attendance lists."""


#: Flat-rate units: an hour a course held (P4), or an hour per attending participant.
UNITS = ("lesson_hour", "participant_lesson_hour")
DEFAULT_MAX_LESSON_HOURS_PER_DAY = Decimal(8)


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
class WorklistRules:
    """The due list's rules (Wiedervorlage): lead times, from ``[worklist]``.

    The read model keeps only the dates the rules start from (an expiry, an exit,
    an abort, the last contact); the due dates are computed from these rules when
    the list is read, so a changed lead time applies at once, without a rebuild,
    and every answer names the ``version`` it was computed with.
    """

    version: str = "default"
    #: A residence permit or Duldung: due this many days before ``valid_until``.
    residence_expiry_lead_days: int = 42
    #: The follow-up (Verbleib) is due this many months after the exit.
    follow_up_months: int = 6
    #: § 60c (5) AufenthG: the notice after an apprenticeship abort, due within these days.
    apprenticeship_abort_notice_days: int = 14
    #: No coaching contact for this many days while a module is open.
    no_contact_days: int = 28


EARLIEST_BIRTH_DATE = date(1900, 1, 1)
MAX_VALIDITY_YEARS = 10


@dataclass(frozen=True)
class PlausibleDates:
    """The range a recorded date must lie in: a typo (year 0001, 20211) is an error.

    From the programme file's ``[plausible_dates]`` table; every key is optional.
    """

    earliest_birth_date: date = EARLIEST_BIRTH_DATE
    #: No intake (and so no milestone) before this day; default: ``funding_start``.
    earliest_intake_date: date | None = None
    #: A residence permit's ``valid_until`` at most this many years after it was recorded.
    max_validity_years: int = MAX_VALIDITY_YEARS


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
    max_lesson_hours_per_day: Decimal = DEFAULT_MAX_LESSON_HOURS_PER_DAY
    """No course may hold more lesson hours on one day ([courses] in the file)."""

    plausible_dates: PlausibleDates = PlausibleDates()

    @property
    def earliest_intake_date(self) -> date:
        return self.plausible_dates.earliest_intake_date or self.funding_start

    report_nationalities: tuple[str, ...] = ()
    """Nationalities the reports show as rows of their own; the others pool as "other"."""
    worklist: WorklistRules = WorklistRules()
    """The due list's rules and lead times ([worklist] in the file)."""
    release_delay_days: int = 30
    """Days after a period's reporting date until its published release's cut-off:
    late entries recorded within them still count in the release."""

    def module(self, code: str) -> Module | None:
        return next((m for m in self.modules if m.code == code), None)

    def consent_version(self, version_id: str) -> ConsentVersion | None:
        return next((c for c in self.consent_versions if c.id == version_id), None)

    def current_consent_version(self, day: date) -> ConsentVersion | None:
        """The consent version in force on ``day``: the latest valid from then."""
        valid = [c for c in self.consent_versions if c.valid_from <= day]
        return max(valid, key=lambda c: c.valid_from) if valid else None

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
                held_in_courses=r.get(m, "held_in_courses", bool, where, False),
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
        if rate.unit in UNITS and not any(
            m.code == rate.module and m.held_in_courses for m in modules
        ):
            problems.append(
                f"{path}: {where}unit {rate.unit!r} needs module {rate.module!r} "
                "with held_in_courses = true"
            )
        if rate.module not in codes:
            problems.append(
                f"{path}: {where}module {rate.module!r} is not a module of this programme"
            )
        flat_rates.append(rate)

    course_rated = [r.module for r in flat_rates if r.unit in UNITS]
    for module in sorted({m for m in course_rated if course_rated.count(m) > 1}):
        # One course is paid either per held or per attended hour, never both.
        problems.append(f"{path}: module {module!r} has more than one lesson-hour flat rate")

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

    courses = data.get("courses", {})
    max_text = r.get(courses, "max_lesson_hours_per_day", str, "courses.", None)
    max_per_day = DEFAULT_MAX_LESSON_HOURS_PER_DAY
    if max_text is not None:
        try:
            max_per_day = Decimal(max_text)
        except InvalidOperation:
            max_per_day = Decimal(0)
        if not max_per_day.is_finite() or max_per_day <= 0:
            problems.append(f"{path}: courses.max_lesson_hours_per_day must be a number above 0")

    plausible = data.get("plausible_dates", {})
    plausible_dates = PlausibleDates(
        earliest_birth_date=r.get(
            plausible, "earliest_birth_date", date, "plausible_dates.", EARLIEST_BIRTH_DATE
        ),
        earliest_intake_date=r.get(
            plausible, "earliest_intake_date", date, "plausible_dates.", None
        ),
        max_validity_years=r.get(
            plausible, "max_validity_years", int, "plausible_dates.", MAX_VALIDITY_YEARS
        ),
    )
    if isinstance(plausible_dates.earliest_birth_date, date) and (
        plausible_dates.earliest_birth_date < EARLIEST_BIRTH_DATE
    ):
        problems.append(
            f"{path}: plausible_dates.earliest_birth_date must not be before "
            f"{EARLIEST_BIRTH_DATE.isoformat()}"
        )
    funding_start = r.get(data, "funding_start", date, "")
    earliest_intake = plausible_dates.earliest_intake_date or funding_start
    if (
        isinstance(earliest_intake, date)
        and isinstance(plausible_dates.earliest_birth_date, date)
        and earliest_intake <= plausible_dates.earliest_birth_date
    ):
        problems.append(
            f"{path}: plausible_dates.earliest_intake_date (default funding_start) must be "
            "after earliest_birth_date"
        )
    if isinstance(plausible_dates.max_validity_years, int) and not (
        1 <= plausible_dates.max_validity_years <= 100
    ):
        problems.append(f"{path}: plausible_dates.max_validity_years must be between 1 and 100")

    worklist = _read_worklist(r, data.get("worklist", {}), problems)

    programme = Programme(
        id=r.get(data, "id", str, ""),
        name=r.get(data, "name", str, ""),
        config_version=r.get(data, "config_version", str, ""),
        funding_start=funding_start,
        funding_end=r.get(data, "funding_end", date, ""),
        retention_years_after_funding_end=r.get(data, "retention_years_after_funding_end", int, ""),
        eligibility=eligibility,
        modules=tuple(modules),
        flat_rates=tuple(flat_rates),
        consent_versions=tuple(consent_versions),
        max_lesson_hours_per_day=max_per_day,
        plausible_dates=plausible_dates,
        worklist=worklist,
        release_delay_days=r.get(data, "release_delay_days", int, "", 30),
        report_nationalities=tuple(r.get(data, "report_nationalities", list, "", [])),
    )
    if not 0 <= (programme.release_delay_days or 0) <= 366:
        problems.append(f"{path}: release_delay_days must lie between 0 and 366")
    if programme.id is not None and programme.id != path.stem:
        problems.append(f"{path}: id {programme.id!r} must match the file name {path.stem!r}")
    return programme if len(problems) == before else None


#: Each lead time of ``[worklist]`` and the range it must lie in.
_WORKLIST_RANGES = {
    "residence_expiry_lead_days": (0, 365),
    "follow_up_months": (1, 36),
    "apprenticeship_abort_notice_days": (1, 90),
    "no_contact_days": (1, 365),
}


def _read_worklist(r: _Reader, table: Any, problems: list[str]) -> WorklistRules:
    if not isinstance(table, dict):
        problems.append(f"{r.source}: worklist must be a table")
        return WorklistRules()
    default = WorklistRules()
    if not table:
        # A programme without a due list's rules gets the defaults.
        return default
    values: dict[str, Any] = {"version": r.get(table, "version", str, "worklist.")}
    for key, (low, high) in _WORKLIST_RANGES.items():
        value = r.get(table, key, int, "worklist.", getattr(default, key))
        if isinstance(value, int) and not low <= value <= high:
            problems.append(f"{r.source}: worklist.{key} must lie between {low} and {high}")
        values[key] = value if isinstance(value, int) else getattr(default, key)
    for key in sorted(set(table) - {"version", *_WORKLIST_RANGES}):
        problems.append(f"{r.source}: worklist.{key} is not a known key")
    return WorklistRules(**{k: v for k, v in values.items() if v is not None})


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
