"""Protection of published releases: random rounding to base 5, fixed per cell, anchored.

Suppression alone does not survive two releases: a cell hidden in one release and
shown in the next, a total that moved by one, or the stock identity across two
cut-offs gives a person away. Releases therefore publish no exact person count:

- **Random rounding with a fixed seed per cell** (the idea of the cell key method
  that statistical offices use). A count ``v = 5k + r`` is published as ``5k`` or
  ``5k + 5``, rounded up when ``r > t``, where ``t`` in 0..4 is drawn from an HMAC
  of the cell's key and ``k`` under a secret of the installation. The rounding is
  unbiased (up with probability ``r/5``), multiples of 5 and zeros stay exact, and
  the same cell with the same count is always published the same way, so asking
  again (or for another scope that contains the cell) teaches nothing new.
- **Anchoring across releases.** A cell that an earlier release already published
  keeps that published value while its true count stays within 4 of the count then:
  a late entry or a correction of one to four people changes no published cell at
  all. Only a drift of 5 or more rounds afresh.
- **Anchored by the cell's key alone.** ``entries|koeln|F4|2021-Q1`` is the same
  figure in every release that contains the quarter, and a characteristic of the
  entries (``char|koeln|F4|entries|nationality|SY``) follows the same anchor from
  one period's release to the next: one person more or less between two releases
  moves no published cell, whichever two releases are compared. The price: a
  published count may differ from the true one by up to 8 (4 of drift, 4 of
  rounding), where fresh rounding would be off by at most 4.

Money, lesson hours and other non-person figures are published exactly. Shares
are computed from the published counts. See the README (Reports) for what an
attacker holding several releases can and cannot learn.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from lotse.reports.cells import Figures, Key, Number, key_text

BASE = 5


def release_key(key: Key) -> str:
    """The key under which a cell is rounded and anchored across releases."""
    return key_text(key)


def threshold(secret: bytes, key: str, block: int) -> int:
    digest = hmac.new(secret, f"{key}|{block}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % BASE


def round_count(secret: bytes, key: str, value: int) -> int:
    """``value`` randomly rounded to a multiple of ``BASE``, the same way every time."""
    block, rest = divmod(value, BASE)
    if rest == 0:
        return value
    return BASE * (block + (1 if rest > threshold(secret, key, block) else 0))


@dataclass(frozen=True)
class Anchor:
    """What an earlier release published for a cell, and the true count behind it."""

    true: int
    published: int


def protect(figures: Figures, secret: bytes, anchors: Mapping[str, Anchor]) -> dict[Key, Number]:
    """The published values of every person count (other cells are left out)."""
    published: dict[Key, Number] = {}
    for key in figures.sensitive:
        value = int(figures.value(key))
        rkey = release_key(key)
        anchor = anchors.get(rkey)
        if anchor is not None and abs(value - anchor.true) < BASE:
            published[key] = anchor.published
        else:
            published[key] = round_count(secret, rkey, value)
    return published


def rounding_secret(secret_key: str) -> bytes:
    """The seed of the rounding, derived from the installation's secret (never stored)."""
    return hmac.new(secret_key.encode(), b"lotse-report-rounding", hashlib.sha256).digest()
