"""The folders install as one ``lotse`` namespace, and every subpackage is listed.

setuptools' ``package-dir`` maps ``lotse.api`` to ``api/`` and so on, with the
packages listed explicitly; a new subfolder missing from that list would be left
out of the wheel (and of the container image) without any error at build time.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def configured() -> tuple[dict[str, str], list[str]]:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return setuptools["package-dir"], setuptools["packages"]


def test_every_folder_with_python_code_is_a_listed_package() -> None:
    package_dir, packages = configured()
    found = set()
    for name, folder in package_dir.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *relative)))

    assert found == set(packages)


def test_every_top_level_folder_installs_under_lotse() -> None:
    package_dir, _ = configured()

    assert package_dir == {
        f"lotse.{name}": name for name in ("domain", "storage", "projections", "reports", "api")
    }


def test_the_console_script_names_the_namespaced_module() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]

    assert scripts == {"lotse": "lotse.api.cli:main"}
