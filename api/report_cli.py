"""``lotse report monitoring|outcomes|financial``: a report run, written to a file.

The command runs as the operator (system user ``lotse-cli``, role admin): it has the
database anyway. Small-cell protection is on unless ``--unsuppressed`` is given;
every run is stored like an API run and can be served again by its id.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from api.settings import load_settings
from domain.access import ALL_ORGANISATIONS, Principal, Role, report_scope
from domain.configuration import load_configuration
from domain.errors import DomainError
from reports import formats
from reports.charts import CHARTS, render_chart
from reports.definition import KINDS, ReportRequest
from reports.periods import PERIOD_FORMS, parse_period
from reports.service import compute, publish_run
from storage.database import connect

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
        p.add_argument("-o", "--output", required=True, help="file to write ('-' for stdout)")


async def _run(args: argparse.Namespace) -> tuple[Any, bytes]:
    settings = load_settings()
    config = load_configuration(settings.config_dir)
    programme = args.programme or next(iter(config.programmes))
    municipality, provider = report_scope(OPERATOR, config, args.municipality, args.provider)
    request = ReportRequest(
        kind=args.report_kind,
        programme=programme,
        period=parse_period(args.period, field="--period"),
        municipality=municipality,
        provider=provider,
    )
    database = connect(settings.database_url, settings.data_dir)
    conn = await asyncpg.connect(database.url)
    try:
        evidence = request.kind == "financial"
        computed = await compute(conn, request, config, position=args.position, evidence=evidence)
        run = await publish_run(
            conn, computed, config, OPERATOR, suppressed=not args.unsuppressed, evidence=evidence
        )
    finally:
        await conn.close()
    document = run.document
    if args.format == "json":
        return run, orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if args.format == "csv":
        return run, formats.to_csv(document, args.table or next(iter(document["tables"])))
    if args.format == "xlsx":
        return run, formats.to_xlsx(document)
    chart = args.chart or (CHARTS[request.kind] or ("",))[0]
    return run, render_chart(document, chart, args.format)


def run_report(args: argparse.Namespace) -> int:
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
