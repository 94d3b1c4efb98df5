"""Programme and organisation configuration: validated at start, every problem named."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from lotse.domain.classification import unclassified_fields
from lotse.domain.configuration import DEFAULT_CONFIG_DIR, load_configuration
from lotse.domain.errors import ConfigurationError


def copy_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    return target


def test_demo_configuration_has_three_municipalities_with_two_providers_each() -> None:
    config = load_configuration()

    for municipality in ("warendorf", "duesseldorf", "koeln"):
        providers = [p for p in config.providers.values() if p.municipality == municipality]
        assert len(providers) >= 2
    durchstarten = config.programmes["durchstarten"]
    assert [m.code for m in durchstarten.modules] == ["F1", "F2", "F3", "F4", "F5", "F6"]
    assert str(next(r.amount_eur for r in durchstarten.flat_rates if r.code == "P4")) == "37.50"


def test_provider_with_unknown_municipality_is_reported(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    orgs = config / "organisations.toml"
    orgs.write_text(
        orgs.read_text() + '\n[[providers]]\nid = "x"\nname = "X"\nmunicipality = "atlantis"\n'
    )

    with pytest.raises(ConfigurationError) as e:
        load_configuration(config)
    assert any("atlantis" in p for p in e.value.problems)


def test_a_provider_names_the_programmes_it_delivers(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    orgs = config / "organisations.toml"
    orgs.write_text(
        orgs.read_text()
        + '\n[[providers]]\nid = "x"\nname = "X"\nmunicipality = "koeln"\n'
        + 'programmes = ["durchstarten"]\n'
    )

    loaded = load_configuration(config)

    assert loaded.providers["x"].delivers("durchstarten")
    assert not loaded.providers["x"].delivers("kim")
    assert loaded.providers["caritas-ahlen"].programmes is None  # the key left out: all


def test_a_provider_naming_an_unknown_programme_is_reported(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    orgs = config / "organisations.toml"
    orgs.write_text(
        orgs.read_text()
        + '\n[[providers]]\nid = "x"\nname = "X"\nmunicipality = "koeln"\n'
        + 'programmes = ["atlantis-programme"]\n'
    )

    with pytest.raises(ConfigurationError) as e:
        load_configuration(config)
    assert any("atlantis-programme" in p for p in e.value.problems)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    programme = config / "programmes" / "durchstarten.toml"
    text = (
        programme.read_text()
        .replace("min_age = 18", 'min_age = "18"')
        .replace('amount_eur = "37.50"', 'amount_eur = "lots"')
    )
    programme.write_text(text)

    with pytest.raises(ConfigurationError) as e:
        load_configuration(config)
    assert len(e.value.problems) == 2


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_configuration(tmp_path / "nowhere")


def test_every_event_field_is_classified() -> None:
    assert unclassified_fields() == []


def test_a_daily_lesson_hour_maximum_that_is_not_positive_is_reported(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    programme = config / "programmes" / "durchstarten.toml"
    programme.write_text(
        programme.read_text().replace(
            'max_lesson_hours_per_day = "8"', 'max_lesson_hours_per_day = "0"'
        )
    )

    with pytest.raises(ConfigurationError) as e:
        load_configuration(config)
    assert any("courses.max_lesson_hours_per_day" in p for p in e.value.problems)


def test_a_lesson_hour_rate_needs_a_module_held_in_courses(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    programme = config / "programmes" / "durchstarten.toml"
    text = programme.read_text()
    programme.write_text(
        text.replace('module = "F4"\nunit = "lesson_hour"', 'module = "F1"\nunit = "lesson_hour"')
    )

    with pytest.raises(ConfigurationError) as e:
        load_configuration(config)
    assert any("held_in_courses" in p for p in e.value.problems)


def test_the_programme_configures_its_course_modules_and_daily_maximum() -> None:
    durchstarten = load_configuration().programmes["durchstarten"]

    assert [m.code for m in durchstarten.modules if m.held_in_courses] == ["F2", "F3", "F4"]
    assert durchstarten.max_lesson_hours_per_day == 8


def test_a_course_module_is_paid_by_one_lesson_hour_rate_only(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    programme = config / "programmes" / "durchstarten.toml"
    programme.write_text(
        programme.read_text()
        + '\n[[flat_rates]]\ncode = "P4b"\nmodule = "F4"\nunit = "participant_lesson_hour"\n'
        'amount_eur = "4.10"\n'
    )

    with pytest.raises(ConfigurationError) as e:
        load_configuration(config)
    assert any("more than one lesson-hour flat rate" in p for p in e.value.problems)


def test_the_programme_configures_its_due_list_rules_with_a_version() -> None:
    programme = load_configuration().programmes["durchstarten"]

    rules = programme.worklist
    assert (rules.version, rules.residence_expiry_lead_days, rules.follow_up_months) == (
        "2026-1",
        42,
        6,
    )
    assert (rules.apprenticeship_abort_notice_days, rules.no_contact_days) == (14, 28)
    assert programme.current_consent_version(date(2021, 6, 30)).id == "2020-01"  # type: ignore[union-attr]
    assert programme.current_consent_version(date(2021, 7, 1)).id == "2021-07"  # type: ignore[union-attr]


def test_bad_due_list_rules_are_reported_with_file_and_key(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    path = config / "programmes" / "durchstarten.toml"
    text = path.read_text()
    text = text.replace('version = "2026-1"', "version = 2026")
    text = text.replace("no_contact_days = 28", "no_contact_days = -3\nremind_daily = true")
    text = text.replace("follow_up_months = 6", 'follow_up_months = "six"')
    path.write_text(text)

    with pytest.raises(ConfigurationError) as e:
        load_configuration(config)

    problems = "\n".join(e.value.problems)
    assert f"{path}: worklist.version must be str, got int" in problems
    assert f"{path}: worklist.no_contact_days must lie between 1 and 365" in problems
    assert f"{path}: worklist.follow_up_months must be int, got str" in problems
    assert f"{path}: worklist.remind_daily is not a known key" in problems
