"""``lotse worklist --due-within 14d [--provider P] [--kind K]``: the due list.

The same read-side function as ``GET /worklist`` (``projections.due_list``), run as
the operator (system user ``lotse-cli``, role admin) and narrowed by ``--provider``
or ``--municipality``. It prints pseudonymous participant ids, never names.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import date
from typing import Any

import asyncpg
import orjson

from lotse.api.runtime import build_read_side
from lotse.api.settings import load_settings
from lotse.domain.access import ALL_ORGANISATIONS, Principal, Role
from lotse.domain.application import programme_today
from lotse.domain.errors import DomainError
from lotse.domain.vocabulary import WorklistKind
from lotse.projections.due_list import STATES, due_list

OPERATOR = Principal("lotse-cli", Role.ADMIN, ALL_ORGANISATIONS)
_DAYS = re.compile(r"^(\d{1,4})d?$")


def days(text: str) -> int:
    """``14d`` or ``14``: a number of days."""
    found = _DAYS.match(text.strip())
    if found is None:
        msg = f"--due-within must be a number of days such as 14d, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(found.group(1))


def add_worklist_parser(sub: Any) -> None:
    p = sub.add_parser("worklist", help="the due list (Wiedervorlage): what is due, and overdue")
    p.add_argument("--due-within", type=days, default=14, help="e.g. 14d (default 14d)")
    p.add_argument("--provider", help="only this provider's participants")
    p.add_argument(
        "--kind", action="append", choices=[k.value for k in WorklistKind], help="repeatable"
    )
    p.add_argument("--state", action="append", choices=[*STATES, "all"], help="default: open")
    p.add_argument("--assigned-to", help="a case worker's user id")
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--format", choices=("text", "json"), default="text")


async def _items(args: argparse.Namespace) -> Any:
    side = build_read_side(load_settings())
    conn = await asyncpg.connect(side.database.url)
    try:
        return await due_list(
            conn,
            side.configuration,
            OPERATOR,
            today=programme_today(),
            due_within_days=args.due_within,
            kinds=args.kind,
            states=args.state,
            assigned_to=args.assigned_to,
            provider=args.provider,
            limit=args.limit,
        )
    finally:
        await conn.close()


def _text(found: Any, today: date) -> str:
    lines = [
        f"Due list until {found.until:%d.%m.%Y} (today {today:%d.%m.%Y}; rules "
        + ", ".join(f"{p} {v}" for p, v in sorted(found.rules_versions.items()))
        + f"): {len(found.items)} item(s)"
    ]
    for item in found.items:
        responsible = ",".join(item["responsible"]["assignees"]) or item["responsible"]["provider"]
        mark = "OVERDUE" if item["overdue"] else ""
        detail = f" {item['module']}" if item["module"] else ""
        lines.append(
            f"{item['due_date']:%Y-%m-%d}  {mark:<7}  {item['kind']}{detail:<4}  "
            f"{item['participant_id']}  {item['state']}  {responsible}"
        )
    return "\n".join(lines) + "\n"


def run_worklist(args: argparse.Namespace) -> int:
    try:
        found = asyncio.run(_items(args))
    except DomainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        document = {
            "items": found.items,
            "until": found.until,
            "rules_versions": found.rules_versions,
        }
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str).decode()
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(_text(found, programme_today()))
    return 0
