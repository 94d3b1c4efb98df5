"""Duplicate detection's name keys and tokens (``domain.duplicates``), and its measurement.

The romanisations below are the ones met in German registrations of Arabic, Dari
and Tigrinya names; each group must give one key, and different names must not.
The last test runs ``bench/duplicates.py`` on a smaller generated set and asserts
the issue's target, so a change that loses recall or precision fails here.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import date
from pathlib import Path

import pytest

from lotse.domain.duplicates import Identity, name_key, plain_tokens, tokens

SAME = [
    ("Mohammed", "Muhammad", "Mohamad", "Mohamed", "MUḤAMMAD"),
    ("Yusuf", "Youssef", "Yousef", "Jusuf"),
    ("Tesfay", "Tesfaye", "Tesfai"),
    ("Gebremedhin", "Gebre Medhin", "Gebre-Medhin"),
    ("Abdulrahman", "Abdul Rahman", "Abdelrahman", "Abd al-Rahman", "Abdurrahman"),
    ("Al-Hassan", "Alhassan", "El Hassan", "Hassan"),
    ("Khaled", "Khalid", "Chaled"),
    ("Hosseini", "Husseini", "Hussaini"),
    ("Othman", "Osman", "Uthman"),
    ("Mujtaba", "Modschtaba"),
    ("Fatemeh", "Fatima"),
]
DIFFERENT = [("Ahmad", "Hamid"), ("Tesfay", "Tsegay"), ("Karimi", "Rahimi"), ("Omar", "Amin")]
# Known coarseness: the skeleton keeps no vowels, so Omar and Amir share a key (amr);
# the birth date and nationality in every token keep such pairs rare.


@pytest.mark.parametrize("variants", SAME, ids=lambda v: v[0])
def test_the_romanisations_of_one_name_give_one_key(variants: tuple[str, ...]) -> None:
    assert len({name_key(v) for v in variants}) == 1


@pytest.mark.parametrize("pair", DIFFERENT, ids=lambda p: "-".join(p))
def test_different_names_give_different_keys(pair: tuple[str, str]) -> None:
    assert name_key(pair[0]) != name_key(pair[1])


def test_a_name_without_letters_gives_no_key_and_no_tokens() -> None:
    assert name_key("- 123 -") == ""
    assert plain_tokens(Identity("123", "--", date(2001, 5, 17), 2001, "AF")) == set()


def amina(**changes: object) -> Identity:
    fields: dict[str, object] = {
        "given_name": "Amina",
        "family_name": "Haidari",
        "birth_date": date(2001, 5, 7),
        "birth_year": 2001,
        "nationality": "AF",
    }
    fields.update(changes)
    return Identity(**fields)  # type: ignore[arg-type]


def dated(identity: Identity) -> set[tuple[str, str]]:
    return {t for t in plain_tokens(identity) if t[0] == "d"}


def test_swapped_names_and_swapped_day_and_month_share_a_token() -> None:
    assert dated(amina()) & dated(amina(given_name="Haydari", family_name="Amina"))
    assert dated(amina()) & dated(amina(birth_date=date(2001, 7, 5)))


def test_another_birth_date_or_nationality_shares_no_dated_token() -> None:
    assert not dated(amina()) & dated(amina(birth_date=date(2001, 5, 8)))
    assert not dated(amina()) & dated(amina(nationality="IR"))


def test_without_a_birth_date_only_year_tokens_are_made() -> None:
    undated = plain_tokens(amina(birth_date=None))
    assert undated
    assert {kind for kind, _ in undated} == {"y"}
    assert undated & plain_tokens(amina())


def test_tokens_are_keyed_so_another_key_gives_other_tokens() -> None:
    one = {t for _, t in tokens(b"k" * 32, amina())}
    other = {t for _, t in tokens(b"x" * 32, amina())}
    assert one
    assert not one & other
    # Nothing of the name is in a token: 32 bytes of HMAC-SHA256 each.
    assert all(len(t) == 32 and b"amina" not in t.lower() for t in one)


def test_recall_and_precision_on_a_generated_set_meet_the_target() -> None:
    path = Path(__file__).resolve().parents[2] / "bench" / "duplicates.py"
    spec = importlib.util.spec_from_file_location("bench_duplicates", path)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_duplicates"] = bench
    spec.loader.exec_module(bench)

    figures = bench.measure(people=4000, share=0.1, seed=3)

    assert figures.true_pairs > 300
    assert figures.recall >= 0.95, figures
    assert figures.precision >= 0.9, figures
