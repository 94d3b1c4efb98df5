"""``lotse report monitoring|outcomes|financial|publish|releases|data-quality``.

A report run, written to a file; or a published release at its period's fixed
cut-off. The command runs as the operator (system user ``lotse-cli``, role admin):
it has the database anyway. Small-cell protection is on unless ``--unsuppressed``
is given; every run is stored like an API run (with the chain's verification) and
can be served again by its id.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from lotse.api.runtime import build_read_side
from lotse.api.settings import load_settings
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role
from lotse.domain.application import PROGRAMME_TIMEZONE
from lotse.domain.configuration import Configuration
from lotse.domain.errors import DomainError
from lotse.reports import formats
from lotse.reports.charts import CHARTS, render_chart
from lotse.reports.data_quality import data_quality
from lotse.reports.definition import KINDS, ReportRequest
from lotse.reports.periods import PERIOD_FORMS
from lotse.reports.releases import list_releases
from lotse.reports.requests import make_run, publish_release, report_request
from lotse.reports.rounding import rounding_secret

OPERATOR = Principal("lotse-cli", Role.ADMIN, ALL_ORGANISATIONS)
FORMATS = ("json", "csv", "xlsx", "png", "svg")


def add_report_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="funding reports: monitoring, outcomes, financial")
    kinds = report.add_subparsers(dest="report_kind", required=True)
    for kind in KINDS:
        p = kinds.add_parser(kind, help=f"the {kind} report")
        p.add_argument("--period", required=True, help=PERIOD_FORMS)
        p.add_argument("--municipality")
        p.add_argument("--provider")
        p.add_argument("--programme")
        p.add_argument("--format", choices=FORMATS, default="json")
        p.add_argument("--table", help="the table for --format csv (default: the first)")
        p.add_argument("--chart", help=f"for png/svg: {', '.join(CHARTS[kind]) or 'none'}")
        p.add_argument("--position", type=int, help="recompute at this log position (replay)")
        p.add_argument("--unsuppressed", action="store_true", help="no small-cell protection")
        if kind == "financial":
            p.add_argument(
                "--evidence",
                action="store_true",
                help="add the event trail and every course's Teilnehmendenliste",
            )
        p.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")
    p = kinds.add_parser("publish", help="publish a release at its period's fixed cut-off")
    p.add_argument("report", choices=KINDS)
    p.add_argument("--period", required=True, help="YYYY-Qn, YYYY-Hn or YYYY")
    p.add_argument("--municipality", help="only this municipality (default: all)")
    p.add_argument("--programme")
    p.add_argument("--format", choices=FORMATS[:3], default="json")
    p.add_argument("--table", help="the table for --format csv (default: the first)")
    p.add_argument("-o", "--output", help="also write the release to this file ('-': stdout)")
    p = kinds.add_parser("releases", help="list the published releases")
    p.add_argument("--report", choices=KINDS)
    p.add_argument("--period")
    p = kinds.add_parser("data-quality", help="data quality per provider for a quarter (JSON)")
    p.add_argument("--quarter", required=True, help="YYYY-Qn, e.g. 2021-Q3")
    p.add_argument("--municipality", help="only this municipality (default: all)")


def _render(document: dict[str, Any], fmt: str, table: str | None) -> bytes:
    if fmt == "json":
        return orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if fmt == "csv":
        return formats.to_csv(document, table or next(iter(document["tables"])))
    return formats.to_xlsx(document)


async def _publish(args: argparse.Namespace) -> tuple[Any, bytes]:
    side = build_read_side(load_settings())
    conn = await asyncpg.connect(side.database.url)
    try:
        release = await publish_release(
            conn,
            side.configuration,
            OPERATOR,
            kind=args.report,
            period=args.period,
            municipality=args.municipality,
            programme=args.programme,
            secret=rounding_secret(side.settings.secret_key),
            chain_check=side.chain_verifier(),
            prefix="--",
        )
    finally:
        await conn.close()
    return release, _render(release.document, args.format, args.table)


async def _releases(args: argparse.Namespace) -> list[Any]:
    side = build_read_side(load_settings())
    conn = await asyncpg.connect(side.database.url)
    try:
        return await list_releases(conn, args.report, args.period)
    finally:
        await conn.close()


def run_releases(args: argparse.Namespace) -> int:
    try:
        if args.report_kind == "releases":
            for release in asyncio.run(_releases(args)):
                print(orjson.dumps(release.summary()).decode())
            return 0
        release, body = asyncio.run(_publish(args))
    except DomainError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except KeyError as e:
        print(f"error: no such table: {e}", file=sys.stderr)
        return 2
    if args.output == "-":
        sys.stdout.buffer.write(body)
    elif args.output:
        Path(args.output).write_bytes(body)
    chain = release.chain or {}
    print(
        f"release {release.id}: {release.kind} {release.period} "
        f"{release.scope_municipality or 'all municipalities'}, cut-off "
        f"{release.cutoff_date.isoformat()} at position {release.position}; chain "
        f"{'verified' if chain.get('verified') else 'NOT verified'} to {chain.get('verified_to')}",
        file=sys.stderr,
    )
    return 0


def request_of(args: argparse.Namespace, config: Configuration) -> ReportRequest:
    """The report ``lotse report <kind>`` asks for, built as the API builds it."""
    return report_request(
        config,
        OPERATOR,
        kind=args.report_kind,
        period=args.period,
        municipality=args.municipality,
        provider=args.provider,
        programme=args.programme,
        unsuppressed=args.unsuppressed,
        prefix="--",
    )


async def _run(args: argparse.Namespace) -> tuple[Any, bytes]:
    side = build_read_side(load_settings())
    request = request_of(args, side.configuration)
    conn = await asyncpg.connect(side.database.url)
    try:
        run = await make_run(
            conn,
            request,
            side.configuration,
            OPERATOR,
            unsuppressed=args.unsuppressed,
            chain_check=side.chain_verifier(),
            position=args.position,
            evidence=getattr(args, "evidence", False),
        )
    finally:
        await conn.close()
    document = run.document
    if args.format in ("json", "csv", "xlsx"):
        return run, _render(document, args.format, args.table)
    chart = args.chart or (CHARTS[request.kind] or ("",))[0]
    return run, render_chart(document, chart, args.format)


async def _data_quality(args: argparse.Namespace) -> dict[str, Any]:
    side = build_read_side(load_settings())
    conn = await asyncpg.connect(side.database.url)
    try:
        return await data_quality(
            conn,
            side.configuration,
            OPERATOR,
            quarter=args.quarter,
            municipality=args.municipality,
            today=datetime.now(PROGRAMME_TIMEZONE).date(),
        )
    finally:
        await conn.close()


def run_data_quality(args: argparse.Namespace) -> int:
    """``lotse report data-quality``: the document of ``GET /reports/data-quality``."""
    try:
        document = asyncio.run(_data_quality(args))
    except DomainError as e:
        print(f"error: --{e.field or 'quarter'}: {e.message}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def run_report(args: argparse.Namespace) -> int:
    if args.report_kind in ("publish", "releases"):
        return run_releases(args)
    if args.report_kind == "data-quality":
        return run_data_quality(args)
    if args.format in ("png", "svg") and not CHARTS[args.report_kind]:
        print(f"error: the {args.report_kind} report has no charts", file=sys.stderr)
        return 2
    if args.chart and args.chart not in CHARTS[args.report_kind]:
        print(
            f"error: --chart must be one of {', '.join(CHARTS[args.report_kind])}", file=sys.stderr
        )
        return 2
    try:
        run, body = asyncio.run(_run(args))
    except DomainError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except KeyError as e:
        print(f"error: no such table or chart: {e}", file=sys.stderr)
        return 2
    if args.output == "-":
        sys.stdout.buffer.write(body)
    else:
        Path(args.output).write_bytes(body)
    print(
        f"report run {run.id}: {run.kind} {run.parameters['period']} at position {run.position} "
        f"({run.source}, {'suppressed' if run.suppressed else 'unsuppressed'})",
        file=sys.stderr,
    )
    return 0
