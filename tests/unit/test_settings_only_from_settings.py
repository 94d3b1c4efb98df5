"""Settings are read only through the typed settings object (``api/settings.py``).

A module that reads the environment itself escapes the validation at start (a
typo surfaces at the first request that needs it) and hides a setting from the
README's list. Tests and benchmarks may set the environment; the code may not
read it anywhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("domain", "storage", "projections", "reports", "api")
SETTINGS_MODULE = ROOT / "api" / "settings.py"
READERS = {"environ", "environb", "getenv", "getenvb"}


def environment_reads(source: str) -> list[int]:
    """Lines that touch ``os.environ``/``os.getenv``, however imported."""
    tree = ast.parse(source)
    os_names = {"os"}
    direct: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            direct |= {a.asname or a.name for a in node.names if a.name in READERS}
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in READERS
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ) or (isinstance(node, ast.Name) and node.id in direct):
            lines.append(node.lineno)
    return sorted(lines)


def test_no_module_but_the_settings_module_reads_the_environment() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != SETTINGS_MODULE
        for line in environment_reads(path.read_text())
    ]

    assert offenders == []


def test_the_check_finds_every_spelling_of_an_environment_read() -> None:
    spellings = [
        "import os\nos.environ.get('X')",
        "import os\nos.getenv('X')",
        "import os as o\no.environ['X']",
        "from os import environ\nenviron['X']",
        "from os import getenv as g\ng('X')",
    ]

    assert [bool(environment_reads(s)) for s in spellings] == [True] * len(spellings)
    assert environment_reads("import os\nos.getpid()") == []
