"""One typed settings object, read from the environment and validated at start."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from lotse.storage.checkpoints import SigningKeyError, new_signing_key_text, signing_key_from_text
from lotse.storage.keys import MasterKey

SECRET_FILE = "token-secret"  # noqa: S105 - a file name
DUPLICATE_KEY_FILE = "duplicate-key"
MASTER_KEY_FILE = "master.key"
AUDIT_SIGNING_KEY_FILE = "audit-signing.key"
#: ``LOTSE_OIDC_SECRET_CARITAS_AHLEN`` is the client secret of issuer ``caritas-ahlen``.
OIDC_SECRET_PREFIX = "LOTSE_OIDC_SECRET_"  # noqa: S105 - a variable name
MAX_WORKERS = 64


class SettingsError(Exception):
    """A setting is missing or invalid; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    data_dir: Path
    config_dir: Path | None
    secret_key: str
    master_key: str
    token_ttl_hours: int
    audit_signing_key: str = ""
    """Ed25519 key that signs checkpoints (base64url); empty: checkpoints cannot be signed."""
    checkpoint_seconds: int = 60
    """A checkpoint is signed at most this long after a write (0: never automatically)."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body accepted (bytes); larger ones get 413 before they are read."""
    max_import_bytes: int = 20 * 1024 * 1024
    """Largest import file (``POST /imports``, ``lotse import``); larger ones are refused."""
    db_timeout_seconds: float = 2.0
    """Longest wait for a database connection (connect, or a free one from a pool)."""
    db_command_timeout_seconds: float = 60.0
    """Longest a single database statement of the API may run."""
    token_max_ttl_hours: int = 24 * 30
    """Longest lifetime ``lotse token create`` grants; longer ones are refused."""
    oidc_client_secrets: Mapping[str, str] = field(default_factory=dict)
    """Client secret per issuer name (``LOTSE_OIDC_SECRET_<NAME>``): browser sign-in."""
    session_idle_minutes: int = 30
    """A browser session ends after this long without a request."""
    session_absolute_hours: int = 10
    """... and this long after sign-in, whatever happens (a working day)."""
    session_cookie_secure: bool = True
    """Session cookies only over https (``__Host-`` prefix); off only for plain-http demos."""
    demo_sign_in: bool = False
    """``lotse demo`` on the embedded database: sign in as a demo user, no provider."""
    event_cache_size: int = 2000
    """Participants whose decoded events each process keeps in memory (0: none)."""
    workers: int = 1
    """API worker processes of ``lotse serve`` (``--workers`` overrides)."""
    projector_in_process: bool = True
    """False (``LOTSE_PROJECTOR=external``): another process runs the projections."""
    parent_pid: int | None = None
    """The ``lotse serve`` that started this projector (``LOTSE_PARENT_PID``): stop without it."""
    master_key_given: bool = False
    """The master key came from the environment, not from the data directory's file."""
    duplicate_key: str = ""
    """Key of the duplicate pseudonyms (HMAC); unset with DATABASE_URL: from the master key."""

    @property
    def duplicate_hmac_key(self) -> bytes:
        """The key of the duplicate pseudonyms: given, generated (embedded), or derived.

        Derived from the master key when not given, under a label of its own, so a
        deployment needs no new secret and the pseudonyms are useless without it.
        """
        if self.duplicate_key:
            return self.duplicate_key.encode()
        return hmac.new(
            self.master_key.encode(), b"lotse-duplicate-pseudonyms", hashlib.sha256
        ).digest()

    @property
    def embedded(self) -> bool:
        return not self.database_url


def _read_or_create_secret(path: Path, make: str) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(make)
    return make


def _whole(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"{name} must be a whole number, 0 or more (0: no automatic checkpoints)"
        raise SettingsError(msg)
    return value


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings; in embedded mode generate missing secrets into the data directory.

    With a ``DATABASE_URL`` (a real deployment) there is no default secret: the
    token signing secret and the master key must be given, or Lotse refuses to start.
    """
    env = dict(os.environ if environ is None else environ)
    database_url = env.get("DATABASE_URL") or None
    data_dir = Path(env.get("LOTSE_DATA_DIR") or ".lotse")
    config_dir = Path(env["LOTSE_CONFIG"]) if env.get("LOTSE_CONFIG") else None
    secret = env.get("LOTSE_SECRET_KEY", "")
    master = env.get("LOTSE_MASTER_KEY", "")
    if database_url is None:
        secret = secret or _read_or_create_secret(data_dir / SECRET_FILE, secrets.token_urlsafe(48))
        master = master or _read_or_create_secret(
            data_dir / MASTER_KEY_FILE, MasterKey.generate().to_text()
        )
    missing = [
        name
        for name, value in (("LOTSE_SECRET_KEY", secret), ("LOTSE_MASTER_KEY", master))
        if not value
    ]
    audit_key = env.get("LOTSE_AUDIT_SIGNING_KEY", "")
    if database_url is None:
        audit_key = audit_key or _read_or_create_secret(
            data_dir / AUDIT_SIGNING_KEY_FILE, new_signing_key_text()
        )
    elif not audit_key:
        missing.append("LOTSE_AUDIT_SIGNING_KEY")
    if missing:
        msg = (
            f"{' and '.join(missing)} must be set when DATABASE_URL is set "
            "(generate them with: lotse privacy new-key, lotse audit new-signing-key)"
        )
        raise SettingsError(msg)
    if len(secret) < 32:
        msg = "LOTSE_SECRET_KEY must be at least 32 characters"
        raise SettingsError(msg)
    MasterKey.from_text(master)  # validates the format early, with a clear message
    try:
        signing_key_from_text(audit_key)
    except (SigningKeyError, ValueError) as e:
        raise SettingsError(f"LOTSE_AUDIT_SIGNING_KEY: {e}") from None
    checkpoint_seconds = 60
    if env.get("LOTSE_CHECKPOINT_SECONDS"):
        checkpoint_seconds = _whole(env["LOTSE_CHECKPOINT_SECONDS"], "LOTSE_CHECKPOINT_SECONDS")
    elif env.get("LOTSE_CHECKPOINT_MINUTES"):  # the older, coarser setting
        checkpoint_seconds = 60 * _whole(
            env["LOTSE_CHECKPOINT_MINUTES"], "LOTSE_CHECKPOINT_MINUTES"
        )
    max_body_bytes = _number(env, "LOTSE_MAX_BODY_BYTES", 1024 * 1024, int, minimum=1)
    max_import_bytes = _number(env, "LOTSE_MAX_IMPORT_BYTES", 20 * 1024 * 1024, int, minimum=1)
    db_timeout = _number(env, "LOTSE_DB_TIMEOUT_SECONDS", 2.0, float, minimum=0.1)
    db_command_timeout = _number(env, "LOTSE_DB_COMMAND_TIMEOUT_SECONDS", 60.0, float, minimum=1)
    event_cache_size = _number(env, "LOTSE_EVENT_CACHE_SIZE", 2000, int, minimum=0)
    workers = _number(env, "LOTSE_WORKERS", 1, int, minimum=1)
    if workers > MAX_WORKERS:
        msg = f"LOTSE_WORKERS must be between 1 and {MAX_WORKERS}"
        raise SettingsError(msg)
    parent_pid = _number(env, "LOTSE_PARENT_PID", 0, int, minimum=1) or None
    try:
        ttl = int(env.get("LOTSE_TOKEN_TTL_HOURS", "12"))
    except ValueError:
        msg = "LOTSE_TOKEN_TTL_HOURS must be a whole number of hours"
        raise SettingsError(msg) from None
    max_ttl = _number(env, "LOTSE_TOKEN_MAX_TTL_HOURS", 24 * 30, int, minimum=1)
    if ttl > max_ttl:
        msg = "LOTSE_TOKEN_TTL_HOURS must not exceed LOTSE_TOKEN_MAX_TTL_HOURS"
        raise SettingsError(msg)
    oidc_secrets = {
        name.removeprefix(OIDC_SECRET_PREFIX).lower().replace("_", "-"): value
        for name, value in env.items()
        if name.startswith(OIDC_SECRET_PREFIX) and value
    }
    idle = _number(env, "LOTSE_SESSION_IDLE_MINUTES", 30, int, minimum=1)
    absolute = _number(env, "LOTSE_SESSION_ABSOLUTE_HOURS", 10, int, minimum=1)
    secure_cookie = env.get("LOTSE_SESSION_COOKIE_SECURE", "true").strip().lower()
    if secure_cookie not in ("true", "false"):
        msg = "LOTSE_SESSION_COOKIE_SECURE must be true or false"
        raise SettingsError(msg)
    demo_sign_in = env.get("LOTSE_DEMO_SIGN_IN", "").strip().lower() == "true"
    if demo_sign_in and database_url is not None:
        msg = "LOTSE_DEMO_SIGN_IN is for the embedded demo only, never with DATABASE_URL"
        raise SettingsError(msg)
    duplicate_key = env.get("LOTSE_DUPLICATE_KEY", "")
    if database_url is None and not duplicate_key:
        duplicate_key = _read_or_create_secret(
            data_dir / DUPLICATE_KEY_FILE, secrets.token_urlsafe(32)
        )
    if duplicate_key and len(duplicate_key) < 32:
        msg = "LOTSE_DUPLICATE_KEY must be at least 32 characters"
        raise SettingsError(msg)
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        config_dir=config_dir,
        secret_key=secret,
        master_key=master,
        token_ttl_hours=ttl,
        audit_signing_key=audit_key,
        checkpoint_seconds=checkpoint_seconds,
        max_body_bytes=max_body_bytes,
        max_import_bytes=max_import_bytes,
        db_timeout_seconds=db_timeout,
        db_command_timeout_seconds=db_command_timeout,
        token_max_ttl_hours=max_ttl,
        oidc_client_secrets=oidc_secrets,
        session_idle_minutes=idle,
        session_absolute_hours=absolute,
        session_cookie_secure=secure_cookie == "true",
        demo_sign_in=demo_sign_in,
        event_cache_size=event_cache_size,
        workers=workers,
        projector_in_process=env.get("LOTSE_PROJECTOR", "in-process") != "external",
        parent_pid=parent_pid,
        master_key_given=bool(env.get("LOTSE_MASTER_KEY")),
        duplicate_key=duplicate_key,
    )


def projector_child_environment(settings: Settings, parent_pid: int) -> dict[str, str]:
    """The environment of the projector ``lotse serve`` starts beside itself.

    From now on this process (and the API workers it starts) leave the
    projections to that child: ``LOTSE_PROJECTOR=external`` is set here too.
    """
    os.environ["LOTSE_PROJECTOR"] = "external"
    return {
        **os.environ,
        "LOTSE_DATA_DIR": str(settings.data_dir),
        "LOTSE_PARENT_PID": str(parent_pid),
    }


def offer_demo_sign_in() -> None:
    """``lotse demo`` on the embedded database offers the demo sign-in over plain http.

    Set in the environment, because the API workers read their settings from it.
    Never with ``DATABASE_URL``: ``load_settings`` refuses the demo sign-in there.
    """
    if not os.environ.get("DATABASE_URL"):
        os.environ.setdefault("LOTSE_DEMO_SIGN_IN", "true")
        os.environ.setdefault("LOTSE_SESSION_COOKIE_SECURE", "false")


N = TypeVar("N", int, float)


def _number(env: dict[str, str], name: str, default: N, kind: type[N], *, minimum: N) -> N:
    """A numeric setting, or its default when unset; a clear error when it is not one."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        what = "a whole number" if kind is int else "a number"
        msg = f"{name} must be {what}, at least {minimum}"
        raise SettingsError(msg)
    return value
