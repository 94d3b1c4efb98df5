"""``lotse report monitoring|outcomes|financial|publish|releases``.

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
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from lotse.api.settings import load_settings
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role, report_scope
from lotse.domain.configuration import load_configuration
from lotse.domain.errors import DomainError
from lotse.reports import formats
from lotse.reports.charts import CHARTS, render_chart
from lotse.reports.definition import KINDS, ReportRequest
from lotse.reports.integrity import ChainVerifier
from lotse.reports.periods import PERIOD_FORMS, parse_period
from lotse.reports.releases import list_releases, publish_release
from lotse.reports.rounding import rounding_secret
from lotse.reports.service import compute, publish_run
from lotse.storage.checkpoints import signing_key_from_text
from lotse.storage.database import connect

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


def _verifier(url: str, audit_signing_key: str) -> ChainVerifier:
    key = signing_key_from_text(audit_signing_key) if audit_signing_key else None
    return ChainVerifier(url, key.public_key() if key else None)


def _render(document: dict[str, Any], fmt: str, table: str | None) -> bytes:
    if fmt == "json":
        return orjson.dumps(document, option=orjson.OPT_INDENT_2)
    if fmt == "csv":
        return formats.to_csv(document, table or next(iter(document["tables"])))
    return formats.to_xlsx(document)


async def _publish(args: argparse.Namespace) -> tuple[Any, bytes]:
    settings = load_settings()
    config = load_configuration(settings.config_dir)
    if args.municipality is not None and args.municipality not in config.municipalities:
        msg = "--municipality is not a configured municipality"
        raise DomainError(msg)
    database = connect(settings.database_url, settings.data_dir)
    conn = await asyncpg.connect(database.url)
    try:
        release = await publish_release(
            conn,
            config,
            OPERATOR,
            kind=args.report,
            programme=args.programme or next(iter(config.programmes)),
            period_text=args.period,
            municipality=args.municipality,
            secret=rounding_secret(settings.secret_key),
            chain_check=_verifier(database.url, settings.audit_signing_key),
        )
    finally:
        await conn.close()
    return release, _render(release.document, args.format, args.table)


async def _releases(args: argparse.Namespace) -> list[Any]:
    settings = load_settings()
    database = connect(settings.database_url, settings.data_dir)
    conn = await asyncpg.connect(database.url)
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
            conn,
            computed,
            config,
            OPERATOR,
            suppressed=not args.unsuppressed,
            evidence=evidence,
            chain_check=_verifier(database.url, settings.audit_signing_key),
            full_chain=args.position is not None,
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
    if args.report_kind in ("publish", "releases"):
        return run_releases(args)
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
