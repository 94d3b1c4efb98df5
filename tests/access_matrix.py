# ruff: noqa: E501  (the matrix is a table: one row per line reads best)
"""The access matrix: the status each role gets from each operation, per object.

This table is the documented policy. ``tests/e2e/test_access_matrix.py`` calls every
operation of ``/openapi.json`` as every role below, on the objects below, and compares
each status with it; an operation without a row fails that test. README.md prints
the table (``python -m tests.access_matrix`` renders it; a test checks they agree).

Adding a route: add a ``Row`` (operation as ``METHOD /path`` exactly as in the
OpenAPI document, an object, and eleven statuses in the column order of ``ROLES``).
A route with a new kind of path parameter also needs an object in
``tests/e2e/test_access_matrix.py`` (``OBJECTS``) that supplies it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Column -> (role, organisation) of the token, or None for no token. The objects
#: live at provider caritas-ahlen in municipality warendorf: the plain roles are
#: in scope, "other provider" / "other municipality" are not.
ROLES: dict[str, tuple[str, str] | None] = {
    "anon": None,
    "cw": ("caseworker", "caritas-ahlen"),
    "cw-op": ("caseworker", "vhs-warendorf"),
    "cw-om": ("caseworker", "diakonie-duesseldorf"),
    "co": ("coordinator", "warendorf"),
    "co-om": ("coordinator", "duesseldorf"),
    "fu": ("funder", "bezirksregierung-arnsberg"),
    "au": ("auditor", "warendorf"),
    "au-om": ("auditor", "duesseldorf"),
    "au*": ("auditor", "*"),
    "ad": ("admin", "lotse-operations"),
    "tm": ("teilhabemanager", "warendorf"),
    "oa": ("org_admin", "caritas-ahlen"),
}

LEGEND = (
    "anon: no token · cw: case worker of caritas-ahlen (provider of the objects) · "
    "cw-op: case worker of another provider in the same municipality (vhs-warendorf), "
    "the receiving provider of the referrals · "
    "cw-om: case worker in another municipality (diakonie-duesseldorf) · "
    "co / co-om: coordinator of warendorf / duesseldorf · fu: funder · "
    "au / au-om / au*: auditor of warendorf / duesseldorf / all municipalities · ad: admin · "
    "tm: Teilhabemanager of warendorf (municipality of the objects) · "
    "oa: organisation admin of caritas-ahlen"
)

#: What the objects are (each created fresh by the test).
OBJECTS_DOC: dict[str, str] = {
    "-": "no object (or the caller's own scope)",
    "participant": "an active participant of caritas-ahlen (warendorf)",
    "restricted participant": "a participant of caritas-ahlen under restriction (Art. 18)",
    "erasable participant": "a participant of caritas-ahlen to erase (mode restrict)",
    "unknown participant": "a participant id that does not exist",
    "duplicate pair": "two fresh matching participants, at caritas-ahlen and vhs-warendorf"
    " (warendorf), to link",
    "unknown pair": "two participant ids that do not exist",
    "voidable entry": "an EntryVoided of a coaching contact caritas-ahlen recorded"
    " for the participant (a fresh one for each call)",
    "referred participant": "a participant of caritas-ahlen with an accepted referral to"
    " vhs-warendorf (cw-op) for F4",
    "referable participant": "a participant of caritas-ahlen with consent, to refer"
    " (cw: to vhs-warendorf for F4, ad: to caritas-koeln for F4)",
    "referral": "a referral of the referable participant to vhs-warendorf (cw-op),"
    " not yet accepted",
    "accepted referral": "an accepted referral of the referable participant to"
    " vhs-warendorf (one per writing role)",
    "own provider": "a registration for caritas-ahlen",
    "municipality warendorf": "a report asked for municipality=warendorf",
    "provider run": "a stored monitoring run for provider caritas-ahlen",
    "municipality run": "a stored monitoring run for municipality warendorf",
    "statewide run": "a stored monitoring run for all municipalities",
    "statewide evidence run": "a stored financial run with evidence rows (participant ids)",
    "unknown run": "a run id that does not exist",
    "provider run, xlsx export": "the provider run exported as XLSX (format=xlsx)",
    "statewide evidence run, csv export": "the evidence run exported as CSV (format=csv)",
    "course": "a course of caritas-ahlen (warendorf)",
    "municipality release": "the published release of monitoring 2021-Q1 for warendorf",
    "unknown release": "a release id that does not exist",
    "replay job": "a replay job started by the auditor of all municipalities (only its starter reads it)",
    "unknown course": "a course id (and session id) that does not exist",
    "new user": "a person of caritas-ahlen to add to the directory as case worker (one per role)",
    "user": "a user in the directory, case worker at caritas-ahlen",
    "fresh user": "a user added for the call, case worker at caritas-ahlen; the body"
    " grants coordinator at warendorf, withdraws case worker at caritas-ahlen",
    "deactivated user": "a user added and deactivated for the call",
    "calendar feed": "the URL token of a calendar feed of a case worker of caritas-ahlen"
    " (the token decides, not the caller's bearer token)",
    "unknown calendar feed": "a calendar feed token that was never issued (or was revoked)",
    "unknown user": "a user id that does not exist",
    "import file": "an XLSX import file with one participant, uploaded for provider caritas-ahlen"
    " (form field provider=caritas-ahlen)",
    "import run": "a finished import run of a case worker of caritas-ahlen (its provider's"
    " people and the admin read it and its report; others get 404)",
    "unknown import": "an import id that does not exist",
}


@dataclass(frozen=True)
class Row:
    operation: str
    object: str
    statuses: str

    def expected(self) -> dict[str, int]:
        codes = [int(s) for s in self.statuses.split()]
        assert len(codes) == len(ROLES), f"{self.operation} {self.object}: one status per role"
        return dict(zip(ROLES, codes, strict=True))


P = "/participants/{participant_id}"
REF = "/participants/{participant_id}/referrals/{referral_id}"
RUN = "/reports/runs/{run_id}"
C = "/courses/{course_id}"
CHART = "/reports/runs/{run_id}/charts/{name}.{extension}"
U = "/users/{user_id}"

# fmt: off
#            operation                              object                     anon cw cw-op cw-om co co-om fu au au-om au* ad tm oa
MATRIX: list[Row] = [
    Row("GET /programmes",                          "-",                       "200 200 200 200 200 200 200 200 200 200 200 200 200"),
    Row("GET /organisations",                       "-",                       "200 200 200 200 200 200 200 200 200 200 200 200 200"),
    Row("GET /health",                              "-",                       "200 200 200 200 200 200 200 200 200 200 200 200 200"),
    Row("POST /participants",                       "own provider",            "401 201 403 403 403 403 403 403 403 403 201 403 403"),
    Row("GET /participants",                        "-",                       "401 200 200 200 200 200 403 200 200 200 200 200 403"),
    Row("GET /referrals",                           "-",                       "401 200 200 200 200 200 403 200 200 200 200 200 403"),
    Row("GET /worklist",                            "-",                       "401 200 200 200 200 200 403 200 200 200 200 200 403"),
    Row("POST /worklist/calendar-feeds",            "-",                       "401 201 201 201 201 201 403 201 201 201 201 201 403"),
    Row("DELETE /worklist/calendar-feeds",          "-",                       "401 204 204 204 204 204 403 204 204 204 204 204 403"),
    Row("GET /imports/template",                    "-",                       "200 200 200 200 200 200 200 200 200 200 200 200 200"),
    Row("POST /imports",                            "import file",             "401 202 403 403 403 403 403 403 403 403 202 403 403"),
    Row("GET /imports/{import_id}",                 "import run",              "401 200 404 404 403 403 403 403 403 403 200 403 403"),
    Row("GET /imports/{import_id}",                 "unknown import",          "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row("GET /imports/{import_id}/report",          "import run",              "401 200 404 404 403 403 403 403 403 403 200 403 403"),
    Row("GET /worklist.ics",                        "calendar feed",           "200 200 200 200 200 200 200 200 200 200 200 200 200"),
    Row("GET /worklist.ics",                        "unknown calendar feed",   "404 404 404 404 404 404 404 404 404 404 404 404 404"),
    Row("GET /duplicates",                          "-",                       "401 403 403 403 200 200 403 403 403 403 200 403 403"),
    Row("POST /duplicates/decisions",               "duplicate pair",          "401 403 403 403 201 404 403 403 403 403 201 403 403"),
    Row("POST /duplicates/decisions",               "unknown pair",            "401 403 403 403 404 404 403 403 403 403 404 403 403"),
    Row(f"POST {P}/duplicate-check",                "participant",             "401 200 404 404 403 403 403 403 403 403 200 403 403"),
    Row(f"POST {P}/duplicate-check",                "unknown participant",     "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row(f"GET {P}",                                 "participant",             "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {P}",                                 "restricted participant",  "401 403 404 404 403 404 403 200 404 200 403 403 403"),
    Row(f"GET {P}",                                 "unknown participant",     "401 404 404 404 404 404 403 404 404 404 404 404 403"),
    Row(f"GET {P}/state",                           "participant",             "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {P}/state",                           "restricted participant",  "401 403 404 404 403 404 403 200 404 200 403 403 403"),
    Row(f"GET {P}/state",                           "unknown participant",     "401 404 404 404 404 404 403 404 404 404 404 404 403"),
    Row(f"GET {P}/history",                         "participant",             "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {P}/history",                         "restricted participant",  "401 403 404 404 403 404 403 200 404 200 403 403 403"),
    Row(f"GET {P}/history",                         "unknown participant",     "401 404 404 404 404 404 403 404 404 404 404 404 403"),
    Row(f"GET {P}/timeline",                        "participant",             "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {P}/timeline",                        "restricted participant",  "401 403 404 404 403 404 403 200 404 200 403 403 403"),
    Row(f"GET {P}/timeline",                        "unknown participant",     "401 404 404 404 404 404 403 404 404 404 404 404 403"),
    Row(f"GET {P}/access-log",                      "participant",             "401 403 403 403 200 404 403 403 403 403 200 403 403"),
    Row(f"GET {P}/access-log",                      "restricted participant",  "401 403 403 403 200 404 403 403 403 403 200 403 403"),
    Row(f"GET {P}/access-log",                      "unknown participant",     "401 403 403 403 404 404 403 403 403 403 404 403 403"),
    Row(f"POST {P}/milestones",                     "participant",             "401 201 404 404 403 403 403 403 403 403 201 201 403"),
    Row(f"POST {P}/milestones",                     "unknown participant",     "401 404 404 404 403 403 403 403 403 403 404 404 403"),
    Row(f"POST {P}/milestones",                     "voidable entry",          "401 201 404 404 201 404 403 403 403 403 201 403 403"),
    Row(f"POST {P}/worklist/dismissals",            "participant",             "401 201 404 404 403 403 403 403 403 403 201 403 403"),
    Row(f"POST {P}/worklist/dismissals",            "unknown participant",     "401 404 404 404 403 403 403 403 403 403 404 404 403"),
    Row(f"GET {P}",                                 "referred participant",    "401 200 403 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {P}/state",                           "referred participant",    "401 200 403 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {P}/history",                         "referred participant",    "401 200 200 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {P}/timeline",                        "referred participant",    "401 200 200 404 200 404 403 200 404 200 200 200 403"),
    Row(f"POST {P}/milestones",                     "referred participant",    "401 201 403 404 403 403 403 403 403 403 201 201 403"),
    Row(f"POST {P}/referrals",                      "referable participant",   "401 201 404 404 403 403 403 403 403 403 201 403 403"),
    Row(f"POST {P}/referrals",                      "unknown participant",     "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row(f"POST {REF}/acceptance",                   "referral",                "401 403 201 404 403 403 403 403 403 403 403 403 403"),
    Row(f"POST {REF}/ending",                       "accepted referral",       "401 201 201 404 403 403 403 403 403 403 201 403 403"),
    Row(f"POST {P}/erasure",                        "erasable participant",    "401 403 403 403 200 404 403 403 403 403 200 403 403"),
    Row(f"POST {P}/erasure",                        "unknown participant",     "401 403 403 403 404 404 403 403 403 403 404 403 403"),
    Row("GET /reports/monitoring",                  "-",                       "401 200 200 200 200 200 403 200 200 200 200 200 403"),
    Row("GET /reports/monitoring",                  "municipality warendorf",  "401 200 200 403 200 403 403 200 403 200 200 200 403"),
    Row("GET /reports/outcomes",                    "-",                       "401 200 200 200 200 200 403 200 200 200 200 200 403"),
    Row("GET /reports/outcomes",                    "municipality warendorf",  "401 200 200 403 200 403 403 200 403 200 200 200 403"),
    Row("GET /reports/financial",                   "-",                       "401 200 200 200 200 200 403 200 200 200 200 200 403"),
    Row("GET /reports/financial",                   "municipality warendorf",  "401 200 200 403 200 403 403 200 403 200 200 200 403"),
    Row("GET /reports/data-quality",                "-",                       "401 403 403 403 200 200 403 200 200 200 200 403 403"),
    Row("GET /reports/data-quality",                "municipality warendorf",  "401 403 403 403 200 403 403 200 403 200 200 403 403"),
    Row(f"GET {RUN}",                               "provider run",            "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {RUN}",                               "municipality run",        "401 404 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {RUN}",                               "statewide run",           "401 404 404 404 404 404 403 404 404 200 200 404 403"),
    Row(f"GET {RUN}",                               "statewide evidence run",  "401 404 404 404 404 404 403 404 404 200 200 404 403"),
    Row(f"GET {RUN}",                               "unknown run",             "401 404 404 404 404 404 403 404 404 404 404 404 403"),
    Row(f"GET {RUN}",                               "provider run, xlsx export", "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {RUN}",                               "statewide evidence run, csv export", "401 404 404 404 404 404 403 404 404 200 200 404 403"),
    Row(f"GET {RUN}/changes",                       "provider run",            "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {RUN}/changes",                       "municipality run",        "401 404 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {RUN}/changes",                       "statewide run",           "401 404 404 404 404 404 403 404 404 200 200 404 403"),
    Row(f"GET {RUN}/changes",                       "statewide evidence run",  "401 404 404 404 404 404 403 404 404 200 200 404 403"),
    Row(f"GET {RUN}/changes",                       "unknown run",             "401 404 404 404 404 404 403 404 404 404 404 404 403"),
    Row(f"GET {CHART}",                             "provider run",            "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {CHART}",                             "municipality run",        "401 404 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {CHART}",                             "statewide run",           "401 404 404 404 404 404 403 404 404 200 200 404 403"),
    Row(f"GET {CHART}",                             "unknown run",             "401 404 404 404 404 404 403 404 404 404 404 404 403"),
    Row("GET /audit/verify",                        "-",                       "401 403 403 403 403 403 403 200 200 200 200 403 403"),
    Row("GET /audit/checkpoints",                   "-",                       "401 403 403 403 403 403 403 200 200 200 200 403 403"),
    Row("GET /audit/public-key",                    "-",                       "401 403 403 403 403 403 403 200 200 200 200 403 403"),
    Row("GET /courses",                             "-",                       "401 200 200 200 200 200 403 200 200 200 200 200 403"),
    Row(f"GET {C}",                                 "course",                  "401 200 404 404 200 404 403 200 404 200 200 200 403"),
    Row(f"GET {C}",                                 "unknown course",          "401 404 404 404 404 404 403 404 404 404 404 404 403"),
    Row("POST /courses",                            "own provider",            "401 201 403 403 403 403 403 403 403 403 201 403 403"),
    Row(f"POST {C}/sessions",                       "course",                  "401 201 404 404 403 403 403 403 403 403 201 403 403"),
    Row(f"POST {C}/sessions",                       "unknown course",          "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row(f"POST {C}/enrolments",                     "unknown course",          "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row(f"POST {C}/withdrawals",                    "unknown course",          "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row(f"POST {C}/sessions/{{session_id}}/attendance", "unknown course",      "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row(f"POST {C}/exam-fees",                      "unknown course",          "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row(f"POST {C}/completion",                     "unknown course",          "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row(f"POST {C}/cancellation",                   "unknown course",          "401 404 404 404 403 403 403 403 403 403 404 403 403"),
    Row("GET /audit/checkpoints/newest",            "-",                       "401 403 403 403 403 403 403 200 200 200 200 403 403"),
    Row("POST /reports/releases",                   "-",                       "401 403 403 403 403 403 403 403 403 403 201 403 403"),
    Row("GET /reports/releases",                    "-",                       "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    Row("GET /reports/releases/{release_id}",       "municipality release",    "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    Row("GET /reports/releases/{release_id}",       "unknown release",         "401 404 404 404 404 404 404 404 404 404 404 404 404"),
    Row("GET /reports/releases/{release_id}/charts/{name}.{extension}", "municipality release", "401 200 200 200 200 200 200 200 200 200 200 200 200"),
    Row("POST /reports/replays",                    "-",                       "401 403 403 403 403 403 403 202 202 202 202 403 403"),
    Row("GET /reports/replays/{job_id}",            "replay job",              "401 403 403 403 403 403 403 404 404 200 404 403 403"),
    Row("GET /users",                               "-",                       "401 403 403 403 403 403 403 403 403 403 200 403 200"),
    Row("POST /users",                              "new user",                "401 403 403 403 403 403 403 403 403 403 201 403 201"),
    Row(f"GET {U}",                                 "user",                    "401 403 403 403 403 403 403 403 403 403 200 403 200"),
    Row(f"GET {U}",                                 "unknown user",            "401 403 403 403 403 403 403 403 403 403 404 403 404"),
    Row(f"POST {U}/memberships",                    "fresh user",              "401 403 403 403 403 403 403 403 403 403 201 403 403"),
    Row(f"POST {U}/memberships",                    "unknown user",            "401 403 403 403 403 403 403 403 403 403 404 403 403"),
    Row(f"POST {U}/memberships/withdrawal",         "fresh user",              "401 403 403 403 403 403 403 403 403 403 201 403 201"),
    Row(f"POST {U}/deactivation",                   "fresh user",              "401 403 403 403 403 403 403 403 403 403 201 403 201"),
    Row(f"POST {U}/reactivation",                   "deactivated user",        "401 403 403 403 403 403 403 403 403 403 201 403 201"),
]
# fmt: on


def markdown() -> str:
    """The table as README.md shows it."""
    head = f"| operation | object | {' | '.join(ROLES)} |"
    rule = "|---|---|" + "---|" * len(ROLES)
    lines = [head, rule]
    for row in MATRIX:
        codes = " | ".join(str(c) for c in row.expected().values())
        lines.append(f"| `{row.operation}` | {row.object} | {codes} |")
    lines.append("")
    lines.append("Objects: " + "; ".join(f"*{k}*: {v}" for k, v in OBJECTS_DOC.items()) + ".")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
