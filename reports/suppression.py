"""Small-cell protection: primary and secondary suppression of person counts.

Published tables must not show how many people are in a small group (fewer than
``threshold``, default 3), nor let a reader work such a number out. *Primary*
suppression hides every sensitive cell with ``0 < value < threshold``. *Secondary*
suppression then looks at every linear relation between cells (a row and its total,
the municipalities and the state, last quarter's stock, this quarter's entries and
exits and this quarter's stock; before the first quarter of a report, the opening
stock, which a reader knows from the previous release or because the programme had
just begun): a relation with exactly one hidden cell gives it
away, so another cell of that relation is hidden as well, the smallest non-zero one
first (least information lost; hiding a zero beside a small count protects little).
This repeats until no relation has exactly one hidden cell, the rule statistical
offices apply to linked tables (as in tau-ARGUS's hypercube method, without its
cost optimisation).

Zeros are published: an empty cell is not a person. Money and lesson hours are not
person counts and are never hidden (the proof of use of funds needs them exact).
"""

from __future__ import annotations

from collections import defaultdict, deque

from lotse.reports.cells import Figures, Key

DEFAULT_THRESHOLD = 3


def primary(figures: Figures, threshold: int) -> set[Key]:
    return {k for k in figures.sensitive - figures.known if 0 < figures.cells.get(k, 0) < threshold}


def suppress(figures: Figures, threshold: int = DEFAULT_THRESHOLD) -> set[Key]:
    """The cells to hide; deterministic for the same figures."""
    hidden = primary(figures, threshold)
    relations_of: dict[Key, list[int]] = defaultdict(list)
    for i, relation in enumerate(figures.relations):
        for key in relation:
            relations_of[key].append(i)
    queue = deque(range(len(figures.relations)))
    queued = set(queue)
    while queue:
        i = queue.popleft()
        queued.discard(i)
        relation = figures.relations[i]
        if sum(1 for k in relation if k in hidden) != 1:
            continue
        candidates = [k for k in relation if k not in hidden and k not in figures.known]
        if not candidates:
            continue
        chosen = min(
            candidates, key=lambda k: (figures.cells.get(k, 0) == 0, figures.cells.get(k, 0), k)
        )
        hidden.add(chosen)
        for j in relations_of[chosen]:
            if j not in queued:
                queue.append(j)
                queued.add(j)
    return hidden


def recoverable(figures: Figures, hidden: set[Key]) -> list[Key]:
    """Hidden cells that a single relation gives away (must be empty): for tests."""
    found = []
    for relation in figures.relations:
        unknown = [k for k in relation if k in hidden and k not in figures.known]
        if len(unknown) == 1:
            found.append(unknown[0])
    return found
