"""Which characters a text field accepts: one rule for the API, the CLI and the domain.

Every string a client sends ends up in an event, in read models (PostgreSQL
``text`` columns) and on someone's screen. PostgreSQL refuses NUL in ``text``, so a
NUL that got into one event stopped a read model for good; other control characters
forge log lines or hide text; lone surrogates cannot be encoded as UTF-8; bidi
overrides make an identifier read differently from what it is. Two kinds of field:

- **line** (names, codes, occupations, employers, languages, ids): one line of
  printable text; no control character at all (not even tab or newline), no line or
  paragraph separator, no bidi embedding/override/isolate, no byte order mark.
  Marks that scripts need stay allowed: ZWNJ/ZWJ (Persian, Arabic) and the
  left-to-right / right-to-left marks.
- **free text** (a reason, a justification): may also hold tab, newline and
  carriage return (a browser sends a textarea's line breaks as CR LF), and bidi
  controls, which right-to-left writers paste from other programs.

Everywhere refused: NUL and every other C0/C1 control (Unicode category Cc) not
allowed above, lone surrogates (Cs) and the noncharacters (U+FDD0..U+FDEF and every
U+xxFFFE/U+xxFFFF). The messages name the field and the kind of character, never
the value.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

from lotse.domain.errors import InvalidInputError

#: Allowed in free text only.
FREE_TEXT_WHITESPACE = frozenset("\t\n\r")
#: Bidi embeddings, overrides and isolates (Trojan Source), refused in lines.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Refused in lines: line/paragraph separators and the byte order mark.
LINE_BREAKING = frozenset("\u2028\u2029\ufeff")

#: Fields that may hold several lines, by ``Event.field`` (corrections of them too).
FREE_TEXT_FIELDS = frozenset(
    {
        "Registered.age_exception_reason",
        "EligibilityAssessed.justification",
        "EntryCorrected.reason",
    }
)


def is_free_text(event_type: str, field: str) -> bool:
    return f"{event_type}.{field}" in FREE_TEXT_FIELDS


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def refusal(value: str, *, free_text: bool) -> str | None:
    """Why ``value`` is refused (a phrase without the value), or None when it is fine."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            if free_text and char in FREE_TEXT_WHITESPACE:
                continue
            if char in FREE_TEXT_WHITESPACE:
                return "must be a single line (no tab or line break)"
            return "must not contain control characters"
        if category == "Cs":
            return "must not contain unpaired surrogates"
        if _is_noncharacter(ord(char)):
            return "must not contain Unicode noncharacters"
        if not free_text and (char in BIDI_CONTROLS or char in LINE_BREAKING):
            return "must not contain bidi controls, line separators or byte order marks"
    return None


def check_text(field: str, value: str, *, free_text: bool = False) -> None:
    """Raise InvalidInputError naming ``field`` when ``value`` holds a refused character."""
    reason = refusal(value, free_text=free_text)
    if reason is not None:
        msg = f"{field} {reason}"
        raise InvalidInputError(msg, field=field, rule="invalid-characters")


def _strings(path: str, value: Any) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` (keys too), with a path naming where it sits."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                # The key itself is submitted data: name its container, not the key.
                yield path, key
            yield from _strings(f"{path}.{key}" if _safe_name(key) else path, item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(path, item)


def _safe_name(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and key.isascii() and len(key) <= 64


def check_event_text(event_type: str, data: Mapping[str, Any]) -> None:
    """The domain's last guard: every string of an event about to be recorded.

    Runs for every command, whether it came through HTTP, the CLI or the demo, and
    walks nested values (a correction's ``changes``, lists). A correction's changes
    follow the rule of the corrected event's field.
    """
    corrected_type = data.get("corrected_type")
    for name, value in data.items():
        if name == "changes" and isinstance(value, Mapping) and isinstance(corrected_type, str):
            for key, item in value.items():
                where = f"changes.{key}" if _safe_name(key) else "changes"
                free = is_free_text(corrected_type, key) if isinstance(key, str) else False
                if isinstance(key, str):
                    check_text("changes", key)
                for path, text in _strings(where, item):
                    check_text(path, text, free_text=free)
            continue
        free = is_free_text(event_type, name)
        for path, text in _strings(name, value):
            check_text(path, text, free_text=free)
