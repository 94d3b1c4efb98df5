"""The deployment files say what the README promises (Docker is not run here).

docker-compose.yml is parsed and its variable interpolation evaluated the way
compose does for the forms it uses (``${VAR}``, ``${VAR:-default}``,
``${VAR:?message}``), so "compose refuses to start without the secrets" is checked,
not assumed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("POSTGRES_PASSWORD", "LOTSE_SECRET_KEY", "LOTSE_MASTER_KEY", "LOTSE_AUDIT_SIGNING_KEY")
LOTSE_SERVICES = ("api", "projector")
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:\?|:-)(?P<arg>[^}]*))?\}")


class MissingVariableError(Exception):
    """What compose reports, refusing to start, for an unset ``${VAR:?message}``."""


def interpolate(value: str, environ: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        found = environ.get(name, "")
        if found:
            return found
        if op == ":?":
            raise MissingVariableError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return _VARIABLE.sub(replace, value)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_defines_the_database_the_api_and_the_projector() -> None:
    services = compose()["services"]

    assert {"db", "api", "projector"} <= set(services)
    assert services["db"]["image"].startswith("postgres:16")
    assert services["api"]["build"] == "."
    assert "command" not in services["api"]  # the image's CMD: lotse serve
    assert services["projector"]["command"] == ["lotse", "projector"]
    assert "8000:8000" in [str(p) for p in services["api"]["ports"]]


def test_the_database_has_a_health_check_and_keeps_its_data_in_a_volume() -> None:
    config = compose()
    db = config["services"]["db"]

    test = db["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))
    volume = db["volumes"][0].split(":")[0]
    assert volume in config["volumes"]


def test_the_api_leaves_the_read_models_to_the_projector_service() -> None:
    api = environment(compose()["services"]["api"])

    assert api["LOTSE_PROJECTOR"] == "external"


@pytest.mark.parametrize("name", LOTSE_SERVICES)
def test_lotse_services_start_only_after_the_database_is_healthy(name: str) -> None:
    service = compose()["services"][name]

    assert service["depends_on"]["db"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", LOTSE_SERVICES)
def test_lotse_services_reach_the_database_service_with_the_given_password(name: str) -> None:
    env = environment(compose()["services"][name])
    given = {name: f"{name}-value" for name in SECRETS} | {"POSTGRES_PASSWORD": "pw"}

    resolved = {key: interpolate(value, given) for key, value in env.items()}

    assert resolved["DATABASE_URL"] == "postgresql://lotse:pw@db:5432/lotse"
    for name in SECRETS[1:]:
        assert resolved[name] == f"{name}-value"


@pytest.mark.parametrize("missing", SECRETS)
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    services = compose()["services"]
    given = {name: "set" for name in SECRETS if name != missing}
    everything = "\n".join(v for s in services.values() for v in environment(s).values())

    with pytest.raises(MissingVariableError, match=missing):
        interpolate(everything, given)


def test_compose_carries_no_default_or_literal_secret() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    services = compose()["services"]

    for name in SECRETS:
        assert not re.search(rf"\$\{{{name}:?-", text), f"{name} has a default value"
    for service in services.values():
        for key, value in environment(service).items():
            if key in SECRETS:
                assert _VARIABLE.fullmatch(value), f"{key} is not taken from the environment"


def test_the_image_runs_lotse_serve_as_a_non_root_user() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]

    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert lines[-1] == 'CMD ["lotse", "serve", "--host", "0.0.0.0", "--port", "8000"]'
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    assert install < lines.index(f"USER {users[-1]}")


def test_the_build_context_leaves_out_local_state_and_secrets() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())

    assert {".git", ".venv", ".lotse", ".env"} <= ignored


def compose_command() -> list[str] | None:
    """Docker's compose plugin, or the standalone docker-compose (.ci/run installs it)."""
    docker = shutil.which("docker")
    plugin = [docker, "compose"] if docker else None
    if plugin and subprocess.run([*plugin, "version"], capture_output=True).returncode == 0:
        return plugin
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


needs_compose = pytest.mark.skipif(
    compose_command() is None, reason="no docker compose here (.ci/run installs it)"
)


@needs_compose
def test_docker_compose_config_validates_when_the_secrets_are_set(tmp_path: Path) -> None:
    command = compose_command()
    assert command is not None
    given = {name: f"{name.lower()}-value" for name in SECRETS}
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **given}

    done = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "postgresql://lotse:postgres_password-value@db:5432/lotse" in done.stdout


@needs_compose
def test_docker_compose_config_refuses_without_the_secrets(tmp_path: Path) -> None:
    command = compose_command()
    assert command is not None

    done = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode != 0
    assert "POSTGRES_PASSWORD" in done.stderr
