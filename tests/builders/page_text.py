"""What a person reads on a page, and the raw codes in it that should have been labels."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from lotse.domain.access import Role
from lotse.domain.classification import event_classes
from lotse.domain.labels import VOCABULARY

#: Ids of the test configuration that a page must show by name.
ORGANISATIONS = ("caritas-ahlen", "warendorf", "durchstarten")


class VisibleText(HTMLParser):
    """The text a browser shows: element content outside script, style and head."""

    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible(page: str) -> str:
    parser = VisibleText()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def raw_codes(text: str) -> list[str]:
    """The codes in a page's visible text (case-sensitive: "Duldung" is German, "duldung" not)."""
    found = re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", text)  # schema names, snake_case values
    found += [t for t in ORGANISATIONS if re.search(rf"(?<![\w-]){t}(?![\w-])", text)]
    found += [t for t in event_classes() if re.search(rf"\b{t}\b", text)]
    found += [r.value for r in Role if re.search(rf"\b{r.value}\b", text)]
    for enum, labels in VOCABULARY.items():
        if enum is Role:
            continue
        for value in enum:
            code = str(value.value)
            if code in labels[value] or not re.search(rf"(?<![\w-]){re.escape(code)}\b", text):
                continue
            found.append(f"{enum.__name__}.{code}")
    found += re.findall(r"\bIR\b", text)  # the journey's nationality as a code
    found += re.findall(r"\bF\d\b(?! [-–] )", text)  # noqa: RUF001 (a module code, no name)
    return found
