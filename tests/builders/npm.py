"""Node packages the tests use, installed by the tests from committed lock files.

``tests/oidc`` (the OpenID provider) and ``tests/axe`` (axe-core for the browser
tests) each hold a ``package.json`` with a ``package-lock.json``; the first test
that needs one runs ``npm ci`` there.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path


class NpmMissingError(RuntimeError):
    """Node.js with npm is not on this machine."""


def npm_ci(directory: Path, needed_for: str) -> None:
    """``npm ci`` in ``directory`` from its committed lock file, once per lock file.

    A marker with the lock file's hash is written only after ``npm ci`` succeeded,
    so an interrupted install is redone instead of leaving a half-filled
    ``node_modules`` behind; a file lock keeps two test processes from installing
    at once.
    """
    lock_file = directory / "package-lock.json"
    wanted = hashlib.sha256(lock_file.read_bytes()).hexdigest()
    marker = directory / "node_modules" / ".lotse-installed"
    if marker.exists() and marker.read_text() == wanted:
        return
    npm = shutil.which("npm")
    if npm is None:
        msg = f"Node.js with npm is needed for {needed_for}"
        raise NpmMissingError(msg)
    with (directory / ".install.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == wanted:
            return
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=directory,
            check=True,
            timeout=300,
        )
        marker.write_text(wanted)
