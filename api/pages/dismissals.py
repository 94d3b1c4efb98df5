"""Verwerfen: take a due-list item off the participant's Wiedervorlage, with a reason.

The same milestone as ``POST /participants/{id}/worklist/dismissals`` records
(``WorklistItemDismissed`` through ``Journeys.record_milestone``, validated by its
request schema), with the form's Idempotency-Key and the page's version; a
refusal is shown at the head of the participant's page in German.
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from lotse.api.deps import RuntimeDep
from lotse.api.pages.forms import form_fields, validate
from lotse.api.pages.participant import (
    form_key,
    form_version,
    parse_id,
    participant_page,
    record_refusal,
)
from lotse.api.pages.rendering import redirect
from lotse.api.pages.routing import STALE, page_router
from lotse.api.pages.visitors import SignedIn
from lotse.api.problems import status_for
from lotse.api.routes.participants import request_key
from lotse.api.schemas import MILESTONE_MODELS, WorklistItemDismissedCreate
from lotse.domain.access import check_may_record_milestones
from lotse.domain.errors import DomainError, ParticipantNotFoundError, VersionConflictError
from lotse.domain.labels import rule_label

router = page_router()

MILESTONE = "WorklistItemDismissed"
FIELDS = form_fields(MILESTONE_MODELS[MILESTONE])
NO_REASON = "Bitte wählen Sie einen Grund. Es wurde nichts gespeichert."


@router.post("/teilnehmende/{participant_id}/wiedervorlage")
async def dismiss(
    request: Request, runtime: RuntimeDep, visitor: SignedIn, participant_id: str
) -> Response:
    pid = parse_id(participant_id)
    principal = visitor.principal
    check_may_record_milestones(principal)
    form = await request.form()
    body, errors = validate(MILESTONE_MODELS[MILESTONE], FIELDS, form, type=MILESTONE)
    if body is None:
        # Kind, due date and date come from the page; only the reason is chosen.
        notice = NO_REASON if "reason" in errors else rule_label("invalid-input")
        return await participant_page(
            request, runtime, visitor, pid, notice=notice, status_code=422
        )
    assert isinstance(body, WorklistItemDismissedCreate)
    key = form_key(form)
    try:
        result = await run_in_threadpool(
            lambda: runtime.journeys.record_milestone(
                principal,
                request.state.request_id,
                pid,
                MILESTONE,
                body.effective_date,
                expected_version=form_version(form),
                request_key=request_key(
                    principal, key, "milestone", f"/participants/{pid}/milestones", body
                ),
                kind=body.kind.value,
                due_date=body.due_date,
                reason=body.reason.value,
            )
        )
    except ParticipantNotFoundError:
        await record_refusal(runtime, request, principal, pid)
        raise
    except VersionConflictError:
        return await participant_page(request, runtime, visitor, pid, notice=STALE, status_code=409)
    except DomainError as e:
        return await participant_page(
            request,
            runtime,
            visitor,
            pid,
            notice=rule_label(e.rule) or rule_label("domain-error"),
            status_code=status_for(e),
        )
    return redirect(
        f"/teilnehmende/{pid}?stand={result.position}&gespeichert={MILESTONE}#wiedervorlage"
    )
