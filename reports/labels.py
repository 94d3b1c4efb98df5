"""German labels for the published tables (the funder's templates are German)."""

from __future__ import annotations

from domain.vocabulary import Destination, EmploymentType, Gender, ModuleExitReason

EXIT_REASONS: dict[str, str] = {
    ModuleExitReason.COMPLETED: "regulär beendet",
    ModuleExitReason.ABORTED_PARTICIPANT: "Abbruch durch Teilnehmende",
    ModuleExitReason.ABORTED_PROVIDER: "Abbruch durch Träger",
    ModuleExitReason.TRANSFERRED: "Trägerwechsel",
    ModuleExitReason.STATUS_CHANGE: "Statuswechsel",
    ModuleExitReason.MOVED_AWAY: "Wegzug",
    ModuleExitReason.LEFT_GERMANY: "Ausreise",
    ModuleExitReason.OTHER: "Sonstiges",
}
DESTINATIONS: dict[str, str] = {
    Destination.APPRENTICESHIP: "Ausbildung",
    Destination.EMPLOYMENT_SVP: "sv-pflichtige Beschäftigung",
    Destination.EMPLOYMENT_MARGINAL: "geringfügige Beschäftigung",
    Destination.SCHOOL: "Schule",
    Destination.OTHER_PROGRAMME: "andere Maßnahme",
    Destination.JOB_SEEKING: "arbeitsuchend",
    Destination.UNKNOWN: "unbekannt",
    Destination.LEFT_GERMANY: "Ausreise",
}
EMPLOYMENT_TYPES: dict[str, str] = {
    EmploymentType.SVP: "sv-pflichtig",
    EmploymentType.GERINGFUEGIG: "geringfügig",
    EmploymentType.SELBSTSTAENDIG: "selbstständig",
}
GENDERS: dict[str, str] = {
    Gender.FEMALE: "weiblich",
    Gender.MALE: "männlich",
    Gender.DIVERSE: "divers",
    Gender.UNSPECIFIED: "ohne Angabe",
}
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
}
OUTCOME_KINDS: dict[str, str] = {"exit": "bei Austritt", "follow_up": "bei Nachbefragung"}
ALL_MUNICIPALITIES = "Alle Kommunen"
ALL_MODULES = "Gesamt"
ALL_PROVIDERS = "Alle Träger"
