"""Funders cannot single anyone out: published releases, replay jobs, the chain's record.

Against real PostgreSQL through the HTTP API. Releases are cut off by the time an
event was *recorded*, so these tests set the library's recording clock
(``recorded_on``) to days in 2021 while they write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.domain.participant import Participant
from lotse.reports.formats import provenance_rows
from tests.builders.api import Auth
from tests.builders.reports import Script, head, pick, rows_of

W = "Kreis Warendorf"
RecordedOn = Callable[[str], None]


@pytest.fixture
def recorded_on(monkeypatch: pytest.MonkeyPatch) -> RecordedOn:
    """Set the day on which the next events are recorded (noon UTC)."""

    def set_day(day: str) -> None:
        moment = datetime.fromisoformat(f"{day}T12:00:00+00:00").astimezone(UTC)
        monkeypatch.setattr("eventsourcing.domain.datetime_now_with_tzinfo", lambda: moment)

    return set_day


def enrol(
    runtime: Runtime,
    count: int,
    *,
    intake: str,
    entered: str,
    gender: str = "female",
    age: int = 19,
    nationality: str = "SY",
    status: str = "duldung",
    exit_on: str | None = None,
) -> list[Participant]:
    """``count`` people of caritas-ahlen (Warendorf) entering F4, saved."""
    s = Script(runtime)
    people = []
    for _ in range(count):
        p = s.person("caritas-ahlen", intake, gender, age, nationality, status)
        s.enter(p, "F4", entered)
        if exit_on is not None:
            s.leave(p, "F4", exit_on, "completed")
        runtime.journeys.save(p)
        people.append(p)
    return people


def publish(
    client: TestClient, headers: dict[str, str], period: str, **body: Any
) -> dict[str, Any]:
    response = client.post(
        "/reports/releases",
        json={"report": "monitoring", "period": period, **body},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"].startswith("/reports/releases/")
    result: dict[str, Any] = response.json()
    return result


def counts_of(document: dict[str, Any]) -> list[int]:
    """Every published person count of the monitoring tables."""
    found = []
    for row in rows_of(document, "quartale"):
        found += [
            v
            for k, v in row.items()
            if (k in ("entries", "exits", "stock", "cumulative_entries") or k.startswith("exits_"))
        ]
    found += [r["count"] for r in rows_of(document, "merkmale")]
    return found


# ------------------------------------------------------------- funders


def test_funders_get_403_on_ad_hoc_reports_positions_runs_and_change_lists(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    enrol(runtime, 4, intake="2021-02-01", entered="2021-02-02")
    funder = auth("funder", "*")
    run = client.get(
        "/reports/monitoring",
        params={"period": "2021-Q1", "min_position": head(runtime)},
        headers=auth("admin", "*"),
    ).json()
    position = run["run"]["position"]

    responses = {
        "ad-hoc": client.get("/reports/monitoring", params={"period": "2021-Q1"}, headers=funder),
        "outcomes": client.get("/reports/outcomes", params={"period": "2021-Q1"}, headers=funder),
        "position": client.get(
            "/reports/monitoring",
            params={"period": "2021-Q1", "position": position - 1},
            headers=funder,
        ),
        "run": client.get(f"/reports/runs/{run['run']['id']}", headers=funder),
        "changes": client.get(f"/reports/runs/{run['run']['id']}/changes", headers=funder),
        "replay": client.post(
            "/reports/replays", json={"report": "monitoring", "period": "2021-Q1"}, headers=funder
        ),
        "publish": client.post(
            "/reports/releases", json={"report": "monitoring", "period": "2021-Q1"}, headers=funder
        ),
        "publish-invalid": client.post(
            "/reports/releases", json={"report": "nonsense"}, headers=funder
        ),
        "replay-invalid": client.post("/reports/replays", json={"period": 7}, headers=funder),
    }

    statuses = {name: r.status_code for name, r in responses.items()}
    assert statuses == dict.fromkeys(responses, 403)
    for name in ("ad-hoc", "outcomes", "position", "run", "changes"):
        assert responses[name].json()["rule"] == "published-releases-only", name
        assert responses[name].headers["content-type"] == "application/problem+json"


def test_a_funder_reads_a_published_release_in_every_format(
    client: TestClient, auth: Auth, runtime: Runtime, recorded_on: RecordedOn
) -> None:
    recorded_on("2021-04-10")
    enrol(runtime, 6, intake="2021-02-01", entered="2021-02-02")
    cut_off = head(runtime)
    recorded_on("2021-05-05")  # after the cut-off (2021-03-31 + 30 days)
    enrol(runtime, 2, intake="2021-03-01", entered="2021-03-02")
    funder = auth("funder", "*")

    published = publish(
        client, auth("coordinator", "warendorf"), "2021-Q1", municipality="warendorf"
    )
    listed = client.get("/reports/releases", headers=funder).json()
    read = client.get(f"/reports/releases/{published['release']['id']}", headers=funder)
    csv = client.get(
        f"/reports/releases/{published['release']['id']}",
        params={"format": "csv"},
        headers=funder,
    )
    xlsx = client.get(
        f"/reports/releases/{published['release']['id']}",
        params={"format": "xlsx"},
        headers=funder,
    )

    assert [r["id"] for r in listed] == [published["release"]["id"]]
    assert listed[0]["cutoff_date"] == "2021-04-30"
    assert read.status_code == 200
    assert read.json() == published
    assert published["release"]["cutoff_position"] == cut_off
    assert published["run"]["position"] == cut_off
    row = pick(rows_of(published, "quartale"), municipality=W, module="F4", quarter="2021-Q1")
    assert row["entries"] in (5, 10)  # 6 entries, randomly rounded: the late 2 do not count
    assert all(c % 5 == 0 for c in counts_of(published))
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["X-Chain-Verified-To"] == f"{cut_off};verified"
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"


def test_releases_are_published_once_at_due_fixed_cut_offs_by_the_right_roles(
    client: TestClient, auth: Auth, runtime: Runtime, recorded_on: RecordedOn
) -> None:
    recorded_on("2021-04-10")
    enrol(runtime, 3, intake="2021-02-01", entered="2021-02-02")
    coordinator = auth("coordinator", "warendorf")
    publish(client, coordinator, "2021-Q1", municipality="warendorf")

    def post(headers: dict[str, str], **body: Any) -> Any:
        return client.post(
            "/reports/releases", json={"report": "monitoring", **body}, headers=headers
        )

    again = post(coordinator, period="2021-Q1", municipality="warendorf")
    other = post(coordinator, period="2021-Q1", municipality="koeln")
    statewide = post(coordinator, period="2021-Q1")
    caseworker = post(auth("caseworker", "caritas-ahlen"), period="2021-Q1")
    not_due = post(auth("admin", "*"), period=f"{datetime.now(UTC).year + 1}-Q1")
    ad_hoc = post(auth("admin", "*"), period="2021-01-01..2021-02-14")

    assert (again.status_code, again.json()["rule"]) == (409, "release-exists")
    assert (other.status_code, other.json()["rule"]) == (403, "release-publishers-only")
    assert statewide.status_code == 403
    assert caseworker.status_code == 403
    assert (not_due.status_code, not_due.json()["rule"]) == (409, "release-not-due")
    assert (ad_hoc.status_code, ad_hoc.json()["field"]) == (422, "period")


# ----------------------------------------------- the attack from the finding


def test_one_person_added_between_two_release_cut_offs_changes_no_published_cell(
    client: TestClient, auth: Auth, runtime: Runtime, recorded_on: RecordedOn
) -> None:
    # Seven people enter F4 in Warendorf in the first quarter, recorded in time.
    recorded_on("2021-04-10")
    enrol(runtime, 4, intake="2021-02-01", entered="2021-02-02")
    enrol(
        runtime,
        3,
        intake="2021-02-01",
        entered="2021-02-02",
        gender="male",
        age=22,
        nationality="AF",
        status="gestattung",
    )
    coordinator = auth("coordinator", "warendorf")
    first = publish(client, coordinator, "2021-Q1", municipality="warendorf")
    # Exactly one person is added between the two cut-offs: a late entry into the
    # first quarter, with a rare nationality and residence status.
    recorded_on("2021-05-10")
    enrol(
        runtime,
        1,
        intake="2021-03-10",
        entered="2021-03-15",
        age=26,
        nationality="ER",
        status="ausbildungsduldung_60c",
    )
    second = publish(client, coordinator, "2021-H1", municipality="warendorf")
    funder = auth("funder", "*")
    first = client.get(f"/reports/releases/{first['release']['id']}", headers=funder).json()
    second = client.get(f"/reports/releases/{second['release']['id']}", headers=funder).json()

    # The quarter both releases contain: every cell as before.
    def quarter_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in r.items() if k != "reporting_date"}
            for r in rows_of(document, "quartale")
            if r["quarter"] == "2021-Q1"
        ]

    assert first["run"]["position"] < second["run"]["position"] == head(runtime)
    assert quarter_rows(second) == quarter_rows(first)

    # The characteristics: the same rows (no row appears for the new person's
    # nationality or status) and the same published counts.
    def characteristics(document: dict[str, Any]) -> dict[tuple[str, ...], int]:
        result = {}
        for r in rows_of(document, "merkmale"):
            basis = "entries" if r["basis"].startswith("Eintritte") else "stock"
            result[(r["module"], basis, r["dimension"], r["value"])] = r["count"]
        return result

    assert characteristics(second) == characteristics(first)
    assert ("F4", "entries", "Staatsangehörigkeit", "ER") in characteristics(first)
    assert ("F4", "entries", "Aufenthaltsstatus", "ausbildungsduldung_60c") in characteristics(
        first
    )
    # No exact person count is published at all.
    assert all(c % 5 == 0 for c in counts_of(first) + counts_of(second))


# ------------------------------------------------------- the stock identity


def test_the_stock_identity_does_not_give_away_a_suppressed_exit_in_an_ad_hoc_report(
    client: TestClient, auth: Auth, runtime: Runtime
) -> None:
    # Five entries in the quarter, one of them exits: entries 5, exits 1, stock 4,
    # and no stock before the quarter (the programme had just begun here).
    enrol(runtime, 4, intake="2021-01-04", entered="2021-01-05")
    enrol(runtime, 1, intake="2021-01-04", entered="2021-01-05", exit_on="2021-02-20")

    document = client.get(
        "/reports/monitoring",
        params={"period": "2021-Q1", "min_position": head(runtime)},
        headers=auth("coordinator", "warendorf"),
    ).json()

    for module in ("F4", "Gesamt"):
        row = pick(rows_of(document, "quartale"), municipality=W, module=module, quarter="2021-Q1")
        assert row["exits"] is None, module
        # A reader knows the opening stock (0): stock = 0 + entries - exits. Were
        # entries and stock both shown, the hidden exit would be entries - stock.
        assert row["entries"] is None or row["stock"] is None, (module, row)


def test_the_stock_identity_does_not_give_away_an_exit_in_a_release(
    client: TestClient, auth: Auth, runtime: Runtime, recorded_on: RecordedOn
) -> None:
    recorded_on("2021-04-10")
    enrol(runtime, 4, intake="2021-01-04", entered="2021-01-05")
    enrol(runtime, 1, intake="2021-01-04", entered="2021-01-05", exit_on="2021-02-20")

    release = publish(client, auth("admin", "*"), "2021-Q1", municipality="warendorf")

    row = pick(rows_of(release, "quartale"), municipality=W, module="F4", quarter="2021-Q1")
    assert row["entries"] == 5  # a multiple of 5 stays exact
    assert row["stock"] in (0, 5)
    assert row["exits"] in (0, 5)
    # opening stock (0) + entries - stock: a multiple of 5, never the true exit (1)
    assert (row["entries"] - row["stock"]) % 5 == 0


# ------------------------------------------------------------------- replays


def poll(client: TestClient, headers: dict[str, str], location: str) -> dict[str, Any]:
    for _ in range(600):
        job: dict[str, Any] = client.get(location, headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(location)


def test_replays_are_jobs_for_auditors_and_admins_with_a_per_user_limit(
    client: TestClient, auth: Auth, runtime: Runtime, database_url: str
) -> None:
    enrol(runtime, 3, intake="2021-02-01", entered="2021-02-02")
    position = head(runtime)
    body = {"report": "monitoring", "period": "2021-Q1", "position": position}
    caseworker, auditor = auth("caseworker", "caritas-ahlen"), auth("auditor", "*")

    as_caseworker = client.post("/reports/replays", json=body, headers=caseworker)
    position_as_caseworker = client.get(
        "/reports/monitoring", params={"period": "2021-Q1", "position": 1}, headers=caseworker
    )
    started = client.post("/reports/replays", json=body, headers=auditor)
    assert started.status_code == 202, started.text
    job = poll(client, auditor, started.headers["Location"])
    run = client.get(job["run"], headers=auditor).json()

    assert (as_caseworker.status_code, as_caseworker.json()["rule"]) == (
        403,
        "replay-auditors-only",
    )
    assert position_as_caseworker.status_code == 403
    assert job["status"] == "done"
    assert (run["run"]["source"], run["run"]["position"]) == ("replay", position)
    assert run["run"]["chain_verified_to"]["verified"] is True
    assert run["run"]["chain_verified_to"]["from_checkpoint"] is None  # from the first event

    # Hold the jobs at their last step: two may wait, the third is refused.
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE lotse_report_runs IN ACCESS EXCLUSIVE MODE")
        waiting = [client.post("/reports/replays", json=body, headers=auditor) for _ in range(2)]
        refused = client.post("/reports/replays", json=body, headers=auditor)
        other_user = client.post("/reports/replays", json=body, headers=auth("admin", "*"))
        blocker.rollback()
    finished = [poll(client, auditor, r.headers["Location"]) for r in waiting]
    poll(client, auth("admin", "*"), other_user.headers["Location"])

    assert [r.status_code for r in waiting] == [202, 202]
    assert refused.status_code == 429
    assert refused.json()["rule"] == "too-many-jobs"
    assert int(refused.headers["Retry-After"]) > 0
    assert other_user.status_code == 202
    assert [j["status"] for j in finished] == ["done", "done"]


# --------------------------------------------------------------- the chain


def test_runs_and_releases_record_whether_the_chain_verified_to_their_position(
    client: TestClient,
    auth: Auth,
    runtime: Runtime,
    recorded_on: RecordedOn,
    database_url: str,
) -> None:
    recorded_on("2021-04-10")
    enrol(runtime, 3, intake="2021-02-01", entered="2021-02-02")
    admin = auth("admin", "*")
    params = {"period": "2021-Q1", "min_position": head(runtime)}
    intact = client.get("/reports/monitoring", params=params, headers=admin).json()
    release = publish(client, admin, "2021-Q1", municipality="warendorf")
    # An insider rewrites a stored event (the chain row is left as it was).
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # past any row trigger
        conn.execute(
            "UPDATE lotse_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
            " '\"duldung\"', '\"gestattung\"'), 'UTF8') WHERE notification_id = 1"
        )
    tampered = client.get("/reports/monitoring", params=params, headers=admin)
    xlsx = client.get(
        f"/reports/runs/{tampered.json()['run']['id']}", params={"format": "xlsx"}, headers=admin
    )

    chain = intact["run"]["chain_verified_to"]
    assert chain["verified"] is True
    assert chain["verified_to"] == intact["run"]["position"]
    assert release["run"]["chain_verified_to"]["verified"] is True
    assert release["run"]["chain_verified_to"]["verified_to"] == release["run"]["position"]
    broken = tampered.json()["run"]["chain_verified_to"]
    assert broken["verified"] is False
    assert broken["problem"] == {"kind": "chain-mismatch", "position": 1}
    assert broken["verified_to"] == 0
    assert tampered.headers["X-Chain-Verified-To"] == "0;failed;problem=chain-mismatch"
    rows = dict(provenance_rows(tampered.json()))
    assert rows["Hash-Kette geprüft"].startswith("NICHT bestätigt: chain-mismatch")
    assert xlsx.status_code == 200


def test_an_ad_hoc_report_does_not_replay_the_log_when_its_read_model_is_stopped(
    client: TestClient, auth: Auth, runtime: Runtime, database_url: str
) -> None:
    enrol(runtime, 3, intake="2021-02-01", entered="2021-02-02")
    client.get(
        "/reports/monitoring",
        params={"period": "2021-Q1", "min_position": head(runtime)},
        headers=auth("admin", "*"),
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE lotse_projections SET error = 'stopped by the test' "
            "WHERE name = 'module_stays' AND status = 'active'"
        )

    response = client.get(
        "/reports/monitoring",
        params={"period": "2021-Q1"},
        headers=auth("caseworker", "caritas-ahlen"),
    )

    assert response.status_code == 503
    assert response.json()["rule"] == "read-models-unavailable"
    assert int(response.headers["Retry-After"]) > 0


def test_the_cli_publishes_a_release_once_and_lists_it(
    runtime: Runtime,
    settings: Settings,
    recorded_on: RecordedOn,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lotse.api.cli import main
    from lotse.storage.checkpoints import new_signing_key_text

    recorded_on("2021-04-10")
    enrol(runtime, 3, intake="2021-02-01", entered="2021-02-02")
    monkeypatch.setenv("DATABASE_URL", runtime.database.url)
    monkeypatch.setenv("LOTSE_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("LOTSE_MASTER_KEY", settings.master_key)
    monkeypatch.setenv("LOTSE_AUDIT_SIGNING_KEY", new_signing_key_text())
    out = tmp_path / "q1.json"

    published = main(["report", "publish", "monitoring", "--period", "2021-Q1", "-o", str(out)])
    assert published == 0, capsys.readouterr().err
    again = main(["report", "publish", "monitoring", "--period", "2021-Q1"])
    capsys.readouterr()
    listed = main(["report", "releases"])
    lines = capsys.readouterr().out.splitlines()

    assert (published, again, listed) == (0, 2, 0)
    document = json.loads(out.read_text())
    assert document["release"]["cutoff_date"] == "2021-04-30"
    assert document["run"]["chain_verified_to"]["verified"] is True
    assert [json.loads(line)["id"] for line in lines] == [document["release"]["id"]]


def test_an_ad_hoc_run_records_a_long_unverified_tail_as_not_checked_instead_of_waiting(
    client: TestClient, auth: Auth, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(runtime, 3, intake="2021-02-01", entered="2021-02-02")
    monkeypatch.setattr("lotse.reports.integrity.AD_HOC_LIMIT", 5)

    response = client.get(
        "/reports/monitoring",
        params={"period": "2021-Q1", "min_position": head(runtime)},
        headers=auth("admin", "*"),
    )

    chain = response.json()["run"]["chain_verified_to"]
    assert chain["verified"] is None
    assert "since the last signed checkpoint" in chain["skipped"]
    assert response.headers["X-Chain-Verified-To"] == "none;not-checked"
    assert dict(provenance_rows(response.json()))["Hash-Kette geprüft"].startswith("nicht geprüft")


def test_a_municipal_and_the_statewide_release_show_a_municipality_the_same_way(
    client: TestClient, auth: Auth, runtime: Runtime, recorded_on: RecordedOn
) -> None:
    recorded_on("2021-04-10")
    enrol(runtime, 7, intake="2021-02-01", entered="2021-02-02")
    enrol(runtime, 3, intake="2021-02-01", entered="2021-02-02", exit_on="2021-03-20")

    statewide = publish(client, auth("admin", "*"), "2021-Q1")
    municipal = publish(
        client, auth("coordinator", "warendorf"), "2021-Q1", municipality="warendorf"
    )

    def warendorf(document: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in rows_of(document, "quartale") if r["municipality"] == W]

    assert warendorf(statewide) == warendorf(municipal)
    assert statewide["run"]["position"] == municipal["run"]["position"]
