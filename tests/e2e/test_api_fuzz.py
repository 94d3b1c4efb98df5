"""Property-based fuzzing of the whole OpenAPI contract (schemathesis), on real PostgreSQL.

Every operation the app publishes is exercised with generated requests, valid ones
(positive) and invalid ones (negative), as a case worker and as a coordinator. The
properties: no 5xx, every status code is documented, every content type and body
matches the published schema, and invalid input is rejected.

A generated participant id is almost never a real one, so a share of the cases is
pointed at participants that exist (seeded per run, some in the caller's scope,
some outside it): otherwise the fuzzer would only ever meet the 404 path.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lotse.api.app import create_app
from lotse.api.runtime import Runtime
from tests.builders.api import Auth, registration

#: Bounded so the whole fuzz run stays well under two minutes on two cores; raise it
#: for a deeper hunt (LOTSE_FUZZ_EXAMPLES=500).
EXAMPLES_PER_OPERATION = int(os.environ.get("LOTSE_FUZZ_EXAMPLES", "25"))
#: The same examples on every run of the same code, so that CI does not fail by luck
#: of the draw; LOTSE_FUZZ_RANDOM=1 draws new ones (with more examples: a hunt).
DERANDOMIZE = os.environ.get("LOTSE_FUZZ_RANDOM", "") != "1"

POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Invalid requests must also be refused (4xx), not accepted and stored.
NEGATIVE_CHECKS = [*POSITIVE_CHECKS, negative_data_rejection]

CALLERS = {
    "caseworker": {"role": "caseworker", "org": "caritas-ahlen"},
    "coordinator": {"role": "coordinator", "org": "warendorf"},
}


def seed_participants(app: FastAPI, auth: Auth) -> list[str]:
    """Participants the fuzzer can hit: two of the case worker's provider, one elsewhere."""
    ids = []
    with TestClient(app) as client:
        for provider in ("caritas-ahlen", "caritas-ahlen", "awo-duesseldorf"):
            headers = auth("caseworker", provider)
            response = client.post(
                "/participants", json=registration(provider=provider), headers=headers
            )
            assert response.status_code == 201, response.text
            pid = response.json()["id"]
            for body in (
                {
                    "type": "EligibilityAssessed",
                    "effective_date": "2021-03-02",
                    "eligible": True,
                    "target_group": "duldung",
                },
                {
                    "type": "ConsentGiven",
                    "effective_date": "2021-03-02",
                    "consent_version": "2020-01",
                },
            ):
                answer = client.post(f"/participants/{pid}/milestones", json=body, headers=headers)
                assert answer.status_code == 201, answer.text
            ids.append(pid)
    return ids


#: Values the programme configuration and the calendar accept. Random text almost never
#: names a configured programme or provider, and random dates are mostly in the future
#: or before the intake: half of the valid cases are grounded with these, so the
#: fuzzer also reaches the journey rules and the success paths, not only the 422s.
GROUNDED = {
    "programme": "durchstarten",
    "provider": "caritas-ahlen",
    "to_provider": "vhs-warendorf",
    "intake_date": "2021-03-01",
    "birth_date": "2001-05-17",
    "effective_date": "2021-06-01",
    "consent_version": "2020-01",
}
MODULES = ("F1", "F2", "F3", "F4")


def ground(body: dict[str, Any], pick: int) -> None:
    for name, value in GROUNDED.items():
        if name in body:
            body[name] = value
    if "module" in body:
        body["module"] = MODULES[pick % len(MODULES)]
    if "corrects_version" in body:
        body["corrects_version"] = 1 + pick % 3


@dataclass
class Fuzzing:
    """One pass over the API: who calls, which mode, what it saw."""

    app: FastAPI
    authorization: dict[str, str]
    known_ids: list[str]
    mode: GenerationMode
    #: Status codes answered per operation: shows the fuzzer got past
    #: authentication and validation into the domain.
    seen: dict[str, Counter[int]] = field(default_factory=dict)

    @property
    def positive(self) -> bool:
        return self.mode == GenerationMode.POSITIVE

    def run(self) -> list[str]:
        """Fuzz every published operation; return those that failed, with the reason."""
        schema = schemathesis.openapi.from_asgi("/openapi.json", self.app)
        operations = []
        for result in schema.get_all_operations():
            # A part of the schema that does not load is a failure, not a skip.
            assert isinstance(result, Ok), f"invalid schema: {result.err()}"
            operations.append(result.ok())
        assert operations, "the schema publishes no operations"
        failures = [self.fuzz(operation) for operation in operations]
        return [f for f in failures if f]

    def headers_for(self, case: Any) -> dict[str, str] | None:
        """The caller's token, unless the case negates the headers on purpose.

        A negative case may drop or spoil ``Authorization`` itself; adding the valid
        token back would turn it into a valid request and a false finding.
        """
        meta = case.meta
        headers = meta.components.get(ParameterLocation.HEADER) if meta is not None else None
        if headers is not None and headers.mode.is_negative:
            return None
        return self.authorization

    def fuzz(self, operation: Any) -> str | None:
        checks = POSITIVE_CHECKS if self.positive else NEGATIVE_CHECKS
        seen = self.seen.setdefault(operation.label, Counter())

        @given(case=operation.as_strategy(generation_mode=self.mode), pick=st.integers(0, 5))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=DERANDOMIZE,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any, pick: int) -> None:
            # Point most valid cases at a real participant, keep some random ids;
            # negative cases keep their deliberately invalid ones.
            params = case.path_parameters or {}
            if self.positive and "participant_id" in params and pick < len(self.known_ids):
                params["participant_id"] = self.known_ids[pick]
            if self.positive and pick % 2 == 0 and isinstance(case.body, dict):
                ground(case.body, pick)
            response = case.call_and_validate(headers=self.headers_for(case), checks=checks)
            seen[response.status_code] += 1

        try:
            exercise()
        except FailureGroup as e:
            return f"{operation.label}: {e}"
        except Unsatisfiable:
            # Nothing to negate: the operation takes no parameters and no body.
            assert not self.positive, operation.label
        return None


@pytest.mark.slow
@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation_answers_within_its_published_contract(
    runtime: Runtime, auth: Auth, caller: str, mode: GenerationMode
) -> None:
    app = create_app(runtime=runtime)
    known_ids = seed_participants(app, auth)
    authorization = auth(**CALLERS[caller])

    fuzzing = Fuzzing(app, authorization, known_ids, mode)

    failures = fuzzing.run()

    assert not failures, "\n\n".join(failures)
    if mode == GenerationMode.POSITIVE:
        # The fuzzer got past authentication and validation to real participants.
        answered = fuzzing.seen["GET /participants/{participant_id}/history"]
        assert any(200 <= status < 300 for status in answered), dict(answered)
