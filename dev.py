#!/usr/bin/env python3
"""Two commands on a fresh machine with only Python 3.11+:

    python3 dev.py demo    # start Lotse with demo data on an embedded PostgreSQL
    python3 dev.py test    # run the whole test suite (plus ruff and mypy)

It creates ``.venv`` on first use (and again when pyproject.toml changes), installs
Lotse with its development tools into it, then runs the command there. Any further
arguments are passed on (``python3 dev.py test -k erasure``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".lotse-installed"


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit("Lotse needs Python 3.11 or newer")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing lotse and its development tools into .venv ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


PACKAGES = ("domain", "storage", "projections", "reports", "api")


def typecheck_tree() -> None:
    """Links that show mypy the folders under their installed names (lotse.api, ...).

    The editable install maps the folders to the ``lotse`` namespace with an import
    hook that mypy cannot follow (see ``[tool.mypy]`` in pyproject.toml).
    """
    tree = ROOT / ".lotse" / "typecheck" / "lotse"
    tree.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        link = tree / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)


def lint() -> int:
    py = str(BIN / "python")
    typecheck_tree()
    return run(py, "-m", "ruff", "check", ".") or run(py, "-m", "mypy")


def run(*command: str) -> int:
    return subprocess.run(list(command), cwd=ROOT, check=False).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "serve", "test", "lint", "bench"):
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    py = str(BIN / "python")
    if command in ("demo", "serve"):
        os.execv(str(BIN / "lotse"), ["lotse", command, *rest])
    if command == "lint":
        return lint()
    if command == "bench":
        return run(py, *rest) if rest else run(py, "bench/write_api.py")
    linted = lint()
    # Two test processes, each with its own database (tests/conftest.py): the suite
    # waits on PostgreSQL, a browser or a subprocess often enough that two keep two
    # cores busy (measured: 35 min in one process, 14 in two). ``-n 0`` runs in one.
    workers = [] if any(a == "-n" or a.startswith("-n") for a in rest) else ["-n", "2"]
    tests = run(py, "-m", "pytest", *workers, *rest)
    return tests or linted


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
