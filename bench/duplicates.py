"""Precision and recall of duplicate detection (``domain.duplicates``) on a generated set.

The set imitates the programme's participants: young refugees from Syria and Iraq
(Arabic names), Afghanistan (Dari names) and Eritrea and Ethiopia (Tigrinya names),
born 1996-2006. Names are drawn from small pools with a few very common ones
(Mohammed, Ahmad, Yohannes...), so many *different* people share a name, a
nationality and a birth year, and some even a birth date: precision is a real test.

A share of the people is registered twice (at two providers, or twice at one). The
second record varies the first the ways it happens at intake:

- another romanisation of the given and of the family name, as written in the
  pools below (Mohammed / Muhammad / Mohamad, Yusuf / Youssef / Jusuf, Tesfay /
  Tesfaye / Tesfai, Gebremedhin / Gebre Medhin, Abdulrahman / Abdul Rahman /
  Abdelrahman, Al-Hassan / Alhassan / El Hassan ...);
- given and family name swapped; day and month of the birth date swapped;
- capitals, diacritics (Yūsuf, Ḥusayn-style marks), hyphens and spaces;
- no birth date, only the year (the person did not know it at one intake).

A predicted pair is a pair of records sharing a token under the same matching rule
as ``storage.duplicates`` (any ``d`` token, or a ``y`` token when one of the two has
no birth date). Recall: true pairs found / true pairs; precision: true pairs found /
pairs predicted. Target: recall >= 0.95 at precision >= 0.9.

    .venv/bin/python bench/duplicates.py [--people 10000] [--share 0.1] [--seed 14]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lotse.domain.duplicates import Identity, name_key, plain_tokens  # noqa: E402

# Each inner tuple: romanisations of one name as they appear in German records.
# The first is drawn for the first record; any may be drawn for a second one.
ARABIC_GIVEN = (
    ("Mohammed", "Muhammad", "Mohamad", "Mohamed", "Mohammad", "Muhammed", "Mouhamad"),
    ("Ahmad", "Ahmed", "Achmed"),
    ("Yusuf", "Youssef", "Yousef", "Yussuf", "Jusuf", "Yosef"),
    ("Omar", "Umar", "Omer"),
    ("Hussein", "Husein", "Hussain", "Hossein", "Husain"),
    ("Khaled", "Khalid", "Chaled", "Haled"),
    ("Abdulrahman", "Abdul Rahman", "Abdelrahman", "Abd al-Rahman", "Abdurrahman"),
    ("Mustafa", "Mostafa", "Moustafa", "Mustapha"),
    ("Ibrahim", "Ebrahim", "Ibraheem"),
    ("Mahmoud", "Mahmud", "Mahmood"),
    ("Tariq", "Tarek", "Tarik"),
    ("Ali",),
    ("Hassan", "Hasan"),
    ("Bilal", "Belal"),
    ("Fatima", "Fatma", "Fatimah"),
    ("Aisha", "Aischa", "Ayesha"),
    ("Mariam", "Maryam", "Meryem"),
    ("Nour", "Noor", "Nur"),
    ("Rania", "Raniya"),
    ("Hiba", "Heba"),
    ("Abdullah", "Abdallah", "Abdollah"),
    ("Walid", "Waleed", "Oualid"),
)
ARABIC_FAMILY = (
    ("Al-Hassan", "Alhassan", "El Hassan", "Hassan"),
    ("Al-Khatib", "Alkhatib", "El-Khatib", "Khatib"),
    ("Haddad", "Hadad"),
    ("Al-Masri", "Elmasri", "Masri"),
    ("Abdullah", "Abdallah"),
    ("Hamdan",),
    ("Nasser", "Nasser", "Naser"),
    ("Saleh", "Salih", "Saleh"),
    ("Sheikh", "Shaikh", "Scheich"),
    ("Darwish", "Derwisch", "Darwesh"),
    ("Al-Ahmad", "Alahmad", "Ahmad"),
    ("Othman", "Osman", "Uthman"),
    ("Kassem", "Qassem", "Qasim", "Kasim"),
    ("Youssef", "Yousef", "Jussuf"),
    ("Suleiman", "Sulaiman", "Soleiman", "Suleyman"),
    ("Jaber", "Djaber", "Dschaber"),
    ("Al-Ali", "Alali", "El Ali"),
    ("Mansour", "Mansur", "Mansoor"),
)
DARI_GIVEN = (
    ("Mohammad", "Mohammed", "Muhammad", "Mohamad"),
    ("Ahmad", "Ahmed"),
    ("Gul Ahmad", "Gulahmad", "Gul Ahmed"),
    ("Nasrullah", "Nasrollah", "Nasrulla"),
    ("Zahra", "Zohra", "Sahra"),
    ("Farid", "Fareed"),
    ("Rahmatullah", "Rahmatollah", "Rahmatulla"),
    ("Sayed", "Sayyid", "Said"),
    ("Hamid", "Hameed"),
    ("Mujtaba", "Modschtaba", "Mojtaba"),
    ("Zainab", "Zeynab", "Seinab"),
    ("Ali Reza", "Alireza", "Ali Resa"),
    ("Mustafa", "Mostafa"),
    ("Shabnam",),
    ("Jawad", "Javad", "Dschawad"),
    ("Khadija", "Chadidscha", "Khadidja"),
    ("Massoud", "Masud", "Masood"),
)
DARI_FAMILY = (
    ("Ahmadi", "Ahmady", "Ahmedi"),
    ("Haidari", "Heidari", "Haydari"),
    ("Rahimi", "Rahemi"),
    ("Karimi", "Kerimi", "Karimy"),
    ("Hosseini", "Husseini", "Hussaini"),
    ("Mohammadi", "Muhammadi", "Mohamadi"),
    ("Noori", "Nuri", "Nouri"),
    ("Sultani", "Soltani"),
    ("Jafari", "Jaafari", "Dschafari"),
    ("Qaderi", "Kaderi", "Qadiri"),
    ("Wardak", "Vardak"),
    ("Rezaei", "Rezai", "Resai"),
    ("Safi", "Saafi"),
    ("Yousufzai", "Yusufzai", "Jusufsai"),
    ("Amiri", "Ameri"),
)
TIGRINYA_GIVEN = (
    ("Tesfay", "Tesfaye", "Tesfai"),
    ("Yohannes", "Johannes", "Yohanes"),
    ("Tsegay", "Tsegai", "Tsegaye"),
    ("Berhane", "Birhane", "Berhani"),
    ("Kidane", "Kidan"),
    ("Haile", "Hayle"),
    ("Mulugeta",),
    ("Senait", "Senayt"),
    ("Filmon", "Philemon", "Filemon"),
    ("Abraham", "Abrham"),
    ("Eyob", "Iyob", "Eyoub"),
    ("Semhar", "Semhar"),
    ("Medhanie", "Medhane", "Medhani"),
    ("Yonas", "Jonas", "Yonas"),
    ("Selam", "Salam"),
    ("Andemichael", "Andemikael"),
)
TIGRINYA_FAMILY = (
    ("Gebremedhin", "Gebre Medhin", "Gebremedin"),
    ("Gebreyesus", "Gebre Yesus", "Ghebreyesus"),
    ("Tekle", "Teklé"),
    ("Haile", "Hayle"),
    ("Weldemariam", "Woldemariam", "Welde Mariam"),
    ("Tesfamariam", "Tesfa Mariam", "Tesfamaryam"),
    ("Habte", "Habtay"),
    ("Kahsay", "Kahsai"),
    ("Asmerom", "Asmarom"),
    ("Berhe",),
    ("Ghebremichael", "Gebremichael", "Gebre Michael"),
    ("Tewelde", "Tewolde", "Teweldé"),
    ("Okbay", "Okbai"),
)
ORIGINS = (
    # (given names, family names, nationalities, share of participants)
    (ARABIC_GIVEN, ARABIC_FAMILY, ("SY", "IQ"), 0.45),
    (DARI_GIVEN, DARI_FAMILY, ("AF",), 0.35),
    (TIGRINYA_GIVEN, TIGRINYA_FAMILY, ("ER", "ET"), 0.20),
)
FIRST_BIRTH = date(1996, 1, 1)
BIRTH_DAYS = (date(2006, 12, 31) - FIRST_BIRTH).days
MARKS = {"a": "āá", "e": "éē", "i": "īí", "o": "ō", "u": "ūü", "h": "ḥ", "s": "ṣ", "d": "ḍ"}


#: A year token (a record without birth date) matches only when this few records hold it.
YEAR_HOLDERS = 2


@dataclass(frozen=True)
class Person:
    origin: int
    given: int
    family: int
    birth_date: date
    nationality: str


@dataclass(frozen=True)
class Record:
    person: int
    identity: Identity


def _zipf(rng: random.Random, n: int) -> int:
    """A few names very common, most rare: weight 1/(rank+1)."""
    return rng.choices(range(n), weights=[1 / (k + 1) for k in range(n)])[0]


def _person(rng: random.Random) -> Person:
    origin = rng.choices(range(len(ORIGINS)), weights=[o[3] for o in ORIGINS])[0]
    given, family, nationalities, _ = ORIGINS[origin]
    return Person(
        origin,
        _zipf(rng, len(given)),
        _zipf(rng, len(family)),
        FIRST_BIRTH + timedelta(days=rng.randrange(BIRTH_DAYS)),
        rng.choice(nationalities),
    )


def _written(rng: random.Random, name: str) -> str:
    """Capitals, diacritics, hyphens and spaces as different offices write them."""
    if rng.random() < 0.15:
        name = name.upper()
    if rng.random() < 0.1:
        chars = list(name)
        at = [i for i, ch in enumerate(chars) if ch.lower() in MARKS]
        if at:
            i = rng.choice(at)
            chars[i] = rng.choice(MARKS[chars[i].lower()])
        name = "".join(chars)
    if rng.random() < 0.05:
        name = name.replace(" ", "-")
    return name


def _record(rng: random.Random, number: int, p: Person, *, vary: bool) -> Record:
    givens, families, _, _ = ORIGINS[p.origin]
    given_variants, family_variants = givens[p.given], families[p.family]
    given = rng.choice(given_variants) if vary else given_variants[0]
    family = rng.choice(family_variants) if vary else family_variants[0]
    birth: date | None = p.birth_date
    if vary:
        given, family = _written(rng, given), _written(rng, family)
        if rng.random() < 0.2:
            given, family = family, given
        if p.birth_date.day <= 12 and rng.random() < 0.15:
            birth = p.birth_date.replace(month=p.birth_date.day, day=p.birth_date.month)
        if rng.random() < 0.05:
            birth = None
    identity = Identity(given, family, birth, p.birth_date.year, p.nationality)
    return Record(number, identity)


def generate(people: int, share: float, seed: int) -> list[Record]:
    """``people`` distinct people, ``share`` of them registered a second time."""
    rng = random.Random(seed)
    records: list[Record] = []
    for number in range(people):
        p = _person(rng)
        records.append(_record(rng, number, p, vary=False))
        if rng.random() < share:
            records.append(_record(rng, number, p, vary=True))
    rng.shuffle(records)
    return records


@dataclass(frozen=True)
class Figures:
    records: int
    true_pairs: int
    predicted: int
    found: int
    #: False pairs of people identical in every compared field (see ``indistinguishable``).
    identical: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.true_pairs if self.true_pairs else 1.0

    @property
    def precision(self) -> float:
        return self.found / self.predicted if self.predicted else 1.0


def predicted_pairs(records: list[Record]) -> set[tuple[int, int]]:
    """Pairs of record indexes sharing a token, by ``storage.duplicates``' rule."""
    by_token: dict[tuple[str, str], list[int]] = defaultdict(list)
    dated: list[bool] = []
    for i, r in enumerate(records):
        dated.append(r.identity.birth_date is not None)
        for token in plain_tokens(r.identity):
            by_token[token].append(i)
    pairs: set[tuple[int, int]] = set()
    for (kind, _), holders in by_token.items():
        for a, b in combinations(sorted(holders), 2):
            if kind == "d" or (len(holders) <= YEAR_HOLDERS and not (dated[a] and dated[b])):
                pairs.add((a, b))
    return pairs


def exact_pairs(records: list[Record]) -> set[tuple[int, int]]:
    """The baseline: the same names (case folded, either order) and birth date."""
    by_key: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        names = tuple(sorted((r.identity.given_name.casefold(), r.identity.family_name.casefold())))
        by_key[(names, r.identity.birth_date, r.identity.nationality)].append(i)
    return {pair for holders in by_key.values() for pair in combinations(sorted(holders), 2)}


def indistinguishable(records: list[Record], pairs: set[tuple[int, int]]) -> int:
    """Pairs of different people whose name keys, birth date and nationality are equal:
    no comparison of these fields could tell them apart."""

    def canonical(i: int) -> tuple[object, ...]:
        x = records[i].identity
        keys = tuple(sorted((name_key(x.given_name), name_key(x.family_name))))
        return (keys, x.birth_date, x.nationality)

    return sum(
        1
        for a, b in pairs
        if records[a].person != records[b].person and canonical(a) == canonical(b)
    )


def measure(people: int, share: float, seed: int, *, baseline: bool = False) -> Figures:
    records = generate(people, share, seed)
    by_person: dict[int, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_person[r.person].append(i)
    true_pairs = {
        (a, b) for holders in by_person.values() for a, b in combinations(sorted(holders), 2)
    }
    pairs = exact_pairs(records) if baseline else predicted_pairs(records)
    return Figures(
        len(records),
        len(true_pairs),
        len(pairs),
        len(pairs & true_pairs),
        indistinguishable(records, pairs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    for name, baseline in (("exact names + birth date (baseline)", True), ("lotse", False)):
        started = time.perf_counter()
        f = measure(args.people, args.share, args.seed, baseline=baseline)
        seconds = time.perf_counter() - started
        print(
            f"{name}: records {f.records}, true pairs {f.true_pairs}, predicted {f.predicted}, "
            f"found {f.found}: recall {f.recall:.3f}, precision {f.precision:.3f}; "
            f"false pairs identical in every compared field {f.identical} ({seconds:.1f} s)"
        )
    print("target: recall >= 0.95 at precision >= 0.9")


if __name__ == "__main__":
    main()
