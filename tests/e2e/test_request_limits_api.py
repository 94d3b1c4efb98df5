"""Request bodies: authenticated before they are read, limited in size, strict JSON."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from tests.builders.api import Auth, registration

PROBLEM = "application/problem+json"
LIMIT = 16 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, max_body_bytes=LIMIT)


@dataclass
class AsgiResult:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks_read: int = 0
    bytes_read: int = 0


def call_asgi(
    runtime: Runtime,
    path: str,
    headers: dict[str, str],
    chunks: list[bytes],
    *,
    content_length: bool = False,
) -> AsgiResult:
    """POST ``chunks`` to the real app at the ASGI level, counting what it reads."""
    app = create_app(runtime=runtime)
    result = AsgiResult()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if content_length:
        raw_headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    else:
        raw_headers.append((b"transfer-encoding", b"chunked"))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *raw_headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict[str, Any]:
        if result.chunks_read < len(chunks):
            chunk = chunks[result.chunks_read]
            result.chunks_read += 1
            result.bytes_read += len(chunk)
            return {
                "type": "http.request",
                "body": chunk,
                "more_body": result.chunks_read < len(chunks),
            }
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            result.status = message["status"]
            result.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            result.body += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return result


def big_chunks(total: int, size: int = 4096) -> list[bytes]:
    return [b" " * size for _ in range(total // size)]


# ------------------------------------------------------- authenticate first


def test_unauthenticated_malformed_body_is_401_not_422(client: TestClient) -> None:
    response = client.post(
        "/participants", content=b'{"programme": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_forged_token_with_a_body_is_401(client: TestClient) -> None:
    response = client.post(
        "/participants", json=registration(), headers={"Authorization": "Bearer abc.def.ghi"}
    )

    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token is invalid or expired"


def test_unauthenticated_body_is_refused_before_any_of_it_is_read(runtime: Runtime) -> None:
    chunks = big_chunks(10 * LIMIT)

    result = call_asgi(runtime, "/participants", {}, chunks)

    assert result.status == 401
    assert result.headers["www-authenticate"] == "Bearer"
    assert result.chunks_read == 0


def test_unauthenticated_body_with_a_length_above_the_limit_is_401(runtime: Runtime) -> None:
    result = call_asgi(runtime, "/participants", {}, big_chunks(4 * LIMIT), content_length=True)

    assert result.status == 401
    assert result.chunks_read == 0


def test_public_routes_need_no_token(client: TestClient) -> None:
    assert client.get("/programmes").status_code == 200
    assert client.get("/organisations").status_code == 200


# ------------------------------------------------------------------ the limit


def test_body_above_the_limit_is_413_by_content_length_unread(runtime: Runtime, auth: Auth) -> None:
    result = call_asgi(runtime, "/participants", auth(), big_chunks(4 * LIMIT), content_length=True)

    assert result.status == 413
    assert result.headers["content-type"] == PROBLEM
    assert json.loads(result.body)["rule"] == "body-too-large"
    assert result.chunks_read == 0


def test_chunked_body_above_the_limit_is_413_and_reading_stops_there(
    runtime: Runtime, auth: Auth
) -> None:
    chunks = big_chunks(100 * LIMIT)

    result = call_asgi(runtime, "/participants", auth(), chunks)

    assert result.status == 413
    assert json.loads(result.body)["rule"] == "body-too-large"
    assert result.bytes_read <= LIMIT + 4096
    assert result.chunks_read < len(chunks)


def test_body_above_the_limit_is_413_over_http(client: TestClient, auth: Auth) -> None:
    body = registration(given_name="A" * (2 * LIMIT))

    response = client.post("/participants", json=body, headers=auth())

    assert response.status_code == 413
    assert response.json()["rule"] == "body-too-large"


def test_body_within_the_limit_is_recorded(client: TestClient, auth: Auth) -> None:
    response = client.post("/participants", json=registration(), headers=auth())

    assert response.status_code == 201


def test_chunked_body_within_the_limit_is_recorded(runtime: Runtime, auth: Auth) -> None:
    encoded = json.dumps(registration()).encode()
    chunks = [encoded[:10], encoded[10:]]

    result = call_asgi(runtime, "/participants", auth(), chunks)

    assert result.status == 201, result.body


# ----------------------------------------------------------------- strict JSON


def test_duplicate_json_key_is_refused_and_nothing_is_recorded(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    text = json.dumps(registration())[:-1] + ', "given_name": "Other"}'

    response = client.post(
        "/participants",
        content=text.encode(),
        headers={**auth(), "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["rule"] == "duplicate-key"
    assert "Other" not in response.text
    assert runtime.journeys.recorder.max_notification_id() in (None, 0)


def test_duplicate_key_in_a_nested_object_is_refused(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    pid = client.post("/participants", json=registration(), headers=auth()).json()["id"]
    text = (
        '{"type": "EntryCorrected", "effective_date": "2021-03-02", "corrects_version": 1,'
        ' "reason": "typo", "changes": {"given_name": "A", "given_name": "B"}}'
    )

    response = client.post(
        f"/participants/{pid}/milestones",
        content=text.encode(),
        headers={**auth(), "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["rule"] == "duplicate-key"


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_body_that_is_not_utf8_is_refused(
    client: TestClient, auth: Auth, runtime: Runtime, encoding: str
) -> None:
    text = json.dumps(registration(given_name="Jürgen"), ensure_ascii=False)

    response = client.post(
        "/participants",
        content=text.encode(encoding),
        headers={**auth(), "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["rule"] == "invalid-encoding"
    assert runtime.journeys.recorder.max_notification_id() in (None, 0)


def test_malformed_json_with_a_token_still_names_the_problem(
    client: TestClient, auth: Auth
) -> None:
    response = client.post(
        "/participants",
        content=b'{"programme": ',
        headers={**auth(), "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


# ------------------------------------------------------------------ access log


@pytest.mark.parametrize(
    "path",
    [
        "/participants/x%0AINFO%20lotse.access%20GET%20/forged%20200",
        "/participants/x%0D%0Aforged",
        "/participants/x%1B%5B31mred%E2%80%A8forged%C2%85next",
    ],
)
def test_a_newline_in_the_url_cannot_forge_an_access_log_line(
    client: TestClient, auth: Auth, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.INFO, logger="lotse.access")

    client.get(path + "?q=Haidari", headers=auth())

    lines = [r.getMessage() for r in caplog.records if r.name == "lotse.access"]
    assert len(lines) == 1
    line = lines[0]
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in line)
    assert "\u2028" not in line
    assert "forged" in line  # kept, but escaped inside one field
    assert json.loads(line)["path"].startswith("/participants/x")
    assert "Haidari" not in line


def test_a_role_that_may_not_write_gets_403_before_the_body_is_checked(
    client: TestClient, auth: Auth
) -> None:
    text = json.dumps(registration())[:-1] + ', "given_name": "Other"}'

    response = client.post(
        "/participants",
        content=text.encode(),
        headers={**auth("funder", "*"), "Content-Type": "application/json"},
    )

    assert response.status_code == 403


def test_a_refused_body_request_is_in_the_read_access_log(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    pid = client.post("/participants", json=registration(), headers=auth()).json()["id"]

    response = client.post(
        f"/participants/{pid}/milestones",
        content=b'{"type": ',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 401
    assert runtime.access_log is not None
    entries = runtime.access_log.entries_for(UUID(pid))
    assert [(e["outcome"], e["endpoint"]) for e in entries] == [
        (401, "POST /participants/{participant_id}/milestones")
    ]
