"""Automatic checkpoints are on by default and configured in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from lotse.api.settings import SettingsError, load_settings


def embedded(tmp_path: Path, **env: str) -> dict[str, str]:
    return {"LOTSE_DATA_DIR": str(tmp_path), **env}


def test_checkpoints_follow_writes_within_60_seconds_by_default(tmp_path: Path) -> None:
    settings = load_settings(embedded(tmp_path))

    assert settings.checkpoint_seconds == 60
    assert settings.audit_signing_key  # the embedded mode signs with a generated key


def test_checkpoint_seconds_can_be_set_and_the_older_minutes_setting_still_works(
    tmp_path: Path,
) -> None:
    seconds = load_settings(embedded(tmp_path, LOTSE_CHECKPOINT_SECONDS="15"))
    minutes = load_settings(embedded(tmp_path, LOTSE_CHECKPOINT_MINUTES="2"))

    assert (seconds.checkpoint_seconds, minutes.checkpoint_seconds) == (15, 120)


@pytest.mark.parametrize("value", ["-1", "soon", "1.5"])
def test_an_invalid_checkpoint_interval_is_refused_naming_the_setting(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(SettingsError, match="LOTSE_CHECKPOINT_SECONDS"):
        load_settings(embedded(tmp_path, LOTSE_CHECKPOINT_SECONDS=value))
