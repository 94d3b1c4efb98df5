"""All read models, by name."""

from __future__ import annotations

from typing import Any

from projections.courses import CoursesProjection
from projections.model import Projection
from projections.module_spans import ModuleSpans
from projections.outcomes import OutcomesProjection
from projections.participants import Participants
from projections.referrals import ReferralsProjection
from projections.timeline import TimelineProjection
from projections.transitions import TransitionsProjection
from projections.units import UnitsProjection

PROJECTIONS: dict[str, Projection[Any]] = {
    p.name: p
    for p in (
        Participants(),
        TimelineProjection(),
        ModuleSpans(),
        OutcomesProjection(),
        UnitsProjection(),
        TransitionsProjection(),
        CoursesProjection(),
        ReferralsProjection(),
    )
}
