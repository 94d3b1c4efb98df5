"""Duplicate detection without revealing names: keyed pseudonyms of normalised names.

The same young person may be registered at two providers (or twice at one), with
the name romanised differently each time: Mohammed / Muhammad / Mohamad, Youssef /
Yusuf, Tesfay / Tesfaye / Tesfai, Gebremedhin / Gebre Medhin, given and family
name swapped, day and month of the birth date swapped. Comparing the names in clear
across providers would show every provider everybody's names, so only keyed
pseudonyms are compared: ``HMAC-SHA256(server key, name key | birth date |
nationality)``. Without the server key a stored token cannot be tested against a
guessed name, and the tokens are deleted with the participant's data key on erasure.

The name key is a coarse phonetic skeleton, so that the romanisations of one name
agree while different names mostly do not:

1. Unicode compatibility decomposition without combining marks (Yūsuf -> yusuf),
   case folded, anything but letters a separator.
2. Particles dropped as words (al-, el-, ul-, bin, ibn, von, de, ...), and the
   an article written together (Alhassan) dropped, the
   ``abd`` prefix with its article unified (Abdul/Abdel/Abd al-/Abdol -> abd).
3. Words joined: "Gebre Medhin" and "Gebremedhin" are the same key.
4. Transliteration variants collapsed: kh/ch -> h, gh -> g, ph -> f, q/c/ck -> k,
   dj/dsch/j/y -> i (Jusuf/Yusuf, Johannes/Yohannes), sch -> sh, th -> s
   (Othman/Osman), dh -> d, w -> v, z -> s, ou/oo -> u, ee/ie -> i, a word-final h
   after a vowel dropped (Fatemeh -> fateme), then double letters collapsed.
5. The consonant skeleton: the first letter (any vowel counts as ``a``) and the
   consonants after it (Muhammad, Mohammed, Mohamad -> mhmd).

Blocking tokens per person (a candidate pair is a pair sharing one token):

- ``c``: the name key of given and family name written as one, the smaller of both
  orders (swapped names, a name split differently between the two fields);
- ``f``: the first given name and the family name, in sorted order (an extra given
  name in one of the records);

each with the birth date and, when the day is 12 or less, with day and month
swapped, and the nationality. A person without a birth date gets ``y`` tokens with
the birth year instead; those match only a record that has no birth date either,
or every record's year token (kind ``y``) against one without a date
(``storage.duplicates``): otherwise all the Mohammeds of a year would match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol
from uuid import UUID

#: Words dropped before joining (Arabic articles, genealogical and other particles).
PARTICLES = frozenset(
    {"al", "el", "ul", "ol", "ad", "ar", "as", "at", "az", "ash", "ed", "er", "es"}
    | {"bin", "ben", "ibn", "bint", "von", "van", "der", "de", "da", "di", "du", "la", "le"}
)
_ABD = re.compile(r"^abd(?:u|e|o|a)?l?")
#: Transliteration variants, applied in order to the joined, lower-case name.
_REWRITES: tuple[tuple[str, str], ...] = (
    ("dsch", "j"),
    ("tsch", "ch"),
    ("sch", "sh"),
    ("dj", "j"),
    ("kh", "h"),
    ("ch", "h"),
    ("gh", "g"),
    ("ph", "f"),
    ("ck", "k"),
    ("q", "k"),
    ("c", "k"),
    ("th", "s"),
    ("dh", "d"),
    ("w", "v"),
    ("z", "s"),
    ("x", "ks"),
    ("ou", "u"),
    ("oo", "u"),
    ("ee", "i"),
    ("ie", "i"),
    ("y", "i"),
    ("j", "i"),
)
_VOWELS = frozenset("aeiou")
_FINAL_H = re.compile(r"(?<=[aeiou])h\b")
_DOUBLE = re.compile(r"(.)\1+")

TokenKind = Literal["d", "y"]
Scope = Literal["municipality", "elsewhere"]


def _words(name: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(
        ch if ("a" <= ch <= "z") else " "
        for ch in decomposed.replace("ß", "ss")
        if not unicodedata.combining(ch)
    )
    return [_article(w) for w in plain.split() if w not in PARTICLES]


def _article(word: str) -> str:
    """An article written together with the name (Alhassan, Elmasri) is dropped too."""
    if word[:2] in ("al", "el") and len(word) >= 6:
        return word[2:]
    return word


def name_key(name: str) -> str:
    """The phonetic skeleton of a name (several words are one name); '' if no letters."""
    words = [_ABD.sub("abd", w) for w in _words(name)]
    # The abd prefix standing alone ("Abdul Rahman") joins the next word as one.
    joined = "".join(words)
    if not joined:
        return ""
    for old, new in _REWRITES:
        joined = joined.replace(old, new)
    joined = _FINAL_H.sub("", joined)
    joined = _DOUBLE.sub(r"\1", joined)
    if not joined:
        return ""
    first = "a" if joined[0] in _VOWELS else joined[0]
    rest = "".join(ch for ch in joined[1:] if ch not in _VOWELS)
    return _DOUBLE.sub(r"\1", first + rest)


def _first_word(name: str) -> str:
    words = _words(name)
    return words[0] if words else ""


def birth_dates(birth_date: date) -> list[date]:
    """The birth date, and day and month swapped when that is a date too."""
    dates = [birth_date]
    if birth_date.day <= 12 and birth_date.day != birth_date.month:
        dates.append(birth_date.replace(month=birth_date.day, day=birth_date.month))
    return dates


@dataclass(frozen=True)
class Identity:
    """What is compared: never stored, only passed to :func:`tokens`."""

    given_name: str
    family_name: str
    birth_date: date | None
    birth_year: int
    nationality: str


def plain_tokens(identity: Identity) -> set[tuple[TokenKind, str]]:
    """The blocking keys in clear (only for :func:`tokens` and the tests)."""
    given, family = name_key(identity.given_name), name_key(identity.family_name)
    if not given and not family:
        return set()
    both = min(
        name_key(f"{identity.given_name} {identity.family_name}"),
        name_key(f"{identity.family_name} {identity.given_name}"),
    )
    first = name_key(_first_word(identity.given_name))
    pair = "|".join(sorted((first, family)))
    nationality = identity.nationality.upper()
    found: set[tuple[TokenKind, str]] = set()
    if identity.birth_date is None:
        days = [str(identity.birth_year)]
        kind: TokenKind = "y"
    else:
        days = [d.isoformat() for d in birth_dates(identity.birth_date)]
        kind = "d"
    for day in days:
        found.add((kind, f"c:{both}:{day}:{nationality}"))
        found.add((kind, f"f:{pair}:{day}:{nationality}"))
    if identity.birth_date is not None:
        # Matched only against records without a birth date (storage.duplicates).
        found.add(("y", f"c:{both}:{identity.birth_date.year}:{nationality}"))
        found.add(("y", f"f:{pair}:{identity.birth_date.year}:{nationality}"))
    return found


def tokens(key: bytes, identity: Identity) -> set[tuple[TokenKind, bytes]]:
    """The keyed pseudonyms of a person: HMAC-SHA256 under the server key."""
    return {
        (kind, hmac.new(key, text.encode(), hashlib.sha256).digest())
        for kind, text in plain_tokens(identity)
    }


@dataclass(frozen=True)
class Candidate:
    """Another participant sharing a token: only its placement, never its data."""

    participant_id: UUID
    provider: str
    municipality: str


class DuplicateIndex(Protocol):
    """Stores a participant's pseudonyms and finds others sharing one (``storage``)."""

    def record(
        self,
        participant_id: UUID,
        programme: str,
        provider: str,
        municipality: str,
        found: set[tuple[TokenKind, bytes]],
    ) -> list[Candidate]:
        """Store the tokens (replacing earlier ones); the other participants matching."""

    def paired(self, a: UUID, b: UUID) -> bool:
        """Whether two participants are a candidate pair (share a token by the rule)."""


def scope_of(candidates: list[Candidate], municipality: str) -> Scope | None:
    """What a case worker is told: in their municipality, elsewhere, or nothing."""
    if not candidates:
        return None
    if any(c.municipality == municipality for c in candidates):
        return "municipality"
    return "elsewhere"
