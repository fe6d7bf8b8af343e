"""Operator review (``/review``): the queue of cases waiting, one case's form beside its call.

Opening a case takes it for review (:meth:`ReviewDesk.open_case`). Confirm and reject are plain
HTML form posts carrying the session's CSRF token and the revision the operator saw, so a case
changed meanwhile by someone else answers 409 with the operator's unsaved values still in the
form; nothing is overwritten unnoticed. What the machine filled in stays in the audit trail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from callscribe.callids import is_call_id
from callscribe.desk.models import CaseStatus
from callscribe.desk.review import MAX_SUMMARY_CHARS, MAX_TEXT_CHARS, ReviewDesk, ReviewFilter
from callscribe.desk.store import EmbeddedCaseDesk
from callscribe.errors import CaseNotFound, CaseStateConflict
from callscribe.schema import DISTRICTS
from callscribe.web.pages.common import PageUser, page_user, render, verify_csrf_form
from callscribe.web.pages.review_view import (
    FIELD_SPECS,
    QUEUE_STATUSES,
    clock,
    display_values,
    field_rows,
    history_rows,
    mmss,
    parse_queue_query,
    parse_values,
)

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

operator = page_user("operator")
Operator = Annotated[PageUser, Depends(operator)]

_MAX_FORM_FIELDS = 40
_MAX_FORM_PART = 9 * MAX_SUMMARY_CHARS + 1024
"""The longest summary the desk accepts, percent-encoded (three bytes a character, each %XX)."""
_NEXT_CANDIDATES = 50
_DONE = {"confirmed": "已确认 confirmed", "rejected": "已驳回 rejected"}


def _review_desk(request: Request) -> ReviewDesk:
    settings = request.app.state.settings
    return ReviewDesk(request.app.state.engine, low_confidence=settings.desk_low_confidence)


def _store(request: Request) -> EmbeddedCaseDesk:
    store: EmbeddedCaseDesk = request.app.state.desk
    return store


def _checked_call_id(call_id: str) -> str:
    if not is_call_id(call_id):
        raise HTTPException(404, "no such case: not a call id")
    return call_id


@router.get("/review")
def queue_page(request: Request, user: Operator) -> Response:
    query = parse_queue_query(request.query_params)
    review = _review_desk(request)
    items: list[dict[str, Any]] = []
    total = 0
    if not query.errors:
        items, total = review.review_queue(
            query.review_filter(), limit=query.limit, offset=query.offset
        )
    for item in items:
        item["received"] = clock(item.get("created_at"))
        item["length"] = mmss(item.get("duration"))
        score = item.get("confidence_min")
        item["low"] = score is not None and score < review.low_confidence
        item["taken_by"] = (
            item["reviewer"]
            if item["status"] == CaseStatus.IN_REVIEW and item["reviewer"] != user.name
            else None
        )
    end = query.offset + len(items)
    return render(
        request,
        "review_queue.html",
        user,
        status_code=400 if query.errors else 200,
        title="审核队列 Review queue",
        query=query,
        items=items,
        total=total,
        first=query.offset + 1 if items else 0,
        last=end,
        previous_url=query.url(offset=max(0, query.offset - query.limit))
        if query.offset > 0
        else None,
        next_url=query.url(offset=end) if end < total else None,
        statuses=list(QUEUE_STATUSES),
        options=review.field_options(),
        low_confidence=review.low_confidence,
        notice=_done_notice(request.query_params),
    )


@router.get("/review/_places")
def places(request: Request, _user: Operator, district: str = "") -> Response:
    """The streets of a district, each with its communities (the form's cascading choices)."""
    if district not in DISTRICTS:
        return JSONResponse({"detail": "district: not one of the 16 districts"}, 422)
    tree = _review_desk(request).field_options()["communities"][district]
    response = JSONResponse(tree)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@router.get("/review/{call_id}")
def case_page(call_id: str, request: Request, user: Operator) -> Response:
    review = _review_desk(request)
    try:
        view = review.open_case(_checked_call_id(call_id), actor=user.name)
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err
    return _render_case(
        request,
        user,
        review,
        view,
        values=display_values(view["fields"]),
        notice=_done_notice(request.query_params),
    )


@router.post("/review/{call_id}/confirm")
async def confirm(call_id: str, request: Request, user: Operator) -> Response:
    _checked_call_id(call_id)
    form = await _read_form(request)
    verify_csrf_form(request, form)
    revision = _revision(form)
    raw = {spec.name: _text(form, spec.name) for spec in FIELD_SPECS if spec.name in form}
    review = _review_desk(request)
    current = _current(request, call_id)
    posted = {**display_values(current["fields"]), **raw}
    try:
        values = parse_values(raw)
        edits = {k: v for k, v in values.items() if v != current["fields"].get(k)}
        review.confirm(call_id, edits, actor=user.name, revision=revision)
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err
    except CaseStateConflict:
        return _conflict(request, user, review, call_id, values=posted, revision=revision)
    except ValueError as err:
        return _render_case(
            request,
            user,
            review,
            current,
            values=posted,
            revision=revision,
            error=str(err),
            status_code=422,
        )
    return RedirectResponse(_after_decision(review, call_id, user, "confirmed"), 303)


@router.post("/review/{call_id}/reject")
async def reject(call_id: str, request: Request, user: Operator) -> Response:
    _checked_call_id(call_id)
    form = await _read_form(request)
    verify_csrf_form(request, form)
    revision = _revision(form)
    reason = _text(form, "reason").replace("\r\n", "\n")
    review = _review_desk(request)
    try:
        review.reject(call_id, reason, actor=user.name, revision=revision)
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err
    except CaseStateConflict:
        current = _current(request, call_id)
        return _conflict(
            request,
            user,
            review,
            call_id,
            values=display_values(current["fields"]),
            revision=revision,
            reason=reason,
        )
    except ValueError as err:
        current = _current(request, call_id)
        return _render_case(
            request,
            user,
            review,
            current,
            values=display_values(current["fields"]),
            revision=revision,
            error=str(err),
            reason=reason,
            status_code=422,
        )
    return RedirectResponse(_after_decision(review, call_id, user, "rejected"), 303)


async def _read_form(request: Request) -> FormData:
    return await request.form(
        max_files=0, max_fields=_MAX_FORM_FIELDS, max_part_size=_MAX_FORM_PART
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise HTTPException(400, f"{name}: must be text, not a file")
    return value


def _revision(form: FormData) -> int:
    value = _text(form, "revision")
    if not value.isdigit() or len(value) > 9:
        raise HTTPException(400, "revision: missing or not a number; reload the case")
    return int(value)


def _current(request: Request, call_id: str) -> dict[str, Any]:
    try:
        return _store(request).case_detail(call_id)
    except CaseNotFound as err:
        raise HTTPException(404, str(err)) from err


def _conflict(
    request: Request,
    user: PageUser,
    review: ReviewDesk,
    call_id: str,
    *,
    values: Mapping[str, str],
    revision: int,
    reason: str = "",
) -> Response:
    """The case as it is now, the operator's unsaved values still in the form, and who
    changed it. The form keeps the revision they had, so sending it again conflicts again."""
    current = _current(request, call_id)
    who = _last_changed_by(current) or "someone"
    now = (
        f" (it is {current['status']} now)"
        if current["status"] in (CaseStatus.CONFIRMED, CaseStatus.REJECTED)
        else ""
    )
    message = f"{who} changed this case while you were editing{now}; reload to see their changes"
    log.info("call %s: review conflict at revision %d", call_id, revision)
    return _render_case(
        request,
        user,
        review,
        current,
        values=values,
        revision=revision,
        conflict=message,
        reason=reason,
        status_code=409,
    )


def _last_changed_by(view: Mapping[str, Any]) -> str | None:
    for event in reversed(view.get("history") or []):
        if not str(event.get("action") or "").startswith("qa-"):
            return str(event.get("actor"))
    return None


def _after_decision(review: ReviewDesk, call_id: str, user: PageUser, done: str) -> str:
    """The next case waiting that nobody else has taken, or the queue; with a notice."""
    notice = urlencode({"done": done, "prev": call_id})
    items, _ = review.review_queue(ReviewFilter(), limit=_NEXT_CANDIDATES)
    for item in items:
        free = item["status"] == CaseStatus.AUTO_FILLED or item["reviewer"] in (None, user.name)
        if item["call_id"] != call_id and free:
            return f"/review/{item['call_id']}?{notice}"
    return f"/review?{notice}"


def _done_notice(params: Mapping[str, str]) -> dict[str, str] | None:
    done = params.get("done") or ""
    prev = params.get("prev") or ""
    if done not in _DONE or not is_call_id(prev):
        return None
    return {"call_id": prev, "text": _DONE[done]}


def _render_case(
    request: Request,
    user: PageUser,
    review: ReviewDesk,
    view: Mapping[str, Any],
    *,
    values: Mapping[str, str],
    revision: int | None = None,
    notice: dict[str, str] | None = None,
    error: str | None = None,
    conflict: str | None = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    error_field = error.split(":", 1)[0] if error and ":" in error else None
    options = review.field_options()
    district = values.get("district", "")
    street = values.get("street", "")
    communities: dict[str, list[str]] = options["communities"].get(district, {})
    decided = view["status"] in (CaseStatus.CONFIRMED, CaseStatus.REJECTED)
    taken_by = (
        view.get("reviewer")
        if view["status"] == CaseStatus.IN_REVIEW and view.get("reviewer") != user.name
        else None
    )
    segments = view["transcript"]["segments"]
    return render(
        request,
        "review_case.html",
        user,
        status_code=status_code,
        title=f"审核 {view['call_id']}",
        case=view,
        rows=field_rows(
            view, values, low_confidence=review.low_confidence, error_field=error_field
        ),
        revision=view["revision"] if revision is None else revision,
        decided=decided,
        taken_by=taken_by,
        notice=notice,
        error=error,
        conflict=conflict,
        reason=reason,
        reject_open=bool(reason) or (error or "").startswith("reason:"),
        metadata=_metadata_rows(view.get("metadata") or {}),
        lines=[
            {
                **s,
                "time": mmss(s.get("start")),
                "low": isinstance(s.get("confidence"), int | float)
                and s["confidence"] < review.low_confidence,
            }
            for s in segments
        ],
        history=history_rows(view.get("history") or []),
        received=clock(view.get("created_at")),
        length=mmss(view["transcript"].get("duration")),
        low_confidence=review.low_confidence,
        options=options,
        street_choices=options["streets"].get(district, []),
        community_choices=communities.get(street, []),
        client_options={
            "streets": options["streets"],
            "communities": {district: communities} if district else {},
            "placesUrl": "/review/_places",
        },
        max_text=MAX_TEXT_CHARS,
    )


_MAX_METADATA_ITEMS = 30
_MAX_METADATA_CHARS = 200


def _metadata_rows(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The call's metadata as (key, text) pairs, bounded for display."""
    rows = []
    for key, value in list(metadata.items())[:_MAX_METADATA_ITEMS]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        rows.append((str(key)[:64], text[:_MAX_METADATA_CHARS]))
    return rows
