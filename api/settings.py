"""One typed settings object, read from the environment and validated at start."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from storage.checkpoints import SigningKeyError, new_signing_key_text, signing_key_from_text
from storage.keys import MasterKey

SECRET_FILE = "token-secret"  # noqa: S105 - a file name
MASTER_KEY_FILE = "master.key"
AUDIT_SIGNING_KEY_FILE = "audit-signing.key"


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
    try:
        ttl = int(env.get("LOTSE_TOKEN_TTL_HOURS", "12"))
    except ValueError:
        msg = "LOTSE_TOKEN_TTL_HOURS must be a whole number of hours"
        raise SettingsError(msg) from None
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        config_dir=config_dir,
        secret_key=secret,
        master_key=master,
        token_ttl_hours=ttl,
        audit_signing_key=audit_key,
        checkpoint_seconds=checkpoint_seconds,
    )
