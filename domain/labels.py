"""German labels for every code a person reads: one vocabulary for reports, exports,
problem details and the web pages.

Codes (event types, vocabulary values, roles, rule codes) are the public schema and
stay English and stable; what a case worker, coordinator or auditor reads is the
German label from here, never the raw code. ``tests/unit/test_labels.py`` fails
when a code has no label, so a new event type, vocabulary value or rule arrives
with its German text. Module names come from the programme configuration (they are
the programme's own words), not from here.
"""

from __future__ import annotations

from enum import StrEnum

from lotse.domain.access import Role
from lotse.domain.course import AttendanceStatus, CourseStatus, CourseType, ReasonCode
from lotse.domain.vocabulary import (
    Certificate,
    ContactMode,
    Destination,
    DuplicateDismissalReason,
    EmploymentType,
    EndReason,
    ErasureMode,
    ExitReason,
    Gender,
    LanguageCourseType,
    LanguageLevel,
    ModuleExitReason,
    ReferralEndReason,
    ResidenceStatus,
    TargetGroup,
    WorklistDismissalReason,
    WorklistKind,
)

EVENT_TYPES: dict[str, str] = {
    "Registered": "Aufnahme",
    "WorklistItemDismissed": "Wiedervorlage verworfen",
    "DuplicatesLinked": "Doppelerfassung bestätigt (dieselbe Person)",
    "DuplicatesDismissed": "Mögliche Doppelerfassung verworfen",
    "EligibilityAssessed": "Förderberechtigung geprüft",
    "ConsentGiven": "Einwilligung erteilt",
    "ConsentWithdrawn": "Einwilligung widerrufen",
    "CaseTransferred": "Fall übergeben",
    "ReferralMade": "An einen anderen Träger vermittelt",
    "ReferralAccepted": "Vermittlung angenommen",
    "ReferralEnded": "Vermittlung beendet",
    "LanguageLevelAssessed": "Sprachstand festgestellt",
    "ModuleEntered": "Eintritt in einen Förderbaustein",
    "ModuleExited": "Austritt aus einem Förderbaustein",
    "CoachingContactLogged": "Coaching-Kontakt",
    "CaseAssigned": "Fall zugewiesen",
    "CaseUnassigned": "Zuweisung beendet",
    "CourseAttendanceRecorded": "Kursteilnahme (Unterrichtsstunden)",
    "LanguageCourseStarted": "Sprachkurs begonnen",
    "LanguageCourseCompleted": "Sprachkurs abgeschlossen",
    "CertificateObtained": "Abschluss oder Zertifikat erworben",
    "InternshipStarted": "Praktikum begonnen",
    "InternshipEnded": "Praktikum beendet",
    "EntryQualificationStarted": "Einstiegsqualifizierung (EQ) begonnen",
    "EntryQualificationEnded": "Einstiegsqualifizierung (EQ) beendet",
    "ApprenticeshipStarted": "Ausbildung begonnen",
    "ApprenticeshipAborted": "Ausbildung abgebrochen",
    "ApprenticeshipCompleted": "Ausbildung abgeschlossen",
    "EmploymentStarted": "Beschäftigung begonnen",
    "EmploymentEnded": "Beschäftigung beendet",
    "ResidenceStatusChanged": "Aufenthaltsstatus geändert",
    "Exited": "Austritt aus dem Programm",
    "FollowUpRecorded": "Verbleib sechs Monate nach Austritt",
    "Reentered": "Erneute Aufnahme (neuer Förderzeitraum)",
    "EntryCorrected": "Eintrag korrigiert",
    "EntryVoided": "Eintrag für ungültig erklärt",
    "PersonalDataErased": "Personenbezogene Daten gelöscht",
    # A course's own stream (domain/course.py).
    "CourseScheduled": "Kurs geplant",
    "UserAdded": "Person ins Verzeichnis aufgenommen",
    "MembershipGranted": "Rolle vergeben",
    "MembershipWithdrawn": "Rolle entzogen",
    "UserDeactivated": "Person deaktiviert",
    "UserReactivated": "Person wieder aktiviert",
    "ParticipantEnrolled": "Teilnehmende Person angemeldet",
    "ParticipantWithdrawn": "Teilnehmende Person abgemeldet",
    "SessionHeld": "Kurstermin gehalten",
    "AttendanceRecorded": "Anwesenheit erfasst (Teilnehmendenliste)",
    "ExamFeeIncurred": "Prüfungsgebühr angefallen",
    "CourseCancelled": "Kurs abgesagt",
    "CourseCompleted": "Kurs abgeschlossen",
}

VOCABULARY: dict[type[StrEnum], dict[str, str]] = {
    Gender: {
        Gender.FEMALE: "weiblich",
        Gender.MALE: "männlich",
        Gender.DIVERSE: "divers",
        Gender.UNSPECIFIED: "ohne Angabe",
    },
    ResidenceStatus: {
        ResidenceStatus.GESTATTUNG: "Aufenthaltsgestattung (§ 55 AsylG)",
        ResidenceStatus.DULDUNG: "Duldung (§ 60a AufenthG)",
        ResidenceStatus.DULDUNG_60B: "Duldung bei ungeklärter Identität (§ 60b AufenthG)",
        ResidenceStatus.AUSBILDUNGSDULDUNG_60C: "Ausbildungsduldung (§ 60c AufenthG)",
        ResidenceStatus.BESCHAEFTIGUNGSDULDUNG_60D: "Beschäftigungsduldung (§ 60d AufenthG)",
        ResidenceStatus.AE_16G: "Aufenthaltserlaubnis zur Berufsausbildung (§ 16g AufenthG)",
        ResidenceStatus.AE_19D: "Aufenthaltserlaubnis für qualifizierte Geduldete (§ 19d AufenthG)",
        ResidenceStatus.AE_25A: "Aufenthaltserlaubnis für gut integrierte junge Menschen"
        " (§ 25a AufenthG)",
        ResidenceStatus.AE_25B: "Aufenthaltserlaubnis bei nachhaltiger Integration"
        " (§ 25b AufenthG)",
        ResidenceStatus.AE_104C: "Chancen-Aufenthaltsrecht (§ 104c AufenthG)",
        ResidenceStatus.AE_25_PROTECTION: "Schutzstatus (§ 25 Abs. 1–3 AufenthG)",  # noqa: RUF001
        ResidenceStatus.EU_FREIZUEGIGKEIT: "EU-Freizügigkeit",
        ResidenceStatus.OTHER: "anderer Aufenthaltsstatus",
    },
    TargetGroup: {
        TargetGroup.DULDUNG: "Geduldete",
        TargetGroup.GESTATTUNG: "Gestattete",
        TargetGroup.EU2: "EU2-Zugewanderte ohne SGB-Ansprüche",
        TargetGroup.OTHER: "andere junge Menschen mit Unterstützungsbedarf",
    },
    ModuleExitReason: {
        ModuleExitReason.COMPLETED: "regulär beendet",
        ModuleExitReason.ABORTED_PARTICIPANT: "Abbruch durch Teilnehmende",
        ModuleExitReason.ABORTED_PROVIDER: "Abbruch durch Träger",
        ModuleExitReason.TRANSFERRED: "Trägerwechsel",
        ModuleExitReason.STATUS_CHANGE: "Statuswechsel",
        ModuleExitReason.MOVED_AWAY: "Wegzug",
        ModuleExitReason.LEFT_GERMANY: "Ausreise",
        ModuleExitReason.OTHER: "Sonstiges",
    },
    ReferralEndReason: {
        ReferralEndReason.COMPLETED: "regulär beendet",
        ReferralEndReason.DECLINED: "vom aufnehmenden Träger abgelehnt",
        ReferralEndReason.NO_LONGER_NEEDED: "nicht mehr nötig",
        ReferralEndReason.CONSENT_WITHDRAWN: "Einwilligung widerrufen",
        ReferralEndReason.OTHER: "Sonstiges",
    },
    ExitReason: {
        ExitReason.COMPLETED: "regulär beendet",
        ExitReason.ABORTED_PARTICIPANT: "Abbruch durch Teilnehmende",
        ExitReason.ABORTED_PROVIDER: "Abbruch durch Träger",
        ExitReason.STATUS_CHANGE: "Statuswechsel",
        ExitReason.MOVED_AWAY: "Wegzug",
        ExitReason.LEFT_GERMANY: "Ausreise",
        ExitReason.OTHER: "Sonstiges",
    },
    Destination: {
        Destination.APPRENTICESHIP: "Ausbildung",
        Destination.EMPLOYMENT_SVP: "sv-pflichtige Beschäftigung",
        Destination.EMPLOYMENT_MARGINAL: "geringfügige Beschäftigung",
        Destination.SCHOOL: "Schule",
        Destination.OTHER_PROGRAMME: "andere Maßnahme",
        Destination.JOB_SEEKING: "arbeitsuchend",
        Destination.UNKNOWN: "unbekannt",
        Destination.LEFT_GERMANY: "Ausreise",
    },
    LanguageLevel: {
        LanguageLevel.A0: "A0 (noch keine Deutschkenntnisse)",
        LanguageLevel.A1: "A1",
        LanguageLevel.A2: "A2",
        LanguageLevel.B1: "B1",
        LanguageLevel.B2: "B2",
        LanguageLevel.C1: "C1",
        LanguageLevel.C2: "C2",
    },
    EmploymentType: {
        EmploymentType.SVP: "sv-pflichtig",
        EmploymentType.GERINGFUEGIG: "geringfügig",
        EmploymentType.SELBSTSTAENDIG: "selbstständig",
    },
    ContactMode: {
        ContactMode.IN_PERSON: "persönlich",
        ContactMode.PHONE: "telefonisch",
        ContactMode.VIDEO: "per Video",
        ContactMode.OUTREACH: "aufsuchend",
    },
    LanguageCourseType: {
        LanguageCourseType.JUGENDINTEGRATIONSKURS: "Jugendintegrationskurs",
        LanguageCourseType.INTEGRATIONSKURS: "Integrationskurs",
        LanguageCourseType.BERUFSSPRACHKURS_B1: "Berufssprachkurs B1",
        LanguageCourseType.BERUFSSPRACHKURS_B2: "Berufssprachkurs B2",
        LanguageCourseType.BERUFSSPRACHKURS_C1: "Berufssprachkurs C1",
        LanguageCourseType.OTHER: "anderer Sprachkurs",
    },
    Certificate: {
        Certificate.HAUPTSCHULABSCHLUSS_9: "Hauptschulabschluss nach Klasse 9",
        Certificate.HAUPTSCHULABSCHLUSS_10A: "Hauptschulabschluss nach Klasse 10 (10A)",
        Certificate.LANGUAGE_CERTIFICATE: "Sprachzertifikat",
        Certificate.VOCATIONAL_QUALIFICATION: "Berufsabschluss",
        Certificate.OTHER: "anderer Abschluss",
    },
    EndReason: {
        EndReason.COMPLETED: "regulär beendet",
        EndReason.ABORTED_PARTICIPANT: "Abbruch durch Teilnehmende",
        EndReason.ABORTED_EMPLOYER: "Abbruch durch Betrieb",
        EndReason.STATUS_CHANGE: "Statuswechsel",
        EndReason.OTHER: "Sonstiges",
    },
    WorklistKind: {
        WorklistKind.RESIDENCE_EXPIRY: "Aufenthaltstitel oder Duldung läuft ab",
        WorklistKind.FOLLOW_UP_DUE: "Verbleib sechs Monate nach Austritt erfragen",
        WorklistKind.APPRENTICESHIP_ABORT_NOTICE: "Meldung nach Ausbildungsabbruch"
        " (§ 60c AufenthG)",
        WorklistKind.NO_CONTACT: "Kein Coaching-Kontakt seit Wochen",
        WorklistKind.CONSENT_SUPERSEDED: "Einwilligung in neuer Fassung einholen",
        WorklistKind.AGE_LIMIT: "Altersgrenze erreicht",
        WorklistKind.MODULE_CLOSED_BY_PROGRAMME: "Förderbaustein vom Programm beendet:"
        " Aufenthalt schließen",
    },
    DuplicateDismissalReason: {
        DuplicateDismissalReason.DIFFERENT_PERSON: "verschiedene Personen",
        DuplicateDismissalReason.RELATIVES: "Verwandte (z. B. Geschwister)",
        DuplicateDismissalReason.DIFFERENT_BIRTH_DATE: "anderes Geburtsdatum belegt",
        DuplicateDismissalReason.OTHER: "Sonstiges",
    },
    WorklistDismissalReason: {
        WorklistDismissalReason.DONE_OUTSIDE_LOTSE: "außerhalb von Lotse erledigt",
        WorklistDismissalReason.NOT_APPLICABLE: "trifft nicht zu",
        WorklistDismissalReason.PARTICIPANT_UNREACHABLE: "Person nicht erreichbar",
        WorklistDismissalReason.HANDLED_BY_OTHER_OFFICE: "von einer anderen Stelle erledigt",
        WorklistDismissalReason.OTHER: "Sonstiges",
    },
    ErasureMode: {
        ErasureMode.SHRED: "sofort löschen (Schlüssel vernichten)",
        ErasureMode.RESTRICT: "einschränken, löschen zum Ende der Aufbewahrungsfrist",
    },
    # Courses (domain/course.py): the course list, the attendance list, the reasons.
    CourseType: {
        CourseType.JUGENDINTEGRATIONSKURS: "Jugendintegrationskurs",
        CourseType.BERUFSVORBEREITENDER_KURS: "berufsvorbereitender Kurs",
        CourseType.HSA_KURS: "Kurs zum Hauptschulabschluss",
        CourseType.SPRACHKURS: "Sprachkurs",
        CourseType.OTHER: "anderer Kurs",
    },
    AttendanceStatus: {
        AttendanceStatus.PRESENT: "anwesend",
        AttendanceStatus.ABSENT: "abwesend",
        AttendanceStatus.EXCUSED: "entschuldigt",
    },
    CourseStatus: {
        CourseStatus.SCHEDULED: "geplant oder laufend",
        CourseStatus.CANCELLED: "abgesagt",
        CourseStatus.COMPLETED: "abgeschlossen",
    },
    ReasonCode: {
        ReasonCode.TOO_FEW_PARTICIPANTS: "zu wenige Teilnehmende",
        ReasonCode.NO_TEACHER: "keine Lehrkraft",
        ReasonCode.PARTICIPANT_LEFT: "Person hat den Kurs verlassen",
        ReasonCode.CHANGED_COURSE: "in einen anderen Kurs gewechselt",
        ReasonCode.OTHER: "Sonstiges",
    },
    Role: {
        Role.CASEWORKER: "Fallbegleitung (Coach beim Träger)",
        Role.COORDINATOR: "Koordination (Kommunales Integrationszentrum)",
        Role.FUNDER: "Fördergeber (Bezirksregierung, Ministerium)",
        Role.AUDITOR: "Prüfung",
        Role.ADMIN: "Administration",
        Role.TEILHABEMANAGER: "Teilhabemanagement (Kommune)",
        Role.ORG_ADMIN: "Administration der eigenen Organisation",
    },
}

#: The funding reports (``/reports/{kind}``), as the Berichte page names them.
REPORT_KINDS: dict[str, str] = {
    "monitoring": "Monitoring (Eintritte, Austritte, Bestand)",
    "outcomes": "Verbleib und Erfolge",
    "financial": "Finanzen (Verwendungsnachweis)",
}


#: The core fields the data quality report counts as missing
#: (``projections.data_quality.CORE_FIELDS``).
CORE_FIELDS: dict[str, str] = {
    "birth_date": "Geburtsdatum",
    "residence_valid_until": "Ablaufdatum der Duldung oder Gestattung",
    "eligibility": "Förderfähigkeit mit Zielgruppe",
    "consent": "Einwilligung",
}


#: What the verification of the log found (``storage.verification.Problem.kind``).
VERIFICATION_PROBLEMS: dict[str, str] = {
    "unknown-checkpoint": "Den genannten Prüfpunkt gibt es nicht.",
    "checkpoint-mismatch": "Ein signierter Prüfpunkt passt nicht zu den gespeicherten Ereignissen.",
    "checkpoint-signature": "Die Signatur eines Prüfpunkts ist ungültig.",
    "event-missing": "Ein Ereignis fehlt in der Kette.",
    "access-log-mismatch": "Das Protokoll der Lesezugriffe passt nicht zum signierten Prüfpunkt.",
    "keys-mismatch": "Die Schlüsseltabelle passt nicht zum signierten Prüfpunkt.",
    "key-destroyed-unrecorded": "Ein Schlüssel wurde vernichtet, ohne dass eine Löschung"
    " erfasst ist.",
    "malformed-row": "Ein gespeicherter Eintrag ist beschädigt.",
    "unchained-event": "Ein Ereignis ist nicht in die Kette eingebunden.",
    "chain-mismatch": "Ein Ereignis wurde nachträglich verändert (Kettenwert stimmt nicht).",
}


#: Each rule code of a refusal, as a case worker should read it (``detail_de``).
RULES: dict[str, str] = {
    "duplicate-already-decided": "Über dieses Paar wurde bereits entschieden.",
    "duplicate-of-itself": "Eine Erfassung kann keine Doppelerfassung ihrer selbst sein.",
    "duplicate-reason-required": "Bitte wählen Sie einen Grund, warum es verschiedene Personen"
    " sind.",
    "import-file-unreadable": "Die Datei ist keine lesbare Tabelle im Format der Vorlage.",
    "import-file-too-large": "Die Datei ist für einen Import zu groß.",
    "import-file-columns": "Die Spalten der Datei passen nicht zur Vorlage.",
    "import-not-found": "Diesen Import gibt es nicht, oder er gehört einem anderen Träger.",
    "import-running": "Der Import läuft noch: der Bericht folgt, wenn er fertig ist.",
    "user-deactivated": "Die Person ist in Lotse deaktiviert: ihr Kalender-Abonnement"
    " liefert nichts mehr.",
    "role-withdrawn": "Die Person hat die Rolle, für die das Kalender-Abonnement erstellt"
    " wurde, nicht mehr.",
    "access-log-unavailable": "Der Lesezugriff konnte nicht protokolliert werden; deshalb"
    " werden keine Daten angezeigt. Bitte später erneut versuchen.",
    "erasure-not-final": "Die Löschung ist erfasst, aber noch nicht endgültig: bitte die"
    " Anfrage später wiederholen.",
    "already-voided": "Dieser Eintrag wurde bereits für ungültig erklärt.",
    "entry-of-another-provider": "Diesen Eintrag hat ein anderer Träger erfasst: nur er"
    " oder die Koordinierung der Kommune kann ihn für ungültig erklären.",
    "journey-inconsistent": "Mit dieser Änderung wäre der Verlauf in sich nicht mehr stimmig.",
    "module-open-at-exit": "Mit dieser Änderung wäre ein Förderbaustein beim Austritt noch offen.",
    "participant-active": "Die Person ist noch aktiv: eine erneute Aufnahme ist erst nach"
    " dem Austritt möglich.",
    "registration-voided": "Diese Aufnahme wurde für ungültig erklärt (doppelt erfasst):"
    " es kann nichts mehr erfasst werden.",
    "age-exception-required": "Außerhalb des Alters von 18 bis 27 Jahren ist eine"
    " schriftliche Begründung der Ausnahme nötig.",
    "already-ongoing": "Dieser Schritt läuft bereits; erfassen Sie zuerst sein Ende.",
    "body-too-large": "Die Anfrage ist zu groß.",
    "consent-version-not-valid": "Diese Fassung der Einwilligung gilt an diesem Datum nicht.",
    "consent-withdrawn": "Die Einwilligung wurde widerrufen: möglich sind nur eine neue"
    " Einwilligung, Austritte und Korrekturen.",
    "database-unavailable": "Die Datenbank ist gerade nicht erreichbar; bitte später"
    " erneut versuchen.",
    "date-before-exit": "Das Datum liegt vor dem Austritt.",
    "date-before-intake": "Das Datum liegt vor der Aufnahme.",
    "date-before-module-entry": "Das Datum liegt vor dem Eintritt in den Förderbaustein.",
    "date-before-start": "Das Datum liegt vor dem Beginn.",
    "date-in-future": "Das Datum liegt in der Zukunft.",
    "date-implausible": "Das Datum ist nicht plausibel (zum Beispiel ein Tippfehler im Jahr).",
    "domain-error": "Der Schritt ist nicht möglich.",
    "duplicate-key": "Ein Feld steht mehrfach in einem Objekt der Anfrage.",
    "eligibility-excluded": "Ein Ausschlussgrund liegt vor: keine Förderung möglich.",
    "employment-ban": "Bei einem Beschäftigungsverbot ist F2 nicht möglich.",
    "forbidden": "Ihre Rolle darf diesen Schritt nicht ausführen.",
    "idempotency-key-reused": "Dieser Idempotency-Key gehört zu einer anderen Anfrage.",
    "internal-error": "Ein unerwarteter Fehler ist aufgetreten; er wurde protokolliert.",
    "invalid-encoding": "Die Anfrage muss JSON in UTF-8-Kodierung sein.",
    "invalid-input": "Die Eingabe ist ungültig.",
    "invalid-characters": "Der Text enthält Steuerzeichen oder unsichtbare Zeichen, die"
    " hier nicht erlaubt sind.",
    "module-already-open": "Dieser Förderbaustein ist bereits offen.",
    "module-ended": "Dieser Förderbaustein wurde vom Programm zu diesem Datum beendet.",
    "module-not-open": "Dieser Förderbaustein ist nicht offen.",
    "module-not-per-participant": "Dieser Förderbaustein wird nicht je Person erfasst.",
    "no-consent": "Es liegt keine gültige Einwilligung vor.",
    "not-correctable": "Dieser Wert wird nicht korrigiert: erfassen Sie den passenden Schritt.",
    "not-eligible": "Die Förderberechtigung ist nicht festgestellt.",
    "not-exited": "Das ist erst nach dem Austritt möglich.",
    "not-ongoing": "Dieser Schritt läuft nicht.",
    "not-yet-registered": "Die Person war zu diesem Zeitpunkt noch nicht aufgenommen.",
    "participant-exited": "Die Person ist ausgetreten: möglich sind nur Verbleib,"
    " Korrekturen, Ungültigerklärungen, eine erneute Aufnahme und der Widerruf der"
    " Einwilligung.",
    "participant-not-found": "Teilnehmende Person nicht gefunden.",
    "personal-data-erased": "Die personenbezogenen Daten wurden gelöscht.",
    "processing-restricted": "Die Verarbeitung ist eingeschränkt (Art. 18 DSGVO).",
    "provider-not-in-programme": "Dieser Träger arbeitet nicht in dem Programm der Person.",
    "referral-already-accepted": "Diese Vermittlung wurde bereits angenommen.",
    "referral-already-open": "An diesen Träger besteht für diesen Förderbaustein bereits"
    " eine offene Vermittlung.",
    "referral-core-data-only": "Als vermittelter Träger sehen Sie nur die Grunddaten der"
    " Person und Ihre eigenen Einträge.",
    "referral-ended": "Diese Vermittlung ist beendet.",
    "referral-module-only": "Als vermittelter Träger erfassen Sie nur Einträge des"
    " Förderbausteins, für den die Person an Sie vermittelt wurde.",
    "referral-not-found": "Diese Vermittlung wurde nicht gefunden.",
    "date-before-referral": "Das Datum liegt vor der Vermittlung.",
    "record-integrity": "Ein gespeicherter Eintrag hat die Integritätsprüfung nicht"
    " bestanden; das wurde protokolliert.",
    "regular-school-access": "F3 setzt voraus, dass kein Zugang zur Regelschule besteht.",
    "rule-violated": "Eine Regel des Programms verbietet diesen Schritt.",
    "run-not-found": "Dieser Berichtslauf wurde nicht gefunden.",
    "same-provider": "Die Person ist bereits bei diesem Träger.",
    "unknown-consent-version": "Diese Fassung der Einwilligung ist unbekannt.",
    "unknown-milestone": "Diese Art von Eintrag ist unbekannt.",
    "unknown-module": "Dieser Förderbaustein ist unbekannt.",
    "unknown-municipality": "Diese Kommune ist unbekannt.",
    "quarter": "Bitte ein Quartal angeben, zum Beispiel 2021-Q3.",
    "unknown-programme": "Dieses Programm ist unbekannt.",
    "unknown-provider": "Dieser Träger ist unbekannt.",
    "unknown-version": "Dieser frühere Eintrag ist unbekannt.",
    "already-enrolled": "Die Person ist in diesem Kurs bereits angemeldet.",
    "course-not-found": "Dieser Kurs wurde nicht gefunden.",
    "user-not-found": "Diese Person ist im Verzeichnis nicht zu finden.",
    "user-exists": "Diese Person ist bereits im Verzeichnis.",
    "user-active": "Diese Person ist aktiv.",
    "user-inactive": "Diese Person ist bereits deaktiviert.",
    "teilhabemanagement-only": (
        "Das Teilhabemanagement erfasst nur Ein- und Austritte in F6 und Coaching-Kontakte."
    ),
    "assignee-not-of-provider": (
        "Die zugewiesene Person arbeitet nicht (mehr) beim Träger dieses Falls."
    ),
    "already-assigned": "Diese Person ist dem Fall bereits zugewiesen.",
    "not-assigned": "Diese Person ist dem Fall nicht zugewiesen.",
    "membership-exists": "Diese Rolle bei dieser Organisation besteht bereits.",
    "role-not-at-organisation": (
        "Diese Rolle gibt es bei dieser Organisation nicht: Fallbegleitung bei einem"
        " Träger, Koordination und Teilhabemanagement bei einer Kommune."
    ),
    "no-such-membership": "Diese Rolle bei dieser Organisation besteht nicht.",
    "daily-maximum-exceeded": "An diesem Tag würden mehr Unterrichtsstunden gehalten, als"
    " das Programm erlaubt.",
    "date-before-enrolment": "Das Datum liegt vor der Anmeldung zum Kurs.",
    "date-before-last-session": "Das Datum liegt vor dem letzten Kurstermin.",
    "duplicate": "Jede Person darf in der Liste nur einmal vorkommen.",
    "end-before-start": "Das Ende liegt vor dem Beginn.",
    "module-stay-not-open": "Die Person ist an diesem Tag nicht im Förderbaustein des Kurses.",
    "not-a-course-module": "Dieser Förderbaustein wird nicht in Kursen durchgeführt.",
    "not-enrolled": "Die Person ist in diesem Kurs (an diesem Tag) nicht angemeldet.",
    "not-own-participant": "Die Person wird nicht von diesem Träger begleitet.",
    "not-positive": "Der Wert muss größer als 0 sein.",
    "other-programme": "Die Person nimmt an einem anderen Programm teil.",
    "outside-course-dates": "Das Datum liegt außerhalb der Kursdauer.",
    "outside-funding-period": "Der Zeitraum liegt außerhalb der Förderlaufzeit.",
    "session-not-found": "Dieser Kurstermin wurde nicht gefunden.",
    "unknown-participant": "Diese Person ist unbekannt.",
    "job-not-found": "Dieser Auftrag wurde nicht gefunden.",
    "published-releases-only": "Ihre Rolle erhält nur veröffentlichte Berichtsstände.",
    "read-models-unavailable": "Die Auswertungsdaten werden gerade aktualisiert: bitte"
    " später erneut versuchen.",
    "release-exists": "Dieser Berichtsstand ist bereits veröffentlicht und ändert sich nicht mehr.",
    "release-not-due": "Dieser Berichtsstand kann erst nach seinem Stichtag veröffentlicht werden.",
    "release-not-found": "Dieser Berichtsstand wurde nicht gefunden.",
    "release-period": "Veröffentlicht werden nur Quartale, Halbjahre und Jahre.",
    "release-publishers-only": "Veröffentlichen dürfen nur die Koordination (für die eigene"
    " Kommune) und die Administration.",
    "replay-as-job": "Ein Bericht zu einem früheren Stand wird als Auftrag berechnet"
    " (POST /reports/replays).",
    "evidence-financial-only": "Einzelnachweise und Teilnehmendenlisten gibt es nur zum"
    " Finanzbericht.",
    "replay-auditors-only": "Berichte aus dem vollständigen Protokoll berechnen nur"
    " Prüfung und Administration.",
    "too-many-jobs": "Sie haben schon zu viele Aufträge laufen: bitte später erneut versuchen.",
    "version-conflict": "Inzwischen wurde etwas anderes erfasst: bitte neu laden und"
    " den Schritt dann wiederholen.",
}

#: HTTP statuses as problem titles (``title_de``).
STATUS_TITLES: dict[int, str] = {
    400: "Fehlerhafte Anfrage",
    401: "Anmeldung erforderlich",
    403: "Keine Berechtigung",
    404: "Nicht gefunden",
    405: "Methode nicht erlaubt",
    409: "Regel verletzt",
    412: "Veralteter Stand",
    413: "Anfrage zu groß",
    422: "Ungültige Eingabe",
    428: "Versionsangabe erforderlich",
    429: "Zu viele Anfragen",
    500: "Interner Fehler",
    503: "Vorübergehend nicht verfügbar",
    504: "Zeitüberschreitung",
}


def label(value: str) -> str:
    """The German label of a vocabulary value or role; the code itself if unknown."""
    if isinstance(value, StrEnum):
        found = VOCABULARY.get(type(value), {}).get(value)
        if found is not None:
            return found
    return value


def event_label(event_type: str) -> str:
    return EVENT_TYPES.get(event_type, event_type)


def rule_label(rule: str | None) -> str | None:
    return RULES.get(rule) if rule else None


def status_title(status: int) -> str:
    return STATUS_TITLES.get(status, "Fehler")


# ------------------------------------------------------------- the web forms
#
# The web pages build a form for each milestone from its request schema
# (``api.pages.forms``): every field a form shows has its German label here, so a
# new field without one fails ``tests/unit/test_page_forms.py``.

FIELDS: dict[str, str] = {
    "programme": "Programm",
    "provider": "Träger",
    "intake_date": "Aufnahmedatum",
    "given_name": "Vorname",
    "family_name": "Familienname",
    "birth_date": "Geburtsdatum",
    "gender": "Geschlecht",
    "nationality": "Staatsangehörigkeit",
    "residence_status": "Aufenthaltsstatus",
    "residence_valid_until": "Aufenthaltsstatus gültig bis",
    "age_exception_reason": "Begründung der Altersausnahme",
    "effective_date": "Datum",
    "eligible": "förderberechtigt",
    "target_group": "Zielgruppe",
    "lives_in_reception_centre": "lebt in einer Aufnahmeeinrichtung",
    "excluded_by_security_check": "nach Sicherheitsprüfung ausgeschlossen (nur das Ergebnis)",
    "employment_ban": "Beschäftigungsverbot",
    "regular_school_access": "Zugang zur Regelschule",
    "justification": "Begründung",
    "consent_version": "Fassung der Einwilligung",
    "language": "Sprache der Einwilligung (z. B. de, ar)",
    "to_provider": "neuer Träger",
    "level": "Sprachniveau",
    "instrument": "Einstufungsverfahren",
    "module": "Förderbaustein",
    "reason": "Grund",
    "minutes": "Dauer in Minuten",
    "mode": "Art des Kontakts",
    "confirmed_by_participant": "von der Person bestätigt",
    "assignee": "Fallbegleitung (Benutzerkennung)",
    "lesson_hours": "gehaltene Unterrichtsstunden",
    "lesson_hours_attended": "besuchte Unterrichtsstunden (leer: alle)",
    "course_type": "Art des Sprachkurses",
    "target_level": "angestrebtes Niveau",
    "achieved_level": "erreichtes Niveau",
    "certificate": "Abschluss oder Zertifikat",
    "occupation": "Beruf",
    "employer_name": "Betrieb",
    "passed_exam": "Prüfung bestanden",
    "employment_type": "Art der Beschäftigung",
    "hours_per_week": "Stunden pro Woche",
    "status": "Status",
    "valid_until": "gültig bis",
    "destination": "Verbleib",
    "months_after_exit": "Monate nach dem Austritt",
    "corrects_version": "korrigierter Eintrag (Nr.)",
    "voids_version": "ungültiger Eintrag (Nr.)",
    "changes": "Änderungen",
    "version": "Stand der Seite",
    "Idempotency-Key": "Formularkennung",
    "If-Match": "Stand der Seite",
    "q": "Name",
    "cursor": "Seite",
    # Courses (domain/course.py) and data protection, for the pages built on these forms.
    "title": "Titel",
    "planned_lesson_hours": "geplante Unterrichtsstunden",
    "start_date": "Beginn",
    "end_date": "Ende",
    "date": "Datum",
    "participant_id": "Teilnehmende Person",
    # Fields of recorded entries that the Prüfung page shows (the history's data).
    "municipality": "Kommune",
    "birth_year": "Geburtsjahr",
    "age_at_intake": "Alter bei Aufnahme",
    "rule_version": "Fassung der Förderregeln",
    "referral_id": "Vermittlung",
    "session_id": "Kurstermin",
    "corrected_type": "korrigierte Art des Eintrags",
    "voided_type": "für ungültig erklärte Art des Eintrags",
    # A due-list item's dismissal (Wiedervorlage).
    "kind": "Art der Wiedervorlage",
    "due_date": "fällig am",
}

#: Values of request fields that are fixed lists in the schema (``Literal``), not a
#: vocabulary enum: the erasure's reason.
OTHER_VALUES: dict[str, str] = {
    "participant_request": "auf Antrag der Person",
    "consent_withdrawn": "Einwilligung widerrufen",
    "retention_expired": "Aufbewahrungsfrist abgelaufen",
    "other": "Sonstiges",
}

#: Why a person's access ends (``UserDeactivated.reason``): the reasons the Benutzer
#: page offers. The API takes any code; a code not listed here is shown as it is.
DEACTIVATION_REASONS: dict[str, str] = {
    "left-organisation": "hat die Organisation verlassen",
    "task-ended": "Aufgabe im Programm beendet",
    "long-absence": "längere Abwesenheit",
    "misuse-suspected": "Verdacht auf Missbrauch des Zugangs",
}

#: What a form field's input is missing or gets wrong, by the validator's error type.
INPUT_ERRORS: dict[str, str] = {
    "missing": "Bitte ausfüllen.",
    "string_too_short": "Bitte ausfüllen.",
    "string_too_long": "Der Text ist zu lang.",
    "string_pattern_mismatch": "Das Format stimmt nicht.",
    "date_type": "Bitte ein Datum angeben (TT.MM.JJJJ).",
    "date_parsing": "Bitte ein gültiges Datum angeben (TT.MM.JJJJ).",
    "date_from_datetime_parsing": "Bitte ein gültiges Datum angeben (TT.MM.JJJJ).",
    "enum": "Bitte einen Eintrag aus der Liste wählen.",
    "literal_error": "Bitte einen Eintrag aus der Liste wählen.",
    "int_type": "Bitte eine ganze Zahl angeben.",
    "int_parsing": "Bitte eine ganze Zahl angeben.",
    "int_from_float": "Bitte eine ganze Zahl angeben.",
    "number_type": "Bitte eine Zahl angeben.",
    "decimal_type": "Bitte eine Zahl angeben.",
    "decimal_parsing": "Bitte eine Zahl angeben.",
    "decimal_max_places": "Höchstens zwei Stellen nach dem Komma.",
    "decimal_max_digits": "Die Zahl ist zu groß.",
    "greater_than_equal": "Die Zahl ist zu klein.",
    "greater_than": "Die Zahl ist zu klein.",
    "less_than_equal": "Die Zahl ist zu groß.",
    "less_than": "Die Zahl ist zu groß.",
    "bool_type": "Bitte ankreuzen oder leer lassen.",
    "invalid_characters": "Der Text enthält Steuerzeichen oder unsichtbare Zeichen, die"
    " hier nicht erlaubt sind.",
    "extra_forbidden": "Dieses Feld gehört nicht zu diesem Formular.",
}

#: A participant's status in the caseload and on the participant's page.
PARTICIPANT_STATUSES: dict[str, str] = {
    "active": "aktiv",
    "exited": "ausgetreten",
    "voided": "ungültig (doppelt erfasst)",
}


def field_label(name: str) -> str:
    """The German label of a form field (``changes.x``: the label of ``x``)."""
    return FIELDS.get(name.rpartition(".")[2], FIELDS.get(name, name))


def value_label(value: str) -> str:
    """The German label of a value of a fixed list (``OTHER_VALUES``)."""
    return OTHER_VALUES.get(value, value)


def input_error_label(error_type: str) -> str:
    return INPUT_ERRORS.get(error_type, "Die Eingabe ist ungültig.")


def role_label(role: str) -> str:
    try:
        return label(Role(role))
    except ValueError:
        return role


def status_label(status: str) -> str:
    return PARTICIPANT_STATUSES.get(status, status)


# ------------------------------------------------------------- countries
#
# Nationality is stored as an ISO 3166-1 alpha-2 code (the public schema); a person
# reads the German short name. All officially assigned codes, plus XK (Kosovo, a
# user-assigned code the programme's statistics use); ``country_label`` falls back
# to "Staat mit dem Ländercode XY" for a code not listed here, never the bare code.

_COUNTRY_LINES = """
AD Andorra|AE Vereinigte Arabische Emirate|AF Afghanistan|AG Antigua und Barbuda
AI Anguilla|AL Albanien|AM Armenien|AO Angola|AQ Antarktis|AR Argentinien
AS Amerikanisch-Samoa|AT Österreich|AU Australien|AW Aruba|AX Ålandinseln
AZ Aserbaidschan|BA Bosnien und Herzegowina|BB Barbados|BD Bangladesch|BE Belgien
BF Burkina Faso|BG Bulgarien|BH Bahrain|BI Burundi|BJ Benin|BL Saint-Barthélemy
BM Bermuda|BN Brunei Darussalam|BO Bolivien|BQ Bonaire, Sint Eustatius und Saba
BR Brasilien|BS Bahamas|BT Bhutan|BV Bouvetinsel|BW Botsuana|BY Belarus|BZ Belize
CA Kanada|CC Kokosinseln|CD Kongo, Demokratische Republik|CF Zentralafrikanische Republik
CG Kongo, Republik|CH Schweiz|CI Côte d'Ivoire|CK Cookinseln|CL Chile|CM Kamerun
CN China|CO Kolumbien|CR Costa Rica|CU Kuba|CV Cabo Verde|CW Curaçao|CX Weihnachtsinsel
CY Zypern|CZ Tschechien|DE Deutschland|DJ Dschibuti|DK Dänemark|DM Dominica
DO Dominikanische Republik|DZ Algerien|EC Ecuador|EE Estland|EG Ägypten|EH Westsahara
ER Eritrea|ES Spanien|ET Äthiopien|FI Finnland|FJ Fidschi|FK Falklandinseln
FM Mikronesien|FO Färöer|FR Frankreich|GA Gabun|GB Vereinigtes Königreich|GD Grenada
GE Georgien|GF Französisch-Guayana|GG Guernsey|GH Ghana|GI Gibraltar|GL Grönland
GM Gambia|GN Guinea|GP Guadeloupe|GQ Äquatorialguinea|GR Griechenland
GS Südgeorgien und die Südlichen Sandwichinseln|GT Guatemala|GU Guam|GW Guinea-Bissau
GY Guyana|HK Hongkong|HM Heard und McDonaldinseln|HN Honduras|HR Kroatien|HT Haiti
HU Ungarn|ID Indonesien|IE Irland|IL Israel|IM Insel Man|IN Indien
IO Britisches Territorium im Indischen Ozean|IQ Irak|IR Iran|IS Island|IT Italien
JE Jersey|JM Jamaika|JO Jordanien|JP Japan|KE Kenia|KG Kirgisistan|KH Kambodscha
KI Kiribati|KM Komoren|KN St. Kitts und Nevis|KP Korea, Demokratische Volksrepublik
KR Korea, Republik|KW Kuwait|KY Kaimaninseln|KZ Kasachstan|LA Laos|LB Libanon
LC St. Lucia|LI Liechtenstein|LK Sri Lanka|LR Liberia|LS Lesotho|LT Litauen
LU Luxemburg|LV Lettland|LY Libyen|MA Marokko|MC Monaco|MD Moldau|ME Montenegro
MF Saint-Martin|MG Madagaskar|MH Marshallinseln|MK Nordmazedonien|ML Mali|MM Myanmar
MN Mongolei|MO Macau|MP Nördliche Marianen|MQ Martinique|MR Mauretanien|MS Montserrat
MT Malta|MU Mauritius|MV Malediven|MW Malawi|MX Mexiko|MY Malaysia|MZ Mosambik
NA Namibia|NC Neukaledonien|NE Niger|NF Norfolkinsel|NG Nigeria|NI Nicaragua
NL Niederlande|NO Norwegen|NP Nepal|NR Nauru|NU Niue|NZ Neuseeland|OM Oman|PA Panama
PE Peru|PF Französisch-Polynesien|PG Papua-Neuguinea|PH Philippinen|PK Pakistan
PL Polen|PM Saint-Pierre und Miquelon|PN Pitcairninseln|PR Puerto Rico
PS Palästinensische Gebiete|PT Portugal|PW Palau|PY Paraguay|QA Katar|RE Réunion
RO Rumänien|RS Serbien|RU Russische Föderation|RW Ruanda|SA Saudi-Arabien
SB Salomonen|SC Seychellen|SD Sudan|SE Schweden|SG Singapur|SH St. Helena|SI Slowenien
SJ Svalbard und Jan Mayen|SK Slowakei|SL Sierra Leone|SM San Marino|SN Senegal
SO Somalia|SR Suriname|SS Südsudan|ST São Tomé und Príncipe|SV El Salvador
SX Sint Maarten|SY Syrien|SZ Eswatini|TC Turks- und Caicosinseln|TD Tschad
TF Französische Süd- und Antarktisgebiete|TG Togo|TH Thailand|TJ Tadschikistan
TK Tokelau|TL Timor-Leste|TM Turkmenistan|TN Tunesien|TO Tonga|TR Türkei
TT Trinidad und Tobago|TV Tuvalu|TW Taiwan|TZ Tansania|UA Ukraine|UG Uganda
UM Kleinere Amerikanische Überseeinseln|US Vereinigte Staaten|UY Uruguay
UZ Usbekistan|VA Vatikanstadt|VC St. Vincent und die Grenadinen|VE Venezuela
VG Britische Jungferninseln|VI Amerikanische Jungferninseln|VN Vietnam|VU Vanuatu
WF Wallis und Futuna|WS Samoa|XK Kosovo|YE Jemen|YT Mayotte|ZA Südafrika|ZM Sambia
ZW Simbabwe
"""

#: German short names by ISO 3166-1 alpha-2 code.
COUNTRIES: dict[str, str] = {
    code: name
    for code, _, name in (
        entry.strip().partition(" ")
        for entry in _COUNTRY_LINES.replace("\n", "|").split("|")
        if entry.strip()
    )
}


def country_label(code: str | None) -> str:
    """A nationality code as its German country name (a stated fallback if unknown)."""
    if not code:
        return ""
    return COUNTRIES.get(code, f"Staat mit dem Ländercode {code}")


def country_choices() -> list[tuple[str, str]]:
    """(code, name) of every country, in German alphabetical order (Ä as A)."""
    fold = str.maketrans("ÄÖÜÅäöüå", "AOUAaoua")
    return sorted(COUNTRIES.items(), key=lambda item: item[1].translate(fold).casefold())
