"""Bulk import against real PostgreSQL: ``lotse import`` and ``POST /imports``.

A provider's file is checked in a dry run (nothing written), imported, imported
again (nothing doubled), and a changed row is reported, not applied. Each bad
input of the issue gives a report line naming row and column, or a refusal of
the whole file, and nothing half-written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from lotse.api.app import create_app
from lotse.api.cli import main
from lotse.api.runtime import Runtime
from lotse.api.settings import Settings
from lotse.storage.checkpoints import new_signing_key_text
from tests.builders.imports import (
    milestone_rows,
    participant_row,
    report_rows,
    write_csv,
    write_xlsx,
)


@pytest.fixture
def api(
    settings: Settings,
    database_url: str,
    runtime: Runtime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    """The API, and the CLI on the same database."""
    for name, value in (
        ("DATABASE_URL", database_url),
        ("LOTSE_SECRET_KEY", settings.secret_key),
        ("LOTSE_MASTER_KEY", settings.master_key),
        ("LOTSE_AUDIT_SIGNING_KEY", settings.audit_signing_key or new_signing_key_text()),
        ("LOTSE_DATA_DIR", str(tmp_path)),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LOTSE_CONFIG", raising=False)
    with TestClient(create_app(runtime=runtime)) as client:
        yield client


def events(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM lotse_events").fetchone()
    assert row is not None
    return int(row[0])


def participants_written(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM lotse_events WHERE topic LIKE %s", ("%Registered%",)
        ).fetchone()
    assert row is not None
    return int(row[0])


def cli(*args: str) -> int:
    return main(["import", *args])


def refused(report: Path) -> list[dict[str, Any]]:
    return [r for r in report_rows(report.read_bytes()) if r["Ergebnis"] == "abgelehnt"]


def test_dry_run_fix_import_and_import_again(
    api: TestClient, database_url: str, tmp_path: Path
) -> None:
    bad = participant_row("B-2", Geburtsdatum="31.02.2001")  # no such day
    rows = [participant_row("A-1"), bad]
    file = write_xlsx(tmp_path / "liste.xlsx", rows, milestone_rows("A-1") + milestone_rows("B-2"))
    report = tmp_path / "bericht.xlsx"

    assert cli(str(file), "--provider", "caritas-ahlen", "--dry-run", "--report", str(report)) == 1
    assert events(database_url) == 0
    lines = refused(report)
    assert {(line["Blatt"], line["Zeile"]) for line in lines} == {
        ("Teilnehmende", 3),
        ("Meilensteine", 5),
        ("Meilensteine", 6),
        ("Meilensteine", 7),
    }
    own = next(line for line in lines if line["Zeile"] == 3)
    assert own["Spalte"] == "Geburtsdatum"
    assert "Datum" in own["Grund"]

    fixed = write_xlsx(
        tmp_path / "liste.xlsx",
        [participant_row("A-1"), participant_row("B-2")],
        milestone_rows("A-1") + milestone_rows("B-2"),
    )
    assert cli(str(fixed), "--provider", "caritas-ahlen", "--report", str(report)) == 0
    written = events(database_url)
    assert participants_written(database_url) == 2
    assert written == 2 * 4

    assert cli(str(fixed), "--provider", "caritas-ahlen", "--report", str(report)) == 0
    assert events(database_url) == written
    assert {r["Ergebnis"] for r in report_rows(report.read_bytes())} == {
        "übersprungen (bereits importiert)"
    }

    changed = milestone_rows("A-1")
    changed[2]["Förderbaustein"] = "F2"
    again = write_xlsx(tmp_path / "liste2.xlsx", [participant_row("A-1")], changed)
    assert cli(str(again), "--provider", "caritas-ahlen", "--report", str(report)) == 1
    assert events(database_url) == written
    assert [(r["Blatt"], r["Zeile"]) for r in refused(report)] == [("Meilensteine", 4)]


def test_csv_in_windows_1252_with_semicolons_and_umlauts(
    api: TestClient, database_url: str, tmp_path: Path, auth: Any
) -> None:
    people, steps = write_csv(
        tmp_path, [participant_row("Ö-1")], milestone_rows("Ö-1"), encoding="cp1252"
    )
    assert cli(str(people), str(steps), "--provider", "caritas-ahlen") == 0
    assert participants_written(database_url) == 1
    listed = api.get("/participants", params={"q": "Weiß"}, headers=auth())
    assert listed.status_code == 200


def test_bad_rows_are_reported_by_row_and_column(
    api: TestClient, database_url: str, tmp_path: Path
) -> None:
    future = (date.today() + timedelta(days=30)).strftime("%d.%m.%Y")
    steps = milestone_rows("OK") + milestone_rows("DUP") + [milestone_rows("DUP")[0]]
    steps += milestone_rows("FUT")
    steps[-1]["Datum"] = future
    steps += milestone_rows("CTL")
    steps[-1]["Förderbaustein"] = "\u202eF1"  # a bidi override: XLSX cannot hold \x07
    steps += milestone_rows("FORM")
    rows = [
        participant_row("OK"),
        participant_row("OTHER", **{"Träger": "vhs-warendorf"}),
        participant_row("DUP"),
        participant_row("FUT"),
        participant_row("CTL"),
        participant_row("FORM", Vorname='=HYPERLINK("http://x")'),
    ]
    file = write_xlsx(tmp_path / "liste.xlsx", rows, steps)
    report = tmp_path / "bericht.xlsx"
    assert cli(str(file), "--provider", "caritas-ahlen", "--report", str(report)) == 1
    assert participants_written(database_url) == 1  # only OK; nothing of the others
    lines = refused(report)
    reasons = {(r["Referenz"], r["Spalte"]): r["Grund"] for r in lines if r["Spalte"]}
    assert "anderen Träger" in reasons[("OTHER", "Träger")]
    assert "Formeln" in reasons[("FORM", "Vorname")]
    assert "Steuerzeichen" in reasons[("CTL", "Förderbaustein")]
    assert "Zukunft" in reasons[("FUT", "Datum")]
    assert any("Doppelte Zeile" in r["Grund"] for r in lines if r["Referenz"] == "DUP")
    # The report never repeats a cell's value, so the formula is nowhere in it.
    assert not any(
        "HYPERLINK" in str(v) for r in report_rows(report.read_bytes()) for v in r.values()
    )


def test_control_characters_in_a_csv_cell_are_refused(
    api: TestClient, database_url: str, tmp_path: Path
) -> None:
    steps = milestone_rows("C\x01-1")
    steps[2]["Förderbaustein"] = "F\x071"
    people, steps_file = write_csv(tmp_path, [participant_row("C\x01-1")], steps)
    report = tmp_path / "bericht.xlsx"
    assert (
        cli(str(people), str(steps_file), "--provider", "caritas-ahlen", "--report", str(report))
        == 1
    )
    assert events(database_url) == 0
    lines = refused(report)
    assert ("Meilensteine", 4, "Förderbaustein") in {
        (r["Blatt"], r["Zeile"], r["Spalte"]) for r in lines
    }
    assert {r["Referenz"] for r in lines} == {"C\ufffd-1"}


def test_a_file_that_is_not_a_spreadsheet_exits_2(
    api: TestClient, database_url: str, tmp_path: Path
) -> None:
    png = tmp_path / "bild.xlsx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    assert cli(str(png), "--provider", "caritas-ahlen") == 2
    broken_zip = tmp_path / "kaputt.xlsx"
    broken_zip.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    assert cli(str(broken_zip), "--provider", "caritas-ahlen") == 2
    assert events(database_url) == 0


def test_a_file_above_the_limit_is_refused_before_it_is_read(
    api: TestClient, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOTSE_MAX_IMPORT_BYTES", str(1024 * 1024))
    big = tmp_path / "gross.csv"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: 50 MB without writing them
    assert cli(str(big), "--provider", "caritas-ahlen") == 2
    assert events(database_url) == 0


def test_ten_thousand_rows_one_bad(api: TestClient, database_url: str, tmp_path: Path) -> None:
    people = [participant_row(f"P-{n}") for n in range(1000)]
    steps = [s for n in range(1000) for s in milestone_rows(f"P-{n}", contacts=6)]
    steps[4500]["Dauer in Minuten"] = "viel"
    bad_reference = steps[4500]["Referenz"]
    assert len(people) + len(steps) == 10_000
    file = write_xlsx(tmp_path / "gross.xlsx", people, steps)
    report = tmp_path / "bericht.xlsx"
    assert cli(str(file), "--provider", "caritas-ahlen", "--report", str(report)) == 1
    assert participants_written(database_url) == 999
    assert events(database_url) == 999 * 10
    lines = [r for r in refused(report) if r["Spalte"]]
    assert [(r["Referenz"], r["Zeile"], r["Spalte"]) for r in lines] == [
        (bad_reference, 4502, "Dauer in Minuten")
    ]


def wait_done(client: TestClient, location: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(600):
        found = client.get(location, headers=headers)
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        if body["state"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_upload_progress_and_report_are_the_providers(
    api: TestClient, database_url: str, tmp_path: Path, auth: Any
) -> None:
    file = write_xlsx(
        tmp_path / "liste.xlsx",
        [participant_row("A-1"), participant_row("A-2", Aufnahmedatum="gestern")],
        milestone_rows("A-1") + milestone_rows("A-2"),
    )
    with file.open("rb") as f:
        started = api.post("/imports", files={"file": ("liste.xlsx", f)}, headers=auth())
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    done = wait_done(api, location, auth())
    assert done["state"] == "done"
    assert (done["rows_total"], done["rows_done"]) == (8, 8)
    assert (done["written"], done["refused"], done["participants_written"]) == (4, 4, 1)

    report = api.get(f"{location}/report", headers=auth())
    assert report.status_code == 200
    lines = report_rows(report.content)
    assert ("A-2", "Aufnahmedatum") in {(r["Referenz"], r["Spalte"]) for r in lines}

    # The provider's people read it; another provider's get 404, other roles 403.
    colleague = auth("caseworker", "caritas-ahlen", user="colleague")
    assert api.get(location, headers=colleague).status_code == 200
    assert api.get(location, headers=auth(org="vhs-warendorf")).status_code == 404
    assert api.get(f"{location}/report", headers=auth(org="vhs-warendorf")).status_code == 404
    assert api.get(location, headers=auth("coordinator", "warendorf")).status_code == 403


def test_upload_for_another_provider_is_refused(api: TestClient, tmp_path: Path, auth: Any) -> None:
    file = write_xlsx(tmp_path / "liste.xlsx", [participant_row("A-1")])
    with file.open("rb") as f:
        response = api.post(
            "/imports",
            files={"file": ("liste.xlsx", f)},
            data={"provider": "vhs-warendorf"},
            headers=auth(),
        )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_an_upload_above_the_limit_gets_413(
    api: TestClient, runtime: Runtime, auth: Any, database_url: str
) -> None:
    limit = runtime.settings.max_import_bytes
    body = b"x" * (limit + 1)
    response = api.post("/imports", files={"file": ("gross.csv", body)}, headers=auth())
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert events(database_url) == 0


@pytest.mark.parametrize(
    ("name", "content", "rule"),
    [
        ("x.xlsx", b"%PDF-1.4\n\x00\x01", "import-file-unreadable"),
        # What the fuzz test sent: one line, no column of the template.
        ("file", b"-234", "import-file-columns"),
        ("liste.csv", b"Referenz;Lieblingsfarbe\nA-1;blau\n", "import-file-columns"),
    ],
)
def test_an_upload_that_is_no_import_is_refused_at_once_with_a_german_reason(
    api: TestClient, auth: Any, database_url: str, name: str, content: bytes, rule: str
) -> None:
    response = api.post("/imports", files={"file": (name, content)}, headers=auth())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["rule"] == rule
    assert body["field"] == "file"
    assert body["errors"][0]["message"]  # the German reason: which sheet or column
    assert events(database_url) == 0
    # No run was started that would have to be polled to learn the file was wrong.
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM lotse_imports").fetchone()
    assert row is not None
    assert row[0] == 0


def test_templates(api: TestClient, tmp_path: Path) -> None:
    xlsx = api.get("/imports/template", params={"format": "xlsx"})
    assert xlsx.status_code == 200
    csv_ = api.get("/imports/template", params={"format": "csv", "sheet": "meilensteine"})
    assert csv_.content.startswith("\ufeffReferenz;Art;Datum".encode())
    assert cli("template", "--format", "csv", "--out", str(tmp_path)) == 0
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        "lotse-import-meilensteine.csv",
        "lotse-import-teilnehmende.csv",
    ]
    # The template's example rows import as they are.
    people, steps = (
        tmp_path / "lotse-import-teilnehmende.csv",
        tmp_path / "lotse-import-meilensteine.csv",
    )
    assert cli(str(people), str(steps), "--provider", "caritas-ahlen", "--dry-run") == 0
