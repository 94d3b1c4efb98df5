"""A report's figures as cells, the linear relations between them, and its tables.

Every figure of a report is a *cell* with a key (``("entries", "warendorf", "F4",
"2021-Q2")``). Cells that add up to another cell (a row total, the municipalities'
sum, this quarter's stock = last quarter's + entries - exits) form a *relation*;
suppression needs them to know which published cells would reveal a hidden one.
Tables only arrange cells (and literals, and shares derived from two cells), so
the same figure is hidden everywhere or nowhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

Key = tuple[str, ...]
Number = int | Decimal
TOTAL = "_all"
"""The key part of a total over municipalities, modules or providers."""


def key_text(key: Key) -> str:
    return "|".join(key)


def text_key(text: str) -> Key:
    return tuple(text.split("|"))


@dataclass(frozen=True)
class Cell:
    key: Key


@dataclass(frozen=True)
class Share:
    """``part`` as a percentage of ``whole``, one decimal; hidden if either is hidden."""

    part: Key
    whole: Key


Value = str | int | Decimal | None | Cell | Share


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    """German header, as the funder's templates name it."""


@dataclass
class TableDef:
    name: str
    title: str
    columns: list[Column]
    rows: list[list[Value]] = field(default_factory=list)


@dataclass
class Figures:
    """Everything a report computed, before publication."""

    cells: dict[Key, Number] = field(default_factory=dict)
    relations: list[tuple[Key, ...]] = field(default_factory=list)
    sensitive: set[Key] = field(default_factory=set)
    """Cells that count people (stays, exits, outcomes): subject to small-cell protection."""
    tables: list[TableDef] = field(default_factory=list)
    known: set[Key] = field(default_factory=set)
    """Cells a reader knows from elsewhere (an earlier release, the programme's start):
    never hidden, and never the cell whose hiding protects another."""

    def add(self, key: Key, value: Number = 0, *, sensitive: bool = True) -> None:
        self.cells[key] = self.cells.get(key, 0) + value
        if sensitive:
            self.sensitive.add(key)

    def relate(self, total: Key, parts: Iterable[Key]) -> None:
        """``total`` is the sum (or a signed sum) of ``parts``."""
        members = (total, *parts)
        if len(members) > 1:
            self.relations.append(members)

    def value(self, key: Key) -> Number:
        return self.cells.get(key, 0)


def share(part: Number, whole: Number) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def json_number(value: Any) -> Any:
    """Money and hours as exact decimal strings; counts stay integers."""
    if isinstance(value, Decimal):
        return str(value)
    return value


def publish(figures: Figures, hidden: set[Key]) -> dict[str, Any]:
    """Resolve the tables: values (``None`` where hidden) and the hidden positions."""
    tables: dict[str, Any] = {}
    cells = figures.cells
    for table in figures.tables:
        rows: list[list[Any]] = []
        suppressed: list[list[int]] = []
        for r, row in enumerate(table.rows):
            values: list[Any] = []
            for c, item in enumerate(row):
                # Tens of thousands of cells in a statewide report: the common cases
                # first, without a method call per cell.
                if type(item) is Cell:
                    if item.key in hidden:
                        values.append(None)
                        suppressed.append([r, c])
                    else:
                        value = cells.get(item.key, 0)
                        values.append(str(value) if type(value) is Decimal else value)
                elif type(item) is str or item is None:
                    values.append(item)
                elif isinstance(item, Share):
                    if item.part in hidden or item.whole in hidden:
                        values.append(None)
                        suppressed.append([r, c])
                    else:
                        ratio = share(figures.value(item.part), figures.value(item.whole))
                        values.append(json_number(ratio))
                else:
                    values.append(json_number(item))
            rows.append(values)
        tables[table.name] = {
            "title": table.title,
            "columns": [{"key": col.key, "label": col.label} for col in table.columns],
            "rows": rows,
            "suppressed": suppressed,
        }
    return tables


def cells_json(cells: dict[Key, Number]) -> dict[str, Any]:
    return {key_text(k): json_number(v) for k, v in sorted(cells.items())}


def cells_from_json(data: dict[str, Any]) -> dict[Key, Number]:
    return {text_key(k): Decimal(v) if isinstance(v, str) else int(v) for k, v in data.items()}


def diff_cells(
    before: dict[Key, Number], after: dict[Key, Number], keys: Sequence[Key] | None = None
) -> list[tuple[Key, Number, Number]]:
    """Cells whose value differs, as (key, before, after); absent cells count as 0."""
    every = sorted(set(before) | set(after)) if keys is None else list(keys)
    return [
        (k, before.get(k, 0), after.get(k, 0)) for k in every if before.get(k, 0) != after.get(k, 0)
    ]
