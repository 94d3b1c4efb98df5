"""All read models, by name."""

from __future__ import annotations

from typing import Any

from lotse.projections.course_quarters import CourseQuarters
from lotse.projections.courses import CoursesProjection
from lotse.projections.data_quality import DataQuality
from lotse.projections.model import Projection
from lotse.projections.module_stays import ModuleStays
from lotse.projections.outcomes import OutcomesProjection
from lotse.projections.participants import Participants
from lotse.projections.person_facts import PersonFacts
from lotse.projections.person_links import PersonLinks
from lotse.projections.referrals import ReferralsProjection
from lotse.projections.timeline import TimelineProjection
from lotse.projections.transitions import TransitionsProjection
from lotse.projections.units import UnitsProjection
from lotse.projections.users import UsersProjection
from lotse.projections.worklist import Worklist

PROJECTIONS: dict[str, Projection[Any]] = {
    p.name: p
    for p in (
        Participants(),
        TimelineProjection(),
        ModuleStays(),
        OutcomesProjection(),
        UnitsProjection(),
        TransitionsProjection(),
        CoursesProjection(),
        CourseQuarters(),
        ReferralsProjection(),
        PersonFacts(),
        UsersProjection(),
        Worklist(),
        DataQuality(),
        PersonLinks(),
    )
}
