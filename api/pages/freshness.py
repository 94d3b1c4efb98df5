"""Read-your-writes for pages: after a form post, the next page shows the entry.

A write answers with its position in the notification log; the page it redirects
to carries it as ``?stand=N`` (a number, nothing personal) and waits briefly until
the read models include it, as the JSON API's ``min_position`` does. A page whose
read models do not catch up in time is shown anyway, with what they hold.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from lotse.api.readmodels import ReadModels

#: Taken as text: a mangled value is ignored rather than failing the page.
Stand = Annotated[str | None, Query()]


async def catch_up(reads: ReadModels, names: tuple[str, ...], stand: str | int | None) -> bool:
    """Wait until ``names`` include the position ``stand``; ``False`` if not in time."""
    if stand is None or not str(stand).isdigit() or len(str(stand)) > 18:
        return True
    position = int(stand)
    if position > await reads.head():
        return True  # no completed write has it: nothing to wait for
    return bool(await reads.wait_for(names, position))
