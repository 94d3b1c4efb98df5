"""German labels for the published tables (the funder's templates are German)."""

from __future__ import annotations

from lotse.domain.labels import VOCABULARY
from lotse.domain.vocabulary import (
    Destination,
    EmploymentType,
    Gender,
    LanguageLevel,
    ModuleExitReason,
)

# The vocabulary's labels come from the one place (domain.labels); what follows
# them here is the layout of the published tables.
EXIT_REASONS: dict[str, str] = VOCABULARY[ModuleExitReason]
DESTINATIONS: dict[str, str] = VOCABULARY[Destination]
EMPLOYMENT_TYPES: dict[str, str] = VOCABULARY[EmploymentType]
GENDERS: dict[str, str] = VOCABULARY[Gender]
# En dashes, as in print.
AGE_BANDS: dict[str, str] = {
    "18-20": "18–20",  # noqa: RUF001
    "21-24": "21–24",  # noqa: RUF001
    "25-27": "25–27",  # noqa: RUF001
    "other": "andere",
}
DIMENSIONS: dict[str, str] = {
    "gender": "Geschlecht",
    "age_band": "Altersgruppe",
    "residence_status": "Aufenthaltsstatus",
    "nationality": "Staatsangehörigkeit",
    "language_level": "Sprachstand",
}
LANGUAGE_LEVELS: dict[str, str] = {
    **VOCABULARY[LanguageLevel],
    "unknown": "nicht festgestellt",
}
# Which state the characteristics describe: entries as they were at entry, the
# stock as it is on the reporting date (a status changed since entry shows there).
CHARACTERISTICS_AS_OF: dict[str, str] = {
    "entries": "bei Eintritt",
    "stock": "am Stichtag {date}",
}
OUTCOME_KINDS: dict[str, str] = {"exit": "bei Austritt", "follow_up": "bei Nachbefragung"}
ALL_MUNICIPALITIES = "Alle Kommunen"
ALL_MODULES = "Gesamt"
ALL_PROVIDERS = "Alle Träger"
