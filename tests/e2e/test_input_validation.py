"""Hostile input through HTTP: control characters, loose types, implausible dates, echoes.

A NUL in a clear-text field was accepted with 201 and then stopped the read side
for good (PostgreSQL refuses NUL in ``text``). Every string is now checked where it
enters (api/schemas.py) and again in the domain; problem details name the field
and never repeat what was sent.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from tests.builders.api import Auth, enrolled, milestone, register, registration

PROBLEM = "application/problem+json"


def event_count(runtime: Runtime) -> int:
    with runtime.journeys.recorder.datastore.transaction(commit=False) as curs:  # type: ignore[attr-defined]
        curs.execute("SELECT count(*) AS n FROM lotse_events")
        row = curs.fetchone()
    assert row is not None
    return int(row["n"])


# ------------------------------------------------------------ control characters


@pytest.mark.parametrize(
    "kind", ["InternshipStarted", "EntryQualificationStarted", "ApprenticeshipStarted"]
)
def test_nul_in_an_occupation_is_422_naming_the_field_and_nothing_is_written(
    client: TestClient, auth: Auth, runtime: Runtime, kind: str
) -> None:
    pid = enrolled(client, auth)
    before = event_count(runtime)
    version = client.get(f"/participants/{pid}", headers=auth()).json()["version"]

    response = milestone(
        client,
        auth,
        pid,
        {"type": kind, "effective_date": "2021-04-01", "occupation": "Ko\u0000ch"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == "occupation"
    assert "Ko" not in response.json()["detail"]
    assert event_count(runtime) == before
    assert client.get(f"/participants/{pid}", headers=auth()).json()["version"] == version


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("given_name", "Ami\u0007na"),
        ("given_name", "Amina\u0000"),
        ("family_name", "Hai\u009bdari"),
        ("family_name", "Haidari\nX"),
        ("given_name", "\u202eanimA"),
        ("family_name", "Hai\ud800dari"),
    ],
)
def test_control_characters_in_a_sealed_name_are_422(
    client: TestClient, auth: Auth, runtime: Runtime, field: str, value: str
) -> None:
    before = event_count(runtime)

    # As JSON escapes, so that a lone surrogate can travel too.
    response = client.post(
        "/participants",
        content=json.dumps(registration(**{field: value})),
        headers={**auth(), "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["rule"] == "invalid-input"
    assert event_count(runtime) == before


def test_control_character_inside_a_correction_is_422(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "EntryCorrected",
            "effective_date": "2021-03-04",
            "corrects_version": 1,
            "reason": "typo",
            "changes": {"family_name": "Hai\u0000dari"},
        },
    )

    assert response.status_code == 422
    assert response.json()["field"] == "changes.family_name"


def test_tab_and_line_breaks_are_kept_in_free_text_and_refused_in_one_line_fields(
    client: TestClient, auth: Auth
) -> None:
    note = "Gespräch am 2.3.:\n\t- Duldung liegt vor\r\n- Ausweis fehlt"
    pid = register(client, auth)

    free = milestone(
        client,
        auth,
        pid,
        {
            "type": "EligibilityAssessed",
            "effective_date": "2021-03-02",
            "eligible": True,
            "target_group": "duldung",
            "justification": note,
        },
    )
    line = milestone(
        client,
        auth,
        pid,
        {
            "type": "LanguageLevelAssessed",
            "effective_date": "2021-03-02",
            "level": "A2",
            "instrument": "telc\nA2",
        },
    )
    history = client.get(f"/participants/{pid}/history", headers=auth()).json()["events"]

    assert free.status_code == 201, free.text
    assert history[1]["data"]["justification"] == note
    assert line.status_code == 422
    assert line.json()["field"] == "instrument"


# ------------------------------------------------------------------ strict types


@pytest.mark.parametrize("minutes", [True, "10", 10.5])
def test_minutes_must_be_a_whole_json_number(client: TestClient, auth: Auth, minutes: Any) -> None:
    pid = enrolled(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "CoachingContactLogged",
            "effective_date": "2021-04-01",
            "minutes": minutes,
            "mode": "in_person",
        },
    )

    assert response.status_code == 422
    assert response.json()["field"] == "minutes"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "CourseAttendanceRecorded", "module": "F4", "lesson_hours": "4"}, "lesson_hours"),
        (
            {"type": "CourseAttendanceRecorded", "module": "F4", "lesson_hours": True},
            "lesson_hours",
        ),
        (
            {
                "type": "CoachingContactLogged",
                "minutes": 5,
                "mode": "phone",
                "confirmed_by_participant": "true",
            },
            "confirmed_by_participant",
        ),
        (
            {
                "type": "CoachingContactLogged",
                "minutes": 5,
                "mode": "phone",
                "confirmed_by_participant": 1,
            },
            "confirmed_by_participant",
        ),
    ],
)
def test_numbers_and_booleans_are_not_coerced_from_strings_or_each_other(
    client: TestClient, auth: Auth, body: dict[str, Any], field: str
) -> None:
    pid = enrolled(client, auth)

    response = milestone(client, auth, pid, {"effective_date": "2021-04-01", **body})

    assert response.status_code == 422
    assert response.json()["field"] == field


def test_numbers_as_json_numbers_still_work(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "CourseAttendanceRecorded",
            "effective_date": "2021-04-01",
            "module": "F4",
            "lesson_hours": 4.5,
            "lesson_hours_attended": 3,
        },
    )

    assert response.status_code == 201, response.text


# ------------------------------------------------------------- plausible dates


@pytest.mark.parametrize(
    ("field", "value"),
    [("intake_date", "0001-01-01"), ("intake_date", "1999-01-01"), ("birth_date", "0001-01-01")],
)
def test_registration_in_year_one_is_422_date_implausible(
    client: TestClient, auth: Auth, runtime: Runtime, field: str, value: str
) -> None:
    before = event_count(runtime)

    response = client.post(
        "/participants",
        json=registration(**{field: value}, age_exception_reason="Ausnahme"),
        headers=auth(),
    )

    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["rule"] == "date-implausible"
    assert event_count(runtime) == before


def test_milestone_in_year_one_is_422_date_implausible(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "ModuleExited",
            "effective_date": "0001-01-01",
            "module": "F4",
            "reason": "completed",
        },
    )

    assert response.status_code == 422
    assert response.json()["field"] == "effective_date"
    assert response.json()["rule"] == "date-implausible"


def test_permit_valid_until_year_9999_is_422(client: TestClient, auth: Auth) -> None:
    pid = enrolled(client, auth)

    response = milestone(
        client,
        auth,
        pid,
        {
            "type": "ResidenceStatusChanged",
            "effective_date": "2021-04-01",
            "status": "duldung",
            "valid_until": "9999-12-31",
        },
    )

    assert response.status_code == 422
    assert response.json()["field"] == "valid_until"


# ------------------------------------------------------- nothing sent is echoed


@dataclass
class Probe:
    """One request carrying a canary, and where the canary was put."""

    label: str
    method: str
    path: str
    canary: str
    role: tuple[str, str] = ("caseworker", "caritas-ahlen")
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


_serial = itertools.count(1)


def canaries() -> tuple[str, ...]:
    """Fresh canaries for one place: mixed case, lower case (passes id patterns), with NUL.

    Eight characters fit every length limit, so a canary reaches the deeper checks.
    """
    n = next(_serial)
    return (f"Qz{n:03d}kWx", f"qz{n:03d}kwx", f"Qz{n:03d}k\u0000x")


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


#: Valid values for strings the configuration knows (ids and codes).
KNOWN_VALUES = {
    "programme": "durchstarten",
    "provider": "caritas-ahlen",
    "to_provider": "vhs-warendorf",
    "module": "F4",
    "consent_version": "2020-01",
    "language": "de",
    "nationality": "SY",
}


def example(spec: dict[str, Any], name: str, node: dict[str, Any]) -> Any:
    """A valid value for one property, from its JSON schema."""
    node = _resolve(spec, node)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node[key] if _resolve(spec, o).get("type") != "null"]
            return example(spec, name, options[0])
    kind = node.get("type")
    if name in KNOWN_VALUES:
        return KNOWN_VALUES[name]
    if kind == "string":
        return "2021-04-01" if node.get("format") == "date" else "Beispiel"
    if kind == "integer":
        return max(int(node.get("minimum", 1)), 1)
    if kind == "number":
        return max(float(node.get("minimum", 1)), 1.0)
    if kind == "boolean":
        return False
    if kind == "object":
        return {"family_name": "Beispiel"}
    return None


def body_probes(
    spec: dict[str, Any], model: dict[str, Any], label: str
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Bodies of one request schema with a canary in each property, key and nested value."""
    props: dict[str, Any] = model.get("properties", {})
    base = {
        name: example(spec, name, node)
        for name, node in props.items()
        if name in model.get("required", []) or name == "changes"
    }
    if "corrects_version" in props:
        base["corrects_version"] = 1
    for name in props:
        for canary in canaries():
            yield f"{label}.{name}", {**base, name: canary}, canary
    for canary in canaries():
        yield f"{label}.<extra key>", {**base, canary: 1}, canary
    if "changes" in props:
        for canary in canaries():
            yield f"{label}.changes.<key>", {**base, "changes": {canary: "x"}}, canary
            for corrected in ("family_name", "given_name", "birth_date", "gender", "nationality"):
                yield (
                    f"{label}.changes.{corrected}",
                    {**base, "changes": {corrected: canary}},
                    canary,
                )
            yield f"{label}.changes.<list>", {**base, "changes": {"family_name": [canary]}}, canary


#: Valid bodies for probes of a POST's parameters, refused only later by a rule.
POST_BODIES: dict[str, dict[str, Any]] = {
    "/participants": registration(),
    "/participants/{participant_id}/milestones": {
        "type": "ModuleEntered",
        "effective_date": "2021-04-01",
        "module": "F4",
    },
    "/participants/{participant_id}/erasure": {"reason": "other"},
}


def probes(spec: dict[str, Any], pid: str) -> Iterator[Probe]:
    roles = (("caseworker", "caritas-ahlen"), ("admin", "*"), ("auditor", "*"))
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            defaults = {
                p["name"]: pid if p["name"] == "participant_id" else "2021"
                for p in params
                if p.get("required") and p["in"] in ("path", "query")
            }

            def url(values: dict[str, str], path: str = path, params: Any = params) -> str:
                filled = path
                for p in params:
                    if p["in"] == "path":
                        filled = filled.replace("{" + p["name"] + "}", values[p["name"]])
                return filled

            query_defaults = {
                p["name"]: defaults[p["name"]]
                for p in params
                if p["in"] == "query" and p["name"] in defaults
            }
            for p in params:
                for canary, role in itertools.product(canaries(), roles):
                    if "\u0000" in canary and p["in"] != "query":
                        continue  # a NUL cannot travel in a URL path or a header
                    values = {**defaults}
                    probe = Probe(
                        f"{method} {path} {p['in']} {p['name']}", method, "", canary, role
                    )
                    if p["in"] == "path":
                        values[p["name"]] = canary
                    elif p["in"] == "query":
                        probe.params = {**query_defaults, p["name"]: canary}
                    else:
                        probe.headers = {p["name"]: canary}
                    probe.path = url(values)
                    if "requestBody" in op:
                        probe.json = POST_BODIES.get(path, {})
                    yield probe
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if not body:
                continue
            schema = _resolve(spec, body["schema"])
            models = [_resolve(spec, m) for m in schema.get("oneOf", [schema])]
            for model in models:
                label = f"{method} {path} {model.get('title', '')}"
                for where, json_body, canary in body_probes(spec, model, label):
                    yield Probe(where, method, url(defaults), canary, json=json_body)
                tag = {**{k: example(spec, k, v) for k, v in model.get("properties", {}).items()}}
                if "type" in tag:
                    for canary in canaries():
                        yield Probe(
                            f"{label}.type",
                            method,
                            url(defaults),
                            canary,
                            json={**tag, "type": canary},
                        )


def test_no_problem_detail_repeats_a_submitted_value(client: TestClient, auth: Auth) -> None:
    spec = client.get("/openapi.json").json()
    pid = enrolled(client, auth)
    # GETs first: a canary accepted by a POST is legitimately shown by a later read.
    ordered = sorted(probes(spec, pid), key=lambda p: p.method != "get")
    echoed: list[str] = []
    server_errors: list[str] = []

    for probe in ordered:
        headers = {**auth(*probe.role), **probe.headers}
        response = client.request(
            probe.method.upper(),
            probe.path,
            params=probe.params or None,
            json=probe.json,
            headers=headers,
        )
        shown = response.text.casefold()
        # The whole canary anywhere; in a problem detail, also its first five characters
        # (a truncated echo).
        needle = probe.canary.replace("\u0000", "").casefold()
        partial = response.status_code >= 400 and needle[:5] in shown
        if needle in shown or partial:
            echoed.append(f"{probe.label} ({response.status_code})")
        if response.status_code >= 500:
            server_errors.append(f"{probe.label} ({response.status_code})")

    labels = {p.label for p in probes(spec, pid)}
    assert len(ordered) > 500
    for expected in (
        "post /participants ParticipantCreate.given_name",
        "post /participants/{participant_id}/milestones InternshipStartedCreate.occupation",
        "post /participants/{participant_id}/milestones EntryCorrectedCreate.changes.<key>",
        "get /participants/{participant_id} path participant_id",
        "get /reports/monitoring query period",
    ):
        assert expected in labels
    assert echoed == []
    assert server_errors == []
