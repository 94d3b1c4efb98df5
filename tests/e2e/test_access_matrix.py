"""Every operation of /openapi.json, called as every role, against the access matrix.

The expected statuses are in ``tests/access_matrix.py`` (printed in README.md). The
requests are generated from the OpenAPI document: an operation that has no row there
fails the test, so a new route cannot ship without a documented policy.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.settings import Settings
from lotse.storage.checkpoints import new_signing_key_text
from tests.access_matrix import MATRIX, ROLES, Row
from tests.builders.api import Auth, registration
from tests.builders.imports import milestone_rows, participant_row, xlsx_bytes

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Checkpoints signed, as in production, so the audit routes answer."""
    return dataclasses.replace(settings, audit_signing_key=new_signing_key_text())


@dataclass
class World:
    """The objects the matrix is called on, created fresh through the API."""

    participant: str
    restricted: str
    erasable: str
    runs: dict[str, str]
    position: int
    course: str
    release: str
    job: str
    #: Records a new coaching contact for ``participant``; returns its version.
    fresh_entry: Callable[[], int]
    referred: str = ""
    referable: str = ""
    referral: str = ""
    #: One accepted referral per writing role, so that each ending is a first one.
    accepted: dict[str, str] = field(default_factory=dict)
    user: str = ""
    #: Adds a user to the directory (case worker at caritas-ahlen); its id.
    fresh_user: Callable[..., str] = lambda **_: ""
    #: The token of a calendar feed of a case worker of caritas-ahlen (``feed-owner``).
    feed: str = ""
    #: Registers two matching participants in warendorf; a link decision's body.
    fresh_pair: Callable[[], dict[str, Any]] = dict
    #: A finished import run of a case worker of caritas-ahlen.
    import_run: str = ""


@dataclass(frozen=True)
class Params:
    #: A value, or a value per role (falling back to the one for "cw").
    path: dict[str, str | dict[str, str]] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    #: A body for this object instead of the operation's (``BODIES``).
    body: dict[str, Any] | None = None
    #: A multipart upload (files, form fields) instead of a JSON body.
    files: dict[str, Any] | None = None
    form: dict[str, str] | None = None


def void_body(version: int) -> dict[str, Any]:
    return {
        "type": "EntryVoided",
        "effective_date": "2021-04-02",
        "voids_version": version,
        "reason": "Fehleingabe",
    }


#: Object name (as in the matrix) -> the parameters that point at it.
OBJECTS: dict[str, Callable[[World], Params]] = {
    "-": lambda w: Params(),
    "participant": lambda w: Params(path={"participant_id": w.participant}),
    "restricted participant": lambda w: Params(path={"participant_id": w.restricted}),
    "erasable participant": lambda w: Params(path={"participant_id": w.erasable}),
    "unknown participant": lambda w: Params(path={"participant_id": str(uuid.uuid4())}),
    "voidable entry": lambda w: Params(
        path={"participant_id": w.participant}, body=void_body(w.fresh_entry())
    ),
    "referred participant": lambda w: Params(path={"participant_id": w.referred}),
    "referable participant": lambda w: Params(path={"participant_id": w.referable}),
    "referral": lambda w: Params(path={"participant_id": w.referable, "referral_id": w.referral}),
    "accepted referral": lambda w: Params(
        path={"participant_id": w.referable, "referral_id": w.accepted}
    ),
    "own provider": lambda w: Params(),
    "municipality warendorf": lambda w: Params(query={"municipality": "warendorf"}),
    "provider run": lambda w: Params(path={"run_id": w.runs["provider"]}),
    "municipality run": lambda w: Params(path={"run_id": w.runs["municipality"]}),
    "statewide run": lambda w: Params(path={"run_id": w.runs["statewide"]}),
    "statewide evidence run": lambda w: Params(path={"run_id": w.runs["evidence"]}),
    "unknown run": lambda w: Params(path={"run_id": str(uuid.uuid4())}),
    "provider run, xlsx export": lambda w: Params(
        path={"run_id": w.runs["provider"]}, query={"format": "xlsx"}
    ),
    "statewide evidence run, csv export": lambda w: Params(
        path={"run_id": w.runs["evidence"]}, query={"format": "csv"}
    ),
    "course": lambda w: Params(path={"course_id": w.course}),
    "municipality release": lambda w: Params(path={"release_id": w.release}),
    "unknown release": lambda w: Params(path={"release_id": str(uuid.uuid4())}),
    "replay job": lambda w: Params(path={"job_id": w.job}),
    "unknown course": lambda w: Params(
        path={"course_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4())}
    ),
    "new user": lambda w: Params(body=new_user()),
    "user": lambda w: Params(path={"user_id": w.user}),
    "fresh user": lambda w: Params(path={"user_id": w.fresh_user()}),
    "deactivated user": lambda w: Params(path={"user_id": w.fresh_user(deactivated=True)}),
    "unknown user": lambda w: Params(path={"user_id": str(uuid.uuid4())}),
    "duplicate pair": lambda w: Params(body=w.fresh_pair()),
    "unknown pair": lambda w: Params(
        body={
            "participant_a": str(uuid.uuid4()),
            "participant_b": str(uuid.uuid4()),
            "decision": "linked",
        }
    ),
    "calendar feed": lambda w: Params(query={"token": w.feed}),
    "unknown calendar feed": lambda w: Params(query={"token": "x" * 43}),
    "import file": lambda w: Params(
        files={"file": ("liste.xlsx", import_file())}, form={"provider": "caritas-ahlen"}
    ),
    "import run": lambda w: Params(path={"import_id": w.import_run}),
    "unknown import": lambda w: Params(path={"import_id": str(uuid.uuid4())}),
}


def new_user() -> dict[str, Any]:
    return {
        "issuer": "caritas",
        "subject": f"person-{uuid.uuid4().hex[:12]}",
        "display_name": "Erika Beispiel",
        "email": "erika@caritas.example",
        "memberships": [{"role": "caseworker", "member_of": "caritas-ahlen"}],
    }


#: Values for parameters no object names (a chart of a monitoring run, a period).
DEFAULT_PATH = {"name": "flows", "extension": "svg"}
DEFAULT_QUERY = {"period": "2021", "quarter": "2021-Q1"}

COURSE = {
    "programme": "durchstarten",
    "module": "F4",
    "provider": "caritas-ahlen",
    "title": "Jugendintegrationskurs Ahlen",
    "course_type": "jugendintegrationskurs",
    "planned_lesson_hours": "120",
    "start_date": "2021-02-01",
    "end_date": "2021-06-30",
}
COACHING = {
    "type": "CoachingContactLogged",
    "effective_date": "2021-04-01",
    "minutes": 30,
    "mode": "phone",
}
#: Operation -> a valid body, so that only the policy decides the status.
BODIES: dict[str, dict[str, Any]] = {
    "POST /users/{user_id}/memberships": {"role": "coordinator", "member_of": "warendorf"},
    "POST /users/{user_id}/memberships/withdrawal": {
        "role": "caseworker",
        "member_of": "caritas-ahlen",
    },
    "POST /users/{user_id}/deactivation": {"reason": "left-organisation"},
    "POST /users/{user_id}/reactivation": {},
    "POST /participants": registration(),
    "POST /participants/{participant_id}/milestones": COACHING,
    "POST /participants/{participant_id}/worklist/dismissals": {
        "effective_date": "2021-04-01",
        "kind": "no_contact",
        "due_date": "2021-04-29",
        "reason": "done_outside_lotse",
    },
    "POST /participants/{participant_id}/erasure": {
        "mode": "restrict",
        "reason": "participant_request",
    },
    "POST /courses": COURSE,
    "POST /reports/releases": {"report": "monitoring", "period": "2021-Q2"},
    "POST /reports/replays": {"report": "monitoring", "period": "2021"},
    "POST /courses/{course_id}/sessions": {"date": "2021-03-01", "lesson_hours": "2"},
    "POST /courses/{course_id}/enrolments": {
        "participant_id": str(uuid.UUID(int=1)),
        "effective_date": "2021-03-01",
    },
    "POST /courses/{course_id}/withdrawals": {
        "participant_id": str(uuid.UUID(int=1)),
        "effective_date": "2021-03-01",
        "reason": "participant_left",
    },
    "POST /courses/{course_id}/sessions/{session_id}/attendance": {
        "entries": [{"participant_id": str(uuid.UUID(int=1)), "status": "present"}]
    },
    "POST /courses/{course_id}/exam-fees": {
        "effective_date": "2021-03-01",
        "amount_eur": "120.00",
        "receipt_reference": "R-1",
    },
    "POST /courses/{course_id}/completion": {"effective_date": "2021-03-01"},
    "POST /courses/{course_id}/cancellation": {
        "effective_date": "2021-03-01",
        "reason": "too_few_participants",
    },
    # Per role, so that the admin's referral is not refused as a duplicate of the case worker's.
    "POST /participants/{participant_id}/referrals": {
        "cw": {"provider": "vhs-warendorf", "module": "F4", "effective_date": "2021-03-03"},
        "ad": {"provider": "caritas-koeln", "module": "F4", "effective_date": "2021-03-03"},
    },
    "POST /participants/{participant_id}/referrals/{referral_id}/acceptance": {
        "effective_date": "2021-03-04"
    },
    "POST /participants/{participant_id}/referrals/{referral_id}/ending": {
        "effective_date": "2021-03-05",
        "reason": "completed",
    },
}
#: Bodies given per role (the others get the case worker's).
PER_ROLE_BODIES = {"POST /participants/{participant_id}/referrals"}
#: Milestones that make a participant eligible and give consent.
CONSENTED = (
    {
        "type": "EligibilityAssessed",
        "effective_date": "2021-03-02",
        "eligible": True,
        "target_group": "duldung",
    },
    {"type": "ConsentGiven", "effective_date": "2021-03-02", "consent_version": "2020-01"},
)


def operations(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``METHOD /path`` -> its OpenAPI operation object."""
    return {
        f"{method.upper()} {path}": operation
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def unlisted(openapi: dict[str, Any], matrix: list[Row]) -> list[str]:
    """Operations of the API without a row in the matrix."""
    listed = {row.operation for row in matrix}
    return sorted(set(operations(openapi)) - listed)


def call(client: TestClient, auth: Auth, row: Row, spec: dict[str, Any], role: str, world: World):  # type: ignore[no-untyped-def]
    method, template = row.operation.split(" ", 1)
    params = OBJECTS[row.object](world)
    path_values = {**DEFAULT_PATH, **params.path}

    def value(name: str) -> str:
        found = path_values[name]
        return found if isinstance(found, str) else found.get(role, found["cw"])

    path = re.sub(r"\{(\w+)\}", lambda m: value(m.group(1)), template)
    query = dict(params.query)
    for parameter in spec.get("parameters", []):
        if parameter["in"] == "query" and parameter.get("required"):
            name = parameter["name"]
            assert name in query or name in DEFAULT_QUERY, (
                f"{row.operation}: no value for required query parameter {name}"
            )
            query.setdefault(name, DEFAULT_QUERY.get(name, ""))
    token = ROLES[role]
    headers = auth(*token) if token else {}
    body = params.body if params.body is not None else BODIES.get(row.operation)
    if row.operation in PER_ROLE_BODIES and body is not None:
        body = body.get(role, body["cw"])
    if params.files is not None:
        return client.request(
            method, path, params=query, files=params.files, data=params.form, headers=headers
        )
    if "requestBody" in spec:
        assert body is not None, f"{row.operation}: add a valid body to BODIES"
    return client.request(method, path, params=query, json=body, headers=headers)


def import_file() -> bytes:
    return xlsx_bytes([participant_row("M-1")], milestone_rows("M-1"))


def finished_import(client: TestClient, headers: dict[str, str]) -> str:
    started = client.post(
        "/imports", files={"file": ("liste.xlsx", import_file())}, headers=headers
    )
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    for _ in range(400):
        if client.get(location, headers=headers).json()["state"] == "done":
            return location.rsplit("/", 1)[1]
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def build_world(client: TestClient, auth: Auth) -> World:
    def register() -> str:
        response = client.post("/participants", json=registration(), headers=auth())
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    participant, restricted, erasable = register(), register(), register()
    referred, referable = register(), register()
    lead, receiver = auth(), auth("caseworker", "vhs-warendorf")

    def write(path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def referral(pid: str, module: str, *, accept: bool) -> str:
        body = {"provider": "vhs-warendorf", "module": module, "effective_date": "2021-03-03"}
        referral_id = str(write(f"/participants/{pid}/referrals", body, lead)["referral_id"])
        if accept:
            acceptance = {"effective_date": "2021-03-04"}
            path = f"/participants/{pid}/referrals/{referral_id}/acceptance"
            write(path, acceptance, receiver)
        return referral_id

    for pid in (referred, referable):
        for body in CONSENTED:
            write(f"/participants/{pid}/milestones", body, lead)
    referral(referred, "F4", accept=True)
    waiting = referral(referable, "F3", accept=False)
    accepted = {
        role: referral(referable, module, accept=True)
        for role, module in (("cw", "F1"), ("cw-op", "F2"), ("ad", "F6"))
    }
    restriction = {"mode": "restrict", "reason": "participant_request"}
    response = client.post(
        f"/participants/{restricted}/erasure",
        json=restriction,
        headers=auth("coordinator", "warendorf"),
    )
    assert response.status_code == 200, response.text
    admin = auth("admin", "lotse-operations")
    runs = {}
    for name, kind, scope in (
        ("provider", "monitoring", {"provider": "caritas-ahlen"}),
        ("municipality", "monitoring", {"municipality": "warendorf"}),
        ("statewide", "monitoring", {}),
        ("evidence", "financial", {"evidence": "true"}),
    ):
        response = client.get(f"/reports/{kind}", params={"period": "2021", **scope}, headers=admin)
        assert response.status_code == 200, response.text
        runs[name] = response.headers["X-Report-Run"]
    response = client.post(f"/participants/{participant}/milestones", json=COACHING, headers=auth())
    assert response.status_code == 201, response.text
    position = response.json()["position"]
    # Read your writes: the timeline and the caseload must know the restriction.
    for path in ("/participants", f"/participants/{participant}/timeline"):
        waited = client.get(path, params={"min_position": position}, headers=admin)
        assert waited.status_code == 200, waited.text
    response = client.post("/courses", json=COURSE, headers=auth())
    assert response.status_code == 201, response.text
    course = str(response.json()["id"])
    # The newest signed checkpoint, as the automatic signer would have made it.
    client.app.state.runtime.checkpoints.create()  # type: ignore[attr-defined]
    release = client.post(
        "/reports/releases",
        json={"report": "monitoring", "period": "2021-Q1", "municipality": "warendorf"},
        headers=admin,
    )
    assert release.status_code == 201, release.text
    job = client.post(
        "/reports/replays",
        json={"report": "monitoring", "period": "2021"},
        headers=auth("auditor", "*"),
    )
    assert job.status_code == 202, job.text

    def fresh_user(*, deactivated: bool = False) -> str:
        added = client.post("/users", json=new_user(), headers=admin)
        assert added.status_code == 201, added.text
        user_id = str(added.json()["id"])
        if deactivated:
            path = f"/users/{user_id}/deactivation"
            done = client.post(path, json={"reason": "left-organisation"}, headers=admin)
            assert done.status_code == 201, done.text
        return user_id

    def fresh_entry() -> int:
        recorded = client.post(
            f"/participants/{participant}/milestones", json=COACHING, headers=auth()
        )
        assert recorded.status_code == 201, recorded.text
        return int(recorded.json()["version"])

    def fresh_pair() -> dict[str, Any]:
        # A name of its own per pair, so that each pair is decided once.
        name = f"Tesfay{uuid.uuid4().hex[:6]}".translate(str.maketrans("0123456789", "bcdfghklmn"))
        ids = [
            write("/participants", registration(provider=org, given_name=name), auth(org=org))
            for org in ("caritas-ahlen", "vhs-warendorf")
        ]
        return {
            "participant_a": str(ids[0]["id"]),
            "participant_b": str(ids[1]["id"]),
            "decision": "linked",
        }

    feed = client.post(
        "/worklist/calendar-feeds", headers=auth("caseworker", "caritas-ahlen", user="feed-owner")
    )
    assert feed.status_code == 201, feed.text

    return World(
        participant,
        restricted,
        erasable,
        runs,
        position,
        course,
        release.headers["Location"].rsplit("/", 1)[1],
        job.headers["Location"].rsplit("/", 1)[1],
        fresh_entry,
        referred,
        referable,
        waiting,
        accepted,
        fresh_user(),
        fresh_user,
        feed.json()["token"],
        fresh_pair,
        finished_import(client, auth()),
    )


def test_every_operation_answers_every_role_as_the_access_matrix_documents(
    client: TestClient, auth: Auth
) -> None:
    openapi = client.get("/openapi.json").json()
    specs = operations(openapi)
    assert not unlisted(openapi, MATRIX), (
        f"operations without a row in tests/access_matrix.py: {unlisted(openapi, MATRIX)}"
    )
    stale = sorted({row.operation for row in MATRIX} - set(specs))
    assert not stale, f"rows for operations the API no longer has: {stale}"
    world = build_world(client, auth)

    mismatches = []
    for row in MATRIX:
        for role, expected in row.expected().items():
            response: httpx.Response = call(client, auth, row, specs[row.operation], role, world)
            if response.status_code != expected:
                mismatches.append(
                    f"{row.operation} [{row.object}] as {role}: "
                    f"{response.status_code}, documented {expected}"
                )

    assert not mismatches, "\n".join(mismatches)


def test_an_operation_without_a_row_in_the_matrix_is_reported() -> None:
    app = create_app()

    async def read_witness() -> dict[str, str]:
        """A route added without a row."""
        return {}

    app.add_api_route("/audit/witnesses", read_witness, methods=["GET"])

    assert unlisted(app.openapi(), MATRIX) == ["GET /audit/witnesses"]
