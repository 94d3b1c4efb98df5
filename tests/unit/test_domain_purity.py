"""The domain knows no web framework, no database driver and no SQL (the design card).

So the journey's rules can be read, tested and reused without a server or a database:
the web layer (``api``), the read side (``projections``, ``reports``) and the storage
(``storage``) depend on the domain, never the other way round.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"

#: Packages the domain must not import: web, templates, HTTP, database drivers, and the
#: event store's database adapters (the domain uses only eventsourcing's domain and
#: application layers).
FORBIDDEN = (
    "fastapi",
    "starlette",
    "jinja2",
    "httpx",
    "uvicorn",
    "granian",
    "asyncpg",
    "psycopg",
    "psycopg2",
    "sqlalchemy",
    "eventsourcing.postgres",
    "lotse.api",
    "lotse.storage",
    "lotse.projections",
    "lotse.reports",
)
#: The shapes of SQL statements, in capitals as Lotse writes its SQL (prose may say
#: "select" or "update" without being SQL).
SQL = re.compile(
    r"\bSELECT\b.+\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bCREATE\s+(TABLE|INDEX|VIEW)\b",
    re.DOTALL,
)


def imported_modules(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_no_domain_module_imports_web_database_or_outer_layers() -> None:
    offending = [
        f"{path.name}: {module}"
        for path in sorted(DOMAIN.glob("*.py"))
        for module in imported_modules(path)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert offending == []


def test_no_domain_module_holds_sql() -> None:
    offending = []
    for path in sorted(DOMAIN.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL.search(node.value)
            ):
                offending.append(f"{path.name}:{node.lineno}")
    assert offending == []
