"""Charts for the narrative report (Sachbericht), drawn from a published document.

Drawn from the published tables, so a suppressed value is never drawn: it is left
out (no bar, no point) and the caption says so. matplotlib's Agg backend: no display.
"""

from __future__ import annotations

import io
from typing import Any

from lotse.reports.labels import ALL_MODULES, ALL_MUNICIPALITIES

CHARTS: dict[str, tuple[str, ...]] = {
    "monitoring": ("flows",),
    "outcomes": ("destinations",),
    "financial": (),
}


def _column(table: dict[str, Any], key: str) -> int:
    return next(i for i, c in enumerate(table["columns"]) if c["key"] == key)


def _total_rows(table: dict[str, Any]) -> list[list[Any]]:
    rows = table["rows"]
    m = _column(table, "municipality")
    mod = _column(table, "module")
    totals = [r for r in rows if r[m] == ALL_MUNICIPALITIES and r[mod] == ALL_MODULES]
    if not totals:  # one municipality: its own total row
        totals = [r for r in rows if r[mod] == ALL_MODULES]
    return totals


def _figure_bytes(fig: Any, extension: str) -> bytes:
    out = io.BytesIO()
    metadata = {"Date": None} if extension == "svg" else {"Software": None}
    fig.savefig(out, format=extension, dpi=120, bbox_inches="tight", metadata=metadata)
    return out.getvalue()


def render_chart(document: dict[str, Any], name: str, extension: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = document["run"]
    period = run["parameters"]["period"]
    hidden_note = "Gesperrte Werte (unter {}) nicht dargestellt.".format(run["threshold"])
    if name == "flows":
        table = document["tables"]["quartale"]
        rows = _total_rows(table)
        q, e, x, s = (_column(table, k) for k in ("quarter", "entries", "exits", "stock"))
        labels = [r[q] for r in rows]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        positions = range(len(rows))
        width = 0.38

        def values(col: int) -> list[float]:
            return [float(r[col]) if r[col] is not None else float("nan") for r in rows]

        ax.bar(
            [p - width / 2 for p in positions], values(e), width, label="Eintritte", color="#2b6cb0"
        )
        ax.bar(
            [p + width / 2 for p in positions], values(x), width, label="Austritte", color="#dd6b20"
        )
        ax.plot(
            list(positions), values(s), marker="o", color="#2f855a", label="Bestand am Stichtag"
        )
        ax.set_xticks(list(positions), labels)
        ax.set_ylabel("Teilnahmen")
        ax.set_title(f"Eintritte, Austritte und Bestand je Quartal ({period})")
    elif name == "destinations":
        table = document["tables"]["verbleib"]
        rows = _total_rows(table)
        moment = _column(table, "moment")
        destination_columns = [
            (i, c["label"])
            for i, c in enumerate(table["columns"])
            if c["key"] not in ("municipality", "module", "moment", "total")
        ]
        fig, ax = plt.subplots(figsize=(8, 4.5))
        height = 0.38
        for offset, row, color in zip(
            (-height / 2, height / 2), rows, ("#2b6cb0", "#dd6b20"), strict=False
        ):
            ax.barh(
                [i + offset for i in range(len(destination_columns))],
                [
                    float(row[i]) if row[i] is not None else float("nan")
                    for i, _ in destination_columns
                ],
                height,
                label=row[moment],
                color=color,
            )
        ax.set_yticks(range(len(destination_columns)), [label for _, label in destination_columns])
        ax.invert_yaxis()
        ax.set_xlabel("Personen")
        ax.set_title(f"Verbleib bei Austritt und bei Nachbefragung ({period})")
    else:
        msg = f"unknown chart {name!r}"
        raise ValueError(msg)
    ax.legend()
    if run["suppressed"]:
        fig.text(0.01, -0.02, hidden_note, fontsize=8)
    try:
        return _figure_bytes(fig, extension)
    finally:
        plt.close(fig)
