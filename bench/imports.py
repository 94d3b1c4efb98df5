"""Issue 14 benchmark: the bulk import against the same rows posted through the HTTP API.

    python3 dev.py bench bench/imports.py                    # 10,000 participants
    python3 dev.py bench bench/imports.py --participants 2000 --small 500

In one run, on one throw-away database:

(a) ``lotse import FILE --provider P`` (a subprocess, the real command) of an XLSX
    with N participants and 20 milestones each (``--participants``, default 10,000:
    200,000 milestones): rows/s, where a row is one line of either sheet.
(b) the same kind of rows posted through the HTTP API (``lotse serve``, 2 workers) by
    16 concurrent keep-alive clients: each client registers a participant and posts
    its 20 milestones, then takes the next. ``--http-participants`` of them (default
    800), since the rate, not the total, is compared. Target: (a)/(b) >= 3.
(c) peak memory of the import command at two file sizes (``--small`` and N
    participants): the child's peak RSS (``ru_maxrss``) and the importer's
    tracemalloc peak. Flat in the file's size means the two are about equal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ROOT,
    Secrets,
    bench_database,
    lotse_server,
    machine,
    markdown_table,
    write_results,
)
from bench.http_client import KeepAliveClient
from lotse.api.tokens import create_token
from lotse.domain.access import Principal, Role

RATIO_TARGET = 3.0
MILESTONES_PER_PARTICIPANT = 20
PROVIDER = "caritas-ahlen"


def _day(n: int) -> str:
    """A day in 2021 after the intake (1 March), as German text."""
    month, day = divmod(n, 28)
    return f"{day + 1:02d}.{4 + month % 9:02d}.2021"


def _json_day(n: int) -> str:
    month, day = divmod(n, 28)
    return f"2021-{4 + month % 9:02d}-{day + 1:02d}"


def participant_cells(i: int, prefix: str) -> list[Any]:
    return [
        f"{prefix}-{i}", "durchstarten", PROVIDER, "01.03.2021", f"Jürgen {i}", "Weiß",
        "17.05.2001", "männlich", "Syrien", "duldung", None, None,
    ]  # fmt: skip


def milestone_dicts(i: int, prefix: str) -> list[dict[str, Any]]:
    """The 20 milestones of a participant, by German header."""
    ref = f"{prefix}-{i}"
    rows: list[dict[str, Any]] = [
        {"Referenz": ref, "Art": "EligibilityAssessed", "Datum": "02.03.2021",
         "förderberechtigt": "ja", "Zielgruppe": "duldung"},
        {"Referenz": ref, "Art": "ConsentGiven", "Datum": "02.03.2021",
         "Fassung der Einwilligung": "2020-01"},
        {"Referenz": ref, "Art": "ModuleEntered", "Datum": "03.03.2021", "Förderbaustein": "F1"},
    ]  # fmt: skip
    for n in range(MILESTONES_PER_PARTICIPANT - len(rows)):
        rows.append(
            {
                "Referenz": ref,
                "Art": "CoachingContactLogged",
                "Datum": _day(n * 7 % 200),
                "Dauer in Minuten": 30 + n,
                "Art des Kontakts": "in_person",
            }
        )
    return rows


def write_file(path: Path, participants: int, prefix: str) -> int:
    """The XLSX a provider would send; the number of rows in it."""
    import openpyxl

    from lotse.api.import_rows import milestone_headers, participant_headers

    book = openpyxl.Workbook(write_only=True)
    people = book.create_sheet("Teilnehmende")
    people.append(participant_headers())
    for i in range(participants):
        people.append(participant_cells(i, prefix))
    steps = book.create_sheet("Meilensteine")
    headers = milestone_headers()
    steps.append(headers)
    for i in range(participants):
        for row in milestone_dicts(i, prefix):
            steps.append([row.get(h) for h in headers])
    book.save(path)
    return participants * (1 + MILESTONES_PER_PARTICIPANT)


# ------------------------------------------------------------ (a), (c) the command


def child(file: str) -> int:
    """Run ``lotse import`` in this process; print its time and peak memory as JSON."""
    from lotse.api.cli import main

    traced = os.environ.get("LOTSE_BENCH_TRACEMALLOC") == "1"
    if traced:
        tracemalloc.start()  # costs about half the speed: only when asked for
    started = time.perf_counter()
    code = main(["import", file, "--provider", PROVIDER, "--report", file + ".bericht.xlsx"])
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    print(
        json.dumps(
            {
                "exit_code": code,
                "seconds": seconds,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "tracemalloc_peak_mb": peak / 2**20 if traced else None,
            }
        )
    )
    return 0


def run_import(
    database_url: str, keys: Secrets, file: Path, *, traced: bool = False
) -> dict[str, Any]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOTSE_SECRET_KEY": keys.token_secret,
        "LOTSE_MASTER_KEY": keys.master_key,
        "LOTSE_AUDIT_SIGNING_KEY": keys.audit_signing_key,
        "LOTSE_DATA_DIR": tempfile.mkdtemp(prefix="lotse-bench-import-"),
        "LOTSE_MAX_IMPORT_BYTES": str(200 * 1024 * 1024),
        "LOTSE_BENCH_TRACEMALLOC": "1" if traced else "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.imports", "--child", str(file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit("the import command failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    summary = [line for line in done.stdout.splitlines() if line.startswith("Import ")]
    result["summary"] = summary[-1] if summary else ""
    return result


# ------------------------------------------------------------------ (b) the API


async def post_through_api(base_url: str, token: str, participants: int, clients: int) -> float:
    """16 clients, each: register one participant, post its 20 milestones, next."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(participants):
        queue.put_nowait(i)
    fast = KeepAliveClient(base_url, token, clients)
    headers = {"Authorization": f"Bearer {token}"}
    failures = 0
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as slow:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                i = queue.get_nowait()
                body = {
                    "programme": "durchstarten", "provider": PROVIDER, "intake_date": "2021-03-01",
                    "given_name": f"Jürgen {i}", "family_name": "Weiß", "birth_date": "2001-05-17",
                    "gender": "male", "nationality": "SY", "residence_status": "duldung",
                }  # fmt: skip
                response = await slow.post("/participants", json=body)
                if response.status_code != 201:
                    failures += 1
                    continue
                pid = response.json()["id"]
                for step in api_milestones(i):
                    raw = fast.post_bytes(
                        f"/participants/{pid}/milestones", json.dumps(step).encode()
                    )
                    if await fast.send(raw) != 201:
                        failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        seconds = time.perf_counter() - started
    await fast.close()
    if failures:
        print(f"(b) {failures} requests failed", file=sys.stderr)
    return seconds


def api_milestones(i: int) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [
        {"type": "EligibilityAssessed", "effective_date": "2021-03-02", "eligible": True,
         "target_group": "duldung"},
        {"type": "ConsentGiven", "effective_date": "2021-03-02", "consent_version": "2020-01"},
        {"type": "ModuleEntered", "effective_date": "2021-03-03", "module": "F1"},
    ]  # fmt: skip
    for n in range(MILESTONES_PER_PARTICIPANT - len(steps)):
        steps.append(
            {
                "type": "CoachingContactLogged",
                "effective_date": _json_day(n * 7 % 200),
                "minutes": 30 + n,
                "mode": "in_person",
            }
        )
    return steps


# ------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> dict[str, Any]:
    keys = Secrets()
    token = create_token(
        keys.token_secret, Principal("bench-coach-1", Role.CASEWORKER, PROVIDER), 4
    )
    results: dict[str, Any] = {"machine": machine(), "parameters": vars(args)}
    folder = Path(tempfile.mkdtemp(prefix="lotse-bench-files-"))
    with bench_database() as database:
        results["database"] = {"embedded": database.embedded}
        sizes = {}
        for name, count in (("small", args.small), ("large", args.participants)):
            path = folder / f"{name}.xlsx"
            print(f"writing {name} file: {count} participants ...", file=sys.stderr)
            rows = write_file(path, count, name)
            sizes[name] = {"participants": count, "rows": rows, "bytes": path.stat().st_size}
        imported = {}
        for name in ("small", "large"):
            print(f"(a/c) lotse import {name} ...", file=sys.stderr)
            result = run_import(database.url, keys, folder / f"{name}.xlsx")
            result["rows_per_s"] = sizes[name]["rows"] / result["seconds"]
            imported[name] = {**sizes[name], **result}
        if args.tracemalloc:
            # A second pair of files (new references), imported under tracemalloc.
            for name in ("small", "large"):
                count = sizes[name]["participants"]
                path = folder / f"{name}-traced.xlsx"
                write_file(path, count, f"{name}-traced")
                print(f"(c) lotse import {name} under tracemalloc ...", file=sys.stderr)
                traced = run_import(database.url, keys, path, traced=True)
                imported[name]["tracemalloc_peak_mb"] = traced["tracemalloc_peak_mb"]
        print(
            f"(b) HTTP API: {args.http_participants} participants, {args.clients} clients ...",
            file=sys.stderr,
        )
        with lotse_server(database.url, keys, {"LOTSE_WORKERS": str(args.workers)}) as server:
            seconds = asyncio.run(
                post_through_api(server.base_url, token, args.http_participants, args.clients)
            )
        http_rows = args.http_participants * (1 + MILESTONES_PER_PARTICIPANT)
        results["http"] = {
            "participants": args.http_participants,
            "rows": http_rows,
            "seconds": seconds,
            "rows_per_s": http_rows / seconds,
        }
    results["import"] = imported
    results["ratio_import_over_http"] = imported["large"]["rows_per_s"] / (http_rows / seconds)
    return results


def _mb(value: float | None) -> str:
    return "not measured (--tracemalloc)" if value is None else f"{value:.1f} MB"


def report(results: dict[str, Any]) -> str:
    small, large, http = results["import"]["small"], results["import"]["large"], results["http"]
    ratio = results["ratio_import_over_http"]
    rows = [
        [
            f"(a) lotse import, {large['participants']:,} participants, {large['rows']:,} rows"
            f" ({large['bytes'] / 2**20:.1f} MB XLSX)",
            f"{large['rows_per_s']:,.0f} rows/s ({large['seconds']:.0f} s)",
        ],
        [
            f"(b) HTTP API, 16 clients, {http['participants']:,} participants,"
            f" {http['rows']:,} rows",
            f"{http['rows_per_s']:,.0f} rows/s ({http['seconds']:.0f} s)",
        ],
        ["(a)/(b)", f"{ratio:.1f}x (target >= {RATIO_TARGET:g}x)"],
        [
            f"(c) peak RSS / tracemalloc, {small['participants']:,} participants",
            f"{small['maxrss_mb']:.0f} MB / {_mb(small['tracemalloc_peak_mb'])}",
        ],
        [
            f"(c) peak RSS / tracemalloc, {large['participants']:,} participants",
            f"{large['maxrss_mb']:.0f} MB / {_mb(large['tracemalloc_peak_mb'])}",
        ],
    ]
    return markdown_table(["measure", "figure"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000, help="the smaller file of (c)")
    parser.add_argument("--http-participants", type=int, default=800)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="lotse serve --workers in (b)")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="(c) also with tracemalloc (two more imports)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    results = run(args)
    table = report(results)
    results["table"] = table
    path = write_results("imports", results)
    print(table)
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
