"""The container image starts: what the Dockerfile copies is enough to run ``lotse``.

No Docker engine runs on these machines, so the test does what ``docker build``
does with the files, step by step: it lays out the build context as
``.dockerignore`` filters it, carries out the Dockerfile's ``COPY`` instructions,
builds the wheel that ``pip install /src`` would install, installs it into a fresh
virtual environment and runs ``lotse --help`` and ``lotse serve`` against
PostgreSQL until ``/health`` answers. A package missing from the image (as
``reports/`` once was) fails here, not in production.

The fresh environment borrows the third-party dependencies from the development
environment (a ``.pth`` line, which adds the directory but runs none of its ``.pth``
hooks, so the editable install of Lotse itself stays invisible): the question is
whether the image's copy of Lotse is complete, not whether PyPI is reachable.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from lotse.storage.checkpoints import new_signing_key_text
from lotse.storage.keys import MasterKey

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "storage", "projections", "reports", "api")


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regex on paths."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):
                out[-1] = "(?:.*/)?"
                i += 1
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def dockerignore_rules(root: Path) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in (root / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        cleaned = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((negated, _pattern_regex(cleaned)))
    return rules


def is_ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern that matches a
    directory excludes everything below it."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negated, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def build_context(root: Path, into: Path) -> Path:
    """Copy what ``docker build`` would send: every file .dockerignore lets through."""
    rules = dockerignore_rules(root)
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for relative in tracked:
        source = root / relative
        if source.is_file() and not is_ignored(relative, rules):
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


class Image:
    """What the Dockerfile's instructions leave in the image's file system."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: The directory ``RUN pip install DIR`` installs from (absolute, in the image).
        self.installed_from: str | None = None
        self.env: dict[str, str] = {}

    def path(self, in_image: str) -> Path:
        return self.root / in_image.lstrip("/")

    def build(self, dockerfile: Path, context: Path) -> None:
        text = dockerfile.read_text().replace("\\\n", " ")
        workdir = "/"
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            if not words:
                continue
            instruction, args = words[0].upper(), words[1:]
            if instruction == "WORKDIR":
                workdir = os.path.join(workdir, args[0])
            elif instruction == "ENV":
                self.env.update(pair.partition("=")[::2] for pair in args)
            elif instruction == "COPY":
                assert not any(a.startswith("--") for a in args), "COPY options not emulated"
                *sources, destination = args
                self._copy(context, sources, os.path.join(workdir, destination), destination)
            elif instruction == "RUN" and args[:2] == ["pip", "install"]:
                self.installed_from = os.path.normpath(os.path.join(workdir, args[2]))

    def _copy(self, context: Path, sources: list[str], destination: str, written: str) -> None:
        into_directory = written.endswith("/") or len(sources) > 1 or written in (".", "./")
        for source in sources:
            origin = context / source
            if origin.is_dir():
                shutil.copytree(origin, self.path(destination), dirs_exist_ok=True)
            else:
                target = self.path(destination)
                target = target / origin.name if into_directory else target
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)


def build_image(tmp: Path) -> Image:
    context = build_context(ROOT, tmp / "context")
    image = Image(tmp / "image")
    image.build(ROOT / "Dockerfile", context)
    assert image.installed_from is not None, "the Dockerfile runs no pip install"
    return image


def build_wheel(image: Image, into: Path) -> Path:
    assert image.installed_from is not None
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(into),
            str(image.path(image.installed_from)),
        ],
        check=True,
        cwd=into.parent,
    )
    (wheel,) = into.glob("lotse-*.whl")
    return wheel


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def installed_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    work = tmp_path_factory.mktemp("image")
    image = build_image(work)
    wheel = build_wheel(image, work / "wheels")
    environment = work / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    purelib = Path(sysconfig.get_paths()["purelib"])
    fresh_purelib = next((environment / "lib").glob("python3.*/site-packages"))
    (fresh_purelib / "zz-development-dependencies.pth").write_text(f"{purelib}\n")
    subprocess.run(
        [
            str(environment / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
    )
    image_env = {k: v.replace("/app", str(image.path("/app"))) for k, v in image.env.items()}
    return environment, image_env


def test_the_build_context_holds_every_package_and_leaves_out_local_state(tmp_path: Path) -> None:
    context = build_context(ROOT, tmp_path / "context")

    for package in PACKAGES:
        assert (context / package / "__init__.py").exists(), package
    assert not (context / ".venv").exists()
    assert not (context / "tests").exists()
    assert not list(context.rglob("__pycache__"))


def test_the_wheel_built_from_the_image_holds_every_module_of_every_package(
    tmp_path: Path,
) -> None:
    image = build_image(tmp_path)

    wheel = build_wheel(image, tmp_path / "wheels")

    in_wheel = {n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py")}
    expected = {
        # installed under the one namespace: api/app.py is lotse/api/app.py
        "lotse/" + str(p.relative_to(ROOT))
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert expected - in_wheel == set()
    assert {n for n in in_wheel if not n.startswith("lotse/")} == set(), "nothing generic at top"
    # The web pages' templates and static files are package data.
    pages = {
        "lotse/" + str(p.relative_to(ROOT))
        for folder in ("api/templates", "api/static")
        for p in (ROOT / folder).rglob("*")
        if p.is_file()
    }
    assert pages
    assert pages - set(zipfile.ZipFile(wheel).namelist()) == set()


def test_lotse_from_the_image_answers_help(installed_image: tuple[Path, dict[str, str]]) -> None:
    environment, _ = installed_image

    done = subprocess.run(
        [str(environment / "bin" / "lotse"), "--help"], capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout


def test_lotse_serve_from_the_image_answers_health_on_postgresql(
    installed_image: tuple[Path, dict[str, str]], database_url: str, tmp_path: Path
) -> None:
    environment, image_env = installed_image
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        **image_env,
        "DATABASE_URL": database_url,
        "LOTSE_SECRET_KEY": "container-test-" + "s" * 32,
        "LOTSE_MASTER_KEY": MasterKey.generate().to_text(),
        "LOTSE_AUDIT_SIGNING_KEY": new_signing_key_text(),
        "LOTSE_PROJECTOR": "external",
    }
    process = subprocess.Popen(
        [str(environment / "bin" / "lotse"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status = None
        deadline = time.monotonic() + 90
        while status is None and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    status = r.status
            except OSError:
                time.sleep(0.3)

        assert status == 200
        # The pages render from the installed templates and static files.
        for path in ("/anmeldung", "/static/lotse.css", "/static/htmx.min.js"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                assert r.status == 200, path
    finally:
        process.terminate()
        process.wait(timeout=30)
